"""Merge the DynamicDense nodes that read the same activation into one DynamicDenseSplit, which
quantizes the activation once.

  %q = DynamicDense(%x, %wq, %bq, %sq) {act_min, act_max}
  %k = DynamicDense(%x, %wk, %bk, %sk) {act_min, act_max}          every w, b, w_scale a constant;
  %v = DynamicDense(%x, %wv, %bv, %sv) {act_min, act_max}          the same clamp, n channels each
    ->
  %q, %k, %v = DynamicDenseSplit(%x, [%wq; %wk; %wv], [%bq; %bk; %bv], [%sq; %sk; %sv]) {parts: 3, act_min, act_max}

The algebra (qcomp/ir/qops_split.py): a DynamicDense's quantization of x is per tensor, from x's own
min and max, so (s_x, zp_x) and q are the same for every DynamicDense of x; stacking the weights
along N stacks the outputs' columns, and the split gives each node's output back element for element
(the same int32 sums, the same float32 factor and bias per channel). What the merge saves: P - 1 of
the P min/max passes and quantize-and-pack passes over x, and P - 1 fork-joins of each (attention's
query, key and value: 2 of 3), and the GEMM runs over P n channels at once.

Groups: the DynamicDense nodes reading one x, in graph order, with equal clamps and equal n, where n
is a multiple of SPLIT_ALIGN (16: the widest channel block of the llvm kernels, whose epilogue writes
each block into one part; every narrower block width divides it). The merged node takes the first
node's place and name (every input of the group is x and constants, which exist before it).

Where it runs: llvm builds (builder.BACKEND_FUSIONS), after fold_dynamic_bias (so the Q/K/V bias Adds
have folded into their DynamicDense first). why_not_shared gives the reason for every DynamicDense that
joins no group.
"""
from __future__ import annotations

import numpy as np

from ..ir import Graph, Node, QuantParams, qops
from ..ir.qops_split import SPLIT_ALIGN, DynamicDenseSplit
from .pipeline import each_node


def _key(g: Graph, n: Node) -> tuple | str:
    """The group key of a DynamicDense (its x, clamp and channel count), or why it joins none."""
    if type(n.op) is not qops.DynamicDense:
        return f"{n.name!r} is a {n.kind}, not a DynamicDense"
    missing = [v for v in n.inputs[1:] if v not in g.constants]
    if missing:
        return f"{n.name!r} reads {missing[0]!r}, not a constant"
    q = g.types[n.inputs[1]].quant
    if q is not None and q.axis not in (None, 0):
        return f"{n.name!r} has weights quantized along axis {q.axis}, not per output channel"
    ch = g.types[n.outputs[0]].shape[-1]
    if ch % SPLIT_ALIGN:
        return f"{n.name!r} has {ch} output channels, not a multiple of {SPLIT_ALIGN}"
    return (n.inputs[0], n.op.act_min, n.op.act_max, ch)


def _groups(g: Graph) -> tuple[list[list[Node]], dict[int, str]]:
    """(the groups of two nodes or more, in graph order; why each other DynamicDense joins none)."""
    by_key: dict[tuple, list[Node]] = {}
    why: dict[int, str] = {}
    for n in each_node(g.nodes):
        key = _key(g, n)
        if isinstance(key, str):
            why[id(n)] = key
        else:
            by_key.setdefault(key, []).append(n)
    groups = []
    for (x, lo, hi, ch), members in by_key.items():
        if len(members) > 1:
            groups.append(members)
        else:
            why[id(members[0])] = (f"{members[0].name!r} is the only DynamicDense of {x!r} with {ch} channels "
                                   f"and clamp ({lo}, {hi})")
    return groups, why


def why_not_shared(g: Graph, node: Node) -> str | None:
    """None when `node` joins a group that shares its quantized input, else why not."""
    if type(node.op) is not qops.DynamicDense:
        return f"{node.name!r} is a {node.kind}, not a DynamicDense"
    return _groups(g)[1].get(id(node))


def _stacked(g: Graph, out: Graph, members: list[Node], slot: int, what: str) -> str:
    """A new constant: input `slot` of every member stacked along the first axis, with the weights'
    quant params (per output channel, axis 0) stacked alike."""
    names = [n.inputs[slot] for n in members]
    quant = None
    if any(g.types[v].quant is not None for v in names):     # the int8 weights (every int8 value has params)
        scales, zero_points = [], []
        for v in names:
            q, rows = g.types[v].quant, (g.types[v].shape[0],)
            scales.append(np.broadcast_to(q.scale, rows))
            zero_points.append(np.broadcast_to(q.zero_point, rows))
        quant = QuantParams(np.concatenate(scales), np.concatenate(zero_points), 0)
    return out.add_constant(f"{members[0].name}/{what}_stacked",
                            np.concatenate([g.constants[v] for v in names], axis=0), quant)


def share_dynamic_input(g: Graph) -> Graph:
    groups, _ = _groups(g)
    if not groups:
        return g
    out = g.copy()
    out.memory = None
    first = {id(m[0]): m for m in groups}
    gone = {id(n) for m in groups for n in m[1:]}
    nodes = []
    for old, n in zip(g.nodes, out.nodes):
        if id(old) in gone:
            continue
        if id(old) in first:
            members = first[id(old)]
            op = DynamicDenseSplit(len(members), old.op.act_min, old.op.act_max)
            stacked = (_stacked(g, out, members, i, w) for i, w in ((1, "w"), (2, "b"), (3, "w_scale")))
            inputs = (old.inputs[0], *stacked)
            n = Node(old.name, op, inputs, tuple(o for m in members for o in m.outputs))
        nodes.append(n)
    out.nodes = nodes
    out.prune()
    return out
