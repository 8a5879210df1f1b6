"""Fuse the core of a --quant dynamic attention layer into one DynamicAttention: the head split,
the scores (already one DynamicMatMulScaleAdd, passes/fuse_dynamic_attention.py), their Softmax, the
product with V and the head merge.

  %qt = Transpose(%q, perm 0, 2, 1, 3)        q: f32[B, Sq, H, D]      qt: read by the scores only
  %kt = Transpose(%k, perm 0, 2, 3, 1)        k: f32[B, Sk, H, D]      kt: read by the scores only
  %s  = DynamicMatMulScaleAdd(%qt, %kt, %m) {scores_min, scores_max, scale}
  %p  = Softmax(%s) {axis 3}                                           s: read by the Softmax only
  %vt = Transpose(%v, perm 0, 2, 1, 3)        v: f32[B, Sk, H, Dv]     vt: read by the product only
  %c  = DynamicMatMul(%p, %vt) {context_min, context_max}              p: read by the product only
  %y  = Transpose(%c, perm 0, 2, 1, 3)                                 c: read by the merge only
    ->
  %y  = DynamicAttention(%q, %k, %v, %m) {scores_min, scores_max, scale, context_min, context_max}

as BERT-style exports compute attention after the Q, K and V projections (the Reshapes around them
are views). The value is the sequence's element for element (qcomp/ir/qops_fused.py: the transposes
only move values, so every dynamic quantization sees the same set of values, and each float step
is the unfused node's). What the fusion saves: four Transposes (a load and a store of each of Q, K,
V and the context), a store and two loads of the [B, H, Sq, Sk] scores and probabilities, and five
fork-joins; the llvm backend reads Q, K and V in their [S, H * D] rows and writes the context rows
in place (codegen/llvm/kernels_attention.py).

Where it runs: only on backends that emit DynamicAttention (builder.BACKEND_FUSIONS: llvm), after
fuse_dynamic_attention, before plan_memory; every other backend, and the `ref` target, run the
unfused sequence. Only products the GEMM micro-kernels run fuse (Sk * 255 * 255 <= 2^31 - 1 for
the context product; the scores' product is a DynamicMatMulScaleAdd, which has the bound already).

What does not fuse (why_not_fusable gives the reason): a value inside the chain that is a graph
output or has readers outside it; another permutation of a head split or merge; a Softmax along
another axis; operands whose shapes are not [B, S, H, D] with equal B, H and D (a broadcast batch).
"""
from __future__ import annotations

from .. import fixedpoint
from ..ir import Graph, Node, ops, qops
from ..ir.qops_fused import DynamicAttention, DynamicMatMulScaleAdd
from .fuse_dynamic import _only_reader
from .pipeline import each_node

SPLIT = (0, 2, 1, 3)          # [B, S, H, D] -> [B, H, S, D] (and the merge back: its own inverse)
SPLIT_T = (0, 2, 3, 1)        # [B, S, H, D] -> [B, H, D, S]


def _transpose_from(g: Graph, value: str, perm: tuple, consumers: dict) -> Node | str:
    """The Transpose by `perm` that produces `value`, read by one node and no graph output, else why not."""
    if value in g.outputs:
        return f"{value!r} is a graph output"
    if len(consumers.get(value, [])) != 1:
        return f"{value!r} is read by {len(consumers.get(value, []))} nodes, not by the attention chain alone"
    producer = next((n for n in g.nodes if value in n.outputs), None)
    if producer is None or type(producer.op) is not ops.Transpose or tuple(producer.op.perm) != perm:
        what = "a graph input or constant" if producer is None else f"{producer.kind} {producer.name!r}"
        return f"{value!r} comes from {what}, not from a Transpose with perm {perm}"
    return producer


def match(g: Graph, sa: Node, consumers: dict) -> tuple[list[Node], Node] | str:
    """(the chain's nodes, the merge Transpose ending it) of the pattern around the scores `sa`, or why not."""
    if type(sa.op) is not DynamicMatMulScaleAdd:
        return f"{sa.name!r} is a {sa.kind}, not a DynamicMatMulScaleAdd"
    qt = _transpose_from(g, sa.inputs[0], SPLIT, consumers)
    kt = _transpose_from(g, sa.inputs[1], SPLIT_T, consumers)
    for found in (qt, kt):
        if isinstance(found, str):
            return found
    soft = _only_reader(g, sa.outputs[0], consumers, ops.Softmax)
    if isinstance(soft, str):
        return soft
    if soft.op.axis != g.types[soft.inputs[0]].rank - 1:
        return f"the Softmax {soft.name!r} runs along axis {soft.op.axis}, not the last"
    ctx = _only_reader(g, soft.outputs[0], consumers, qops.DynamicMatMul)
    if isinstance(ctx, str):
        return ctx
    if ctx.inputs[0] != soft.outputs[0]:
        return f"{ctx.name!r} multiplies the probabilities from the right"
    vt = _transpose_from(g, ctx.inputs[1], SPLIT, consumers)
    if isinstance(vt, str):
        return vt
    merge = _only_reader(g, ctx.outputs[0], consumers, ops.Transpose)
    if isinstance(merge, str):
        return merge
    if tuple(merge.op.perm) != SPLIT:
        return f"the merge {merge.name!r} has perm {merge.op.perm}, not {SPLIT}"
    q, k, v = (g.types[t.inputs[0]].shape for t in (qt, kt, vt))
    if k[0] != q[0] or k[2:] != q[2:] or v[:3] != k[:3]:
        return f"q {list(q)}, k {list(k)} and v {list(v)} are not [B, Sq, H, D], [B, Sk, H, D], [B, Sk, H, Dv]"
    if fixedpoint.max_abs_accumulator(k[1], w_max=255, x_span=255) > fixedpoint.INT32_MAX:
        return f"{ctx.name!r} multiplies over K = {k[1]}: too deep for the GEMM form's int32 accumulators"
    return [qt, kt, sa, soft, vt, ctx], merge


def why_not_fusable(g: Graph, sa: Node, consumers: dict) -> str | None:
    """None when the scores `sa` head a fusable attention core, else why not."""
    found = match(g, sa, consumers)
    return found if isinstance(found, str) else None


def fuse_attention(g: Graph) -> Graph:
    consumers = g.consumers()
    plan: dict[int, Node] = {}          # id(merge Transpose) -> its DynamicAttention node
    gone: set[int] = set()
    for n in each_node(g.nodes):
        if type(n.op) is DynamicMatMulScaleAdd:
            found = match(g, n, consumers)
            if isinstance(found, str):
                continue
            (qt, kt, sa, _, vt, ctx), merge = found
            op = DynamicAttention(sa.op.act_min, sa.op.act_max, sa.op.scale, ctx.op.act_min, ctx.op.act_max)
            plan[id(merge)] = Node(sa.name, op, (qt.inputs[0], kt.inputs[0], vt.inputs[0], sa.inputs[2]),
                                   merge.outputs)
            gone.update(id(x) for x in found[0])
    if not plan:
        return g
    out = g.copy()
    out.memory = None
    nodes = []
    for old, n in zip(g.nodes, out.nodes):
        if id(old) in gone:
            continue
        nodes.append(plan.get(id(old), n))
    out.nodes = nodes
    out.prune()
    return out
