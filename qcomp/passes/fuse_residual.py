"""Fuse a QConv2D into the QAdd that reads it (a residual connection): one QConv2DAdd node.

  %c = QConv2D(%x, %w, %bias, %mult, %shift) {conv}           c: int8, read by the QAdd only
  %y = QAdd(%c, %r) {add}                                     (or QAdd(%r, %c))
    ->
  %y = QConv2DAdd(%x, %w, %bias, %mult, %shift, %r) {conv, add with c as operand a}

The arithmetic is the pair's, integer for integer (qcomp/ir/qops.py QConv2DAdd):
  c = requantize(acc, m[o], e[o], zp_c, conv_qmin, conv_qmax)
  y = clamp(requantize(mbqm((c - zp_c) << 20, m_a, e_a) + mbqm((r - zp_r) << 20, m_b, e_b), m_out, e_out,
            zp_out), qmin, qmax)
add_int8 is symmetric in its operands (a_scaled + b_scaled), so QAdd(%r, %c) fuses with its a and b
parameters swapped, exactly. What the fusion saves is memory traffic and a node: the conv's int8
output c is never stored and loaded again, and the Add's loop (on one thread) disappears: the llvm
backend computes the Add in the conv's GEMM jobs, on each output tile right after the micro-kernel
stored it, while it is in L1 (codegen/llvm/kernels_residual.py).

Where it runs: only on backends that emit QConv2DAdd (builder.target_passes: llvm). Every other
backend, and the `ref` target, run the unfused pair; the fused graph runs on the reference
interpreter too (tests compare both with exact equality). It runs before plan_memory, which then
plans the fused node: its output never shares bytes with its inputs, which the epilogue reads
while it writes.

What does not fuse (why_not_fusable gives the reason): a QSub or QMul; an Add whose conv operand is
a graph output or has other readers (c must exist for them); operands of different shapes (a
broadcasting Add); the same value on both sides; an Add whose operand a zero point differs from the
conv's output zero point (cannot happen after lower_integer; checked all the same). Where both
operands are fusable QConv2D outputs, the later conv fuses (the earlier one's output is then the
residual, already computed).
"""
from __future__ import annotations

from ..ir import Graph, Node, qops
from .pipeline import each_node

_SWAP = {"a_multiplier": "b_multiplier", "a_shift": "b_shift", "b_multiplier": "a_multiplier",
         "b_shift": "a_shift", "a_zero_point": "b_zero_point", "b_zero_point": "a_zero_point"}


def why_not_fusable(g: Graph, add: Node, side: int, producers: dict, consumers: dict) -> str | None:
    """None when operand `side` (0: a, 1: b) of the QAdd `add` is a QConv2D output that fuses, else why not."""
    if type(add.op) is not qops.QAdd:
        return f"{add.name!r} is a {add.kind}, not a QAdd"
    c, r = add.inputs[side], add.inputs[1 - side]
    conv = producers.get(c)
    if conv is None or type(conv.op) is not qops.QConv2D:
        return f"operand {c!r} is not a QConv2D output"
    if c == r:
        return f"both operands are {c!r}"
    if c in g.outputs or len(consumers.get(c, [])) != 1:
        return f"{c!r} has {len(consumers.get(c, []))} readers{' and is a graph output' if c in g.outputs else ''}"
    if g.types[c].shape != g.types[r].shape:
        return f"operands of shapes {g.types[c].shape} and {g.types[r].shape} broadcast"
    zp = add.op.a_zero_point if side == 0 else add.op.b_zero_point
    if zp != conv.op.output_zero_point:
        return f"the Add reads {c!r} with zero point {zp}, the conv writes it with {conv.op.output_zero_point}"
    return None


def fused_op(conv: qops.QConv2D, add: qops.QAdd, side: int) -> qops.QConv2DAdd:
    """The QConv2DAdd of `conv` feeding operand `side` of `add` (parameters swapped for side 1)."""
    attrs = add.attrs()
    if side == 1:
        attrs = {_SWAP.get(k, k): v for k, v in attrs.items()}
    del attrs["a_zero_point"]   # the conv's output zero point
    return qops.QConv2DAdd(strides=conv.strides, pads=conv.pads, dilations=conv.dilations, group=conv.group,
                           input_zero_point=conv.input_zero_point, conv_zero_point=conv.output_zero_point,
                           conv_qmin=conv.qmin, conv_qmax=conv.qmax, **attrs)


def fuse_residual(g: Graph) -> Graph:
    producers, consumers = g.producers(), g.consumers()
    order = {id(n): i for i, n in enumerate(g.nodes)}
    plan: dict[int, tuple[Node, Node, int]] = {}   # id(add) -> (add, conv, side)
    for n in each_node(g.nodes):
        sides = [s for s in (0, 1) if why_not_fusable(g, n, s, producers, consumers) is None]
        if sides:
            side = max(sides, key=lambda s: order[id(producers[n.inputs[s]])])
            plan[id(n)] = (n, producers[n.inputs[side]], side)
    if not plan:
        return g
    out = g.copy()
    out.memory = None
    fused_convs = {id(conv) for _, conv, _ in plan.values()}
    nodes = []
    for old, n in zip(g.nodes, out.nodes):
        if id(old) in fused_convs:
            continue
        if id(old) in plan:
            add, conv, side = plan[id(old)]
            n = Node(conv.name, fused_op(conv.op, add.op, side), (*conv.inputs, add.inputs[1 - side]), add.outputs)
        nodes.append(n)
    out.nodes = nodes
    out.prune()
    return out
