"""Graph: values, constants, nodes, inputs and outputs of one model at one stage.

A graph is a list of nodes in topological order over named values. Every value (graph input,
constant, node output) has a TensorType in `types`. Constants hold read-only numpy arrays.
Node and value names come from the ONNX model where it had them, so errors and reports can
name what the user knows; `unique_name` makes new ones.

Passes treat graphs as values: `copy()` gives a graph whose containers may be changed without
touching the original (arrays are shared, they are read-only; so is the memory plan, which the
verifier re-checks against whatever the copy becomes).
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, field

import numpy as np

from typing import TYPE_CHECKING

from .ops import Op, output_count
from .types import IRError, TensorType, tensor_type_of

if TYPE_CHECKING:
    from .memory import MemoryPlan


class Stage(enum.IntEnum):
    FLOAT = 0       # after import: float compute, no quant params anywhere
    QUANTIZED = 1   # quant params on the int8 region, explicit Quantize/Dequantize/Requantize
    TARGET = 2      # integer-only attributes, packed weights, memory offsets


@dataclass(eq=False)
class Node:
    name: str
    op: Op
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]

    @property
    def kind(self) -> str:
        return self.op.kind

    def __repr__(self) -> str:
        return f"Node({self.name!r}, {self.kind}, {self.inputs} -> {self.outputs})"


@dataclass(eq=False)
class Graph:
    name: str = "model"
    stage: Stage = Stage.FLOAT
    inputs: list[str] = field(default_factory=list)
    outputs: list[str] = field(default_factory=list)
    types: dict[str, TensorType] = field(default_factory=dict)
    constants: dict[str, np.ndarray] = field(default_factory=dict)
    nodes: list[Node] = field(default_factory=list)
    meta: dict[str, str] = field(default_factory=dict)
    memory: "MemoryPlan | None" = None   # TARGET stage, set by plan_memory (qcomp/ir/memory.py)
    # unique_node_name's cache: (the node list it read, how many of its nodes, their names, and per
    # base name the first suffix not known to be taken)
    _node_names: "tuple[list, int, set[str], dict[str, int]] | None" = field(default=None, repr=False,
                                                                             compare=False)
    # unique_name's cache: (the types dict it read, its size then, per base the first suffix not known taken)
    _value_suffixes: "tuple[dict, int, dict[str, int]] | None" = field(default=None, repr=False, compare=False)

    # ---- building ----------------------------------------------------------------------------
    def unique_name(self, base: str) -> str:
        """A value name not used yet (value and node names are separate namespaces): base, else
        base_i with the first free i. Where each base's search stopped is kept while the types
        only grow (the same dict, no fewer entries), so a thousand values named alike cost linear
        time, not quadratic."""
        if base not in self.types:
            return base
        cache = self._value_suffixes
        if cache is None or cache[0] is not self.types or cache[1] > len(self.types):
            cache = (self.types, 0, {})
        tried = cache[2]
        i = tried.get(base, 1)
        while f"{base}_{i}" in self.types:
            i += 1
        tried[base] = i
        self._value_suffixes = (self.types, len(self.types), tried)
        return f"{base}_{i}"

    def unique_node_name(self, base: str) -> str:
        """A node name not used yet: base, else base_i with the first free i. The names seen are kept
        between calls (an importer adds thousands of nodes: rebuilding the set each time is
        quadratic), and so is where each base's search for a free suffix stopped; nodes appended
        to the list since are added, a list replaced or shortened is read again."""
        cache = self._node_names
        if cache is None or cache[0] is not self.nodes or cache[1] > len(self.nodes):
            cache = (self.nodes, 0, set(), {})
        names, tried = cache[2], cache[3]
        names.update(n.name for n in self.nodes[cache[1]:])
        self._node_names = (self.nodes, len(self.nodes), names, tried)
        if base not in names:
            return base
        i = tried.get(base, 1)       # suffixes below i are taken (names only grow until a reset)
        while f"{base}_{i}" in names:
            i += 1
        tried[base] = i
        return f"{base}_{i}"

    def add_input(self, name: str, t: TensorType) -> str:
        if name in self.types:
            raise IRError(f"value {name!r} already exists")
        self.types[name] = t
        self.inputs.append(name)
        return name

    def add_constant(self, name: str, array: np.ndarray, quant=None) -> str:
        name = self.unique_name(name)
        arr = np.array(array, copy=True)
        arr.flags.writeable = False
        self.constants[name] = arr
        self.types[name] = tensor_type_of(arr, quant)
        return name

    def add_node(self, op: Op, inputs, name: str, outputs=None, out_types=None) -> Node:
        """Append a node. Output types are inferred unless given; output names default to the
        node name (with a suffix per extra output). Inputs must already exist."""
        inputs = tuple(inputs)
        for i in inputs:
            if i not in self.types:
                raise IRError(f"node {name!r} ({op.kind}): input {i!r} is not defined")
        if out_types is None:
            try:
                out_types = op.infer([self.types[i] for i in inputs])
            except IRError as e:
                raise IRError(f"node {name!r} ({op.kind}): {e}") from None
        n_out = output_count(op)
        if outputs is None:
            outputs = [name] if n_out == 1 else [f"{name}:{k}" for k in range(n_out)]
        name = self.unique_node_name(name)
        outputs = tuple(self.unique_name(o) for o in outputs)
        if len(outputs) != len(out_types):
            raise IRError(f"node {name!r} ({op.kind}): {len(outputs)} outputs but {len(out_types)} types")
        for o, t in zip(outputs, out_types):
            self.types[o] = t
        node = Node(name, op, inputs, outputs)
        self.nodes.append(node)
        return node

    # ---- queries -----------------------------------------------------------------------------
    def producers(self) -> dict[str, Node]:
        return {o: n for n in self.nodes for o in n.outputs}

    def consumers(self) -> dict[str, list[Node]]:
        cons: dict[str, list[Node]] = {v: [] for v in self.types}
        for n in self.nodes:
            for i in n.inputs:
                cons.setdefault(i, []).append(n)
        return cons

    def node(self, name: str) -> Node:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(f"no node named {name!r}")

    def is_constant(self, value: str) -> bool:
        return value in self.constants

    # ---- transforming ------------------------------------------------------------------------
    def copy(self) -> "Graph":
        return Graph(self.name, self.stage, list(self.inputs), list(self.outputs), dict(self.types),
                     dict(self.constants), [Node(n.name, n.op, n.inputs, n.outputs) for n in self.nodes],
                     dict(self.meta), self.memory)

    def toposort(self) -> None:
        """Reorder nodes topologically (stable: keeps the given order where it is valid)."""
        ready = set(self.inputs) | set(self.constants)
        pending = list(self.nodes)
        ordered: list[Node] = []
        while pending:
            progressed = []
            for n in pending:
                if all(i in ready for i in n.inputs):
                    ordered.append(n)
                    ready.update(n.outputs)
                else:
                    progressed.append(n)
            if len(progressed) == len(pending):
                names = ", ".join(n.name for n in pending[:5])
                raise IRError(f"graph has a cycle or undefined inputs among nodes: {names}")
            pending = progressed
        self.nodes = ordered

    def prune(self) -> None:
        """Drop nodes, constants and types no graph output depends on."""
        needed = set(self.outputs)
        kept = []
        for n in reversed(self.nodes):
            if any(o in needed for o in n.outputs):
                kept.append(n)
                needed.update(n.inputs)
        self.nodes = kept[::-1]
        live = needed | set(self.inputs) | {o for n in self.nodes for o in n.outputs}
        self.constants = {k: v for k, v in self.constants.items() if k in live}
        self.types = {k: v for k, v in self.types.items() if k in live}

    def replace_uses(self, old: str, new: str) -> None:
        """Make every consumer (and graph output) of `old` read `new` instead."""
        for n in self.nodes:
            if old in n.inputs:
                n.inputs = tuple(new if i == old else i for i in n.inputs)
        self.outputs = [new if o == old else o for o in self.outputs]
