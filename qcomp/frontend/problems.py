"""Collecting the nodes an import cannot convert, reported by root cause.

A node that cannot be imported (an op qcomp does not support, an attribute it does not support, a
fold that fails) is a root cause. Its outputs are blocked, and so is everything computed from them:
those dependent nodes are not converted and not listed one by one (a `Shape` of a blocked value is
not "an unsupported Shape"), only counted, per root cause and in total. A dependent node is itself
a root cause only when it would fail whatever its blocked inputs held: its attributes are not
supported, or its op is not supported and at least one blocked input would have been a run-time
value (when all its inputs would have been constants, as behind a `Shape`, it would have folded).

So the UnsupportedModelError lists exactly the nodes to change, each with its name and op, plus how
many nodes after it could not be imported because of it.
"""
from __future__ import annotations

from collections import Counter

import onnx


class Problems:
    def __init__(self) -> None:
        self.roots: list[str] = []               # "node 'x' (Op, ...): reason"
        self._blocked: dict[str, frozenset[int]] = {}   # value -> indices of the roots it depends on
        self._would_be_const: set[str] = set()   # blocked values that would have been constants
        self._per_root: Counter[int] = Counter()
        self.dependents = 0

    def __bool__(self) -> bool:
        return bool(self.roots)

    def is_blocked(self, value: str) -> bool:
        return value in self._blocked

    def blocked_inputs(self, node: onnx.NodeProto) -> list[str]:
        return [i for i in node.input if i in self._blocked]

    def would_be_const(self, node: onnx.NodeProto, known_const) -> bool:
        """Whether every input of `node` would have been a constant (`known_const(name)` for the
        inputs that are not blocked)."""
        return all(not i or (i in self._would_be_const if i in self._blocked else known_const(i))
                   for i in node.input)

    def root(self, node: onnx.NodeProto, where: str, reasons: list[str]) -> None:
        """`node` cannot be imported for `reasons`; its outputs are blocked."""
        k = len(self.roots)
        self.roots.append(f"{where}: {'; '.join(reasons)}")
        self._block(node, self._roots_of(node) | {k}, const=False)

    def dependent(self, node: onnx.NodeProto, const: bool) -> None:
        """`node` reads a blocked value and is not converted; `const`: its outputs would have been
        constants (it would have folded)."""
        roots = self._roots_of(node)
        self._per_root.update(roots)
        self.dependents += 1
        self._block(node, roots, const)

    def _roots_of(self, node: onnx.NodeProto) -> frozenset[int]:
        return frozenset().union(*(self._blocked[i] for i in node.input if i in self._blocked))

    def _block(self, node: onnx.NodeProto, roots: frozenset[int], const: bool) -> None:
        for o in node.output:
            if o:
                self._blocked[o] = roots
                if const:
                    self._would_be_const.add(o)

    def message(self, source: str, supported_ops: tuple[str, ...]) -> str:
        n = len(self.roots)
        lines = []
        for k, text in enumerate(self.roots):
            d = self._per_root[k]
            lines.append(text + (f" ({d} node{'s' if d > 1 else ''} after it depend{'s' if d == 1 else ''} on it "
                                 f"and could not be imported)" if d else ""))
        tail = ""
        if self.dependents:
            many = self.dependents > 1
            tail = (f"\n{self.dependents} more node{'s' if many else ''} could not be imported only because "
                    f"{'they depend' if many else 'it depends'} on {'these' if n > 1 else 'this one'}; "
                    f"{'they need no change of their own' if many else 'it needs no change of its own'}.")
        return (f"{source}: {n} node{'s' if n > 1 else ''} cannot be imported:\n  " + "\n  ".join(lines) + tail
                + f"\nqcomp imports these ONNX ops: {', '.join(supported_ops)} (other ops fold when all their "
                f"inputs are constants). Re-export the model without the listed ops or attributes (other "
                f"exporter options or opset), or replace them with supported ops.")
