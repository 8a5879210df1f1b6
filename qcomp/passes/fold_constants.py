"""Evaluate nodes whose inputs are all constants, at compile time, with the float reference.

  op(c0, c1, ...) -> constant            (float nodes only; integer nodes are the quantizer's)

Weights stored behind transposes, reshapes, casts or arithmetic in the model become plain
constants, so later passes see weights where they expect them.
"""
from __future__ import annotations

from ..ir import Graph, Node
from ..ref import run_float


def _evaluate(g: Graph, n: Node) -> list:
    mini = Graph(name=f"fold_{n.name}")
    for i in n.inputs:
        if i not in mini.constants:
            mini.constants[i] = g.constants[i]
            mini.types[i] = g.types[i]
    for o in n.outputs:
        mini.types[o] = g.types[o]
    mini.nodes = [Node(n.name, n.op, n.inputs, n.outputs)]
    mini.outputs = list(n.outputs)
    result = run_float(mini, {})
    return [result[o] for o in n.outputs]


def fold_constants(g: Graph) -> Graph:
    foldable = [n for n in g.nodes if n.inputs and all(g.is_constant(i) for i in n.inputs)
                and all(g.types[o].quant is None for o in n.outputs)]
    if not foldable:
        return g
    out = g.copy()
    for n in out.nodes:
        if not (n.inputs and all(out.is_constant(i) for i in n.inputs)):
            continue
        if any(out.types[o].quant is not None for o in n.outputs):
            continue
        for o, value in zip(n.outputs, _evaluate(out, n)):
            arr = value.astype(out.types[o].dtype.np, copy=True)
            arr.flags.writeable = False
            out.constants[o] = arr
        n.outputs = ()  # marks the node as folded
    out.nodes = [n for n in out.nodes if n.outputs]
    out.prune()
    return out
