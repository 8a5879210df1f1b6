"""Compose a chain of int8 lookup tables into one: Lut(Lut(x, t1), t2) -> Lut(x, t).

  %y = Lut(%x, %t1)                      y: int8, read by the second Lut only
  %z = Lut(%y, %t2)
    ->
  %z = Lut(%x, %t)        t[i] = t2[t1[i] + 128]   (i in [0, 255])

Exact: Lut is y = t1[x + 128], so z = t2[y + 128] = t2[t1[x + 128] + 128] = t[x + 128] for every
int8 x; the composed table holds the integers the pair computes, element for element, on every
backend and on the reference. What it saves is a node and a pass over the tensor: a token model's
GELU, exported as x * 0.5 * (1 + erf(x / sqrt(2))), quantizes to Lut(Div) -> Lut(Erf) -> Lut(Add)
before the Mul by x, three table passes over [S, 4H] where one does.

Chains of any length fold, front to back (each step composes the running table with the next).
What does not fuse (why_not_fusable gives the reason): an intermediate that is a graph output or
has other readers (it must still exist for them), or a table that is not a constant.
Where it runs: TARGET stage, on the backends whose fusions include it (builder.BACKEND_FUSIONS), before
plan_memory.
"""
from __future__ import annotations

import numpy as np

from ..ir import Graph, Node, qops
from .pipeline import each_node


def why_not_fusable(g: Graph, lut: Node, producers: dict, consumers: dict) -> str | None:
    """None when the Lut `lut` reads another Lut's output that fuses into it, else why not."""
    if type(lut.op) is not qops.Lut:
        return f"{lut.name!r} is a {lut.kind}, not a Lut"
    y = lut.inputs[0]
    first = producers.get(y)
    if first is None or type(first.op) is not qops.Lut:
        return f"operand {y!r} is not a Lut output"
    if y in g.outputs or len(consumers.get(y, [])) != 1:
        return f"{y!r} has {len(consumers.get(y, []))} readers{' and is a graph output' if y in g.outputs else ''}"
    if first.inputs[1] not in g.constants or lut.inputs[1] not in g.constants:
        return "a table is not a constant"
    return None


def compose(t1: np.ndarray, t2: np.ndarray) -> np.ndarray:
    """t[i] = t2[t1[i] + 128]: the table of Lut(Lut(x, t1), t2)."""
    return np.asarray(t2, np.int8)[np.asarray(t1, np.int64) + 128]


def fuse_lut_chain(g: Graph) -> Graph:
    producers, consumers = g.producers(), g.consumers()
    fused = {id(n) for n in each_node(g.nodes) if why_not_fusable(g, n, producers, consumers) is None}
    if not fused:
        return g
    out = g.copy()
    out.memory = None
    # head[id(lut)]: (x, table) of the composed chain ending at that Lut
    head: dict[int, tuple[str, np.ndarray]] = {}
    nodes, dropped = [], set()
    for old, n in zip(g.nodes, out.nodes):
        if type(old.op) is qops.Lut:
            table = np.asarray(g.constants[old.inputs[1]], np.int8) if old.inputs[1] in g.constants else None
            if id(old) in fused:
                first = producers[old.inputs[0]]
                x, t1 = head[id(first)]
                dropped.add(id(first))
                head[id(old)] = (x, compose(t1, table))
            elif table is not None:
                head[id(old)] = (old.inputs[0], table)
        nodes.append((old, n))
    result = []
    for old, n in nodes:
        if id(old) in dropped:
            continue
        if id(old) in fused:
            x, table = head[id(old)]
            name = out.add_constant(f"{old.inputs[1]}.composed", table, g.types[old.inputs[1]].quant)
            n = Node(old.name, qops.Lut(), (x, name), old.outputs)
        result.append(n)
    out.nodes = result
    out.prune()
    return out
