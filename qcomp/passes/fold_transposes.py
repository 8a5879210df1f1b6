"""Compose chains of Transposes into one; drop the Transposes that do nothing.

Every Transpose a backend runs is a copy (llvm: a gather through an index table), so two in a row
cost two copies where one suffices, and an identity costs one for nothing:

  Transpose(Transpose(x, p1), p2) == Transpose(x, q),   q[i] = p1[p2[i]]
      (y.shape[i] = t.shape[p2[i]] = x.shape[p1[p2[i]]]; element for element the same)
  Transpose(x, q) == x                                  when q[i] == i for every i

Chains are composed front to back, so a chain of any length becomes one Transpose (or none). The
inner Transpose stays when something else reads its output. An identity whose output is a graph
output becomes a Reshape to the same shape (a view, or one plain copy where the memory plan cannot
alias it) so the output keeps its name. A Transpose only moves values, so the rewrite is exact at
every stage and dtype; it runs on the FLOAT graph, before calibration, so no value it removes is
ever quantized. `passes/fold_reshapes.py` takes what is left: a Transpose that moves only axes of
extent 1, and Reshape/Transpose pairs that cancel.
"""
from __future__ import annotations

from ..ir import Graph, Node, ops
from .pipeline import each_node


def compose(p1: tuple[int, ...], p2: tuple[int, ...]) -> tuple[int, ...]:
    """The perm of Transpose(Transpose(x, p1), p2)."""
    return tuple(p1[i] for i in p2)


def why_not_composable(n: Node, producers: dict[str, Node]) -> str | None:
    """None when n is a Transpose reading another Transpose's output, else why not."""
    if not isinstance(n.op, ops.Transpose):
        return f"{n.kind} is not a Transpose"
    inner = producers.get(n.inputs[0])
    if inner is None:
        return "its input is a graph input or constant"
    if not isinstance(inner.op, ops.Transpose):
        return f"its input comes from a {inner.kind}, not a Transpose"
    return None


def why_not_identity(n: Node) -> str | None:
    """None when n is a Transpose that leaves every axis in place, else why not."""
    if not isinstance(n.op, ops.Transpose):
        return f"{n.kind} is not a Transpose"
    if n.op.perm != tuple(range(len(n.op.perm))):
        return f"perm {n.op.perm} moves an axis"
    return None


def fold_transposes(g: Graph) -> Graph:
    if not any(isinstance(n.op, ops.Transpose) for n in g.nodes):
        return g
    out = g.copy()
    producers = out.producers()
    changed = False
    for n in each_node(list(out.nodes)):
        if why_not_composable(n, producers) is None:   # the inner one is already composed to its root
            inner = producers[n.inputs[0]]
            n.op = ops.Transpose(perm=compose(inner.op.perm, n.op.perm))
            n.inputs = (inner.inputs[0],)
            changed = True
        if why_not_identity(n) is None:
            y, x = n.outputs[0], n.inputs[0]
            if y in out.outputs:
                n.op = ops.Reshape(shape=out.types[y].shape)
            else:
                out.replace_uses(y, x)
            changed = True
    if not changed:
        return g
    out.prune()
    return out
