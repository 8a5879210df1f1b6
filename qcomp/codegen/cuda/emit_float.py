"""Emitters of float-fallback ops (between a Dequantize and a Quantize): Softmax, LayerNorm,
float32 Add/Sub/Mul/Div (broadcasting, one IEEE rounding each: bit-exact to numpy), Cast to
float32, and Gather (any dtype; token-id embeddings).

These regions are the only place where backends may differ from qcomp/ref, by at most 1 LSB at
the re-quantization point (ARCHITECTURE.md section 3): Softmax sums in float32 in index order
(numpy sums pairwise) and uses the device expf; LayerNorm computes in float64 as the reference.
"""
from __future__ import annotations

import numpy as np

from ... import abi
from ...ir import DType, Node, ops
from ...protocol import Emitter
from .context import BLOCK, Arg, Context, grid_1d


def why_not_float(node: Node, graph) -> str | None:
    """Float32 operands and results only."""
    for v in (*node.inputs, *node.outputs):
        if graph.types[v].dtype is not DType.FLOAT32:
            return f"the cuda backend runs {node.kind} on float32 values only"
    return None


def why_not_layer_norm(node: Node, graph) -> str | None:
    """Float32, constant scale and bias."""
    for p in node.inputs[1:]:
        if p not in graph.constants:
            return f"LayerNorm has a non-constant parameter {p!r}"
    return why_not_float(node, graph)


def why_not_cast(node: Node, graph) -> str | None:
    """Casts to float32 only."""
    if graph.types[node.outputs[0]].dtype is not DType.FLOAT32:
        return "it casts to a type other than float32"
    return None


def softmax(node: Node, ctx: Context) -> None:
    x = ctx.graph.types[node.inputs[0]]
    axis = node.op.axis % x.rank
    length = x.shape[axis]
    stride = int(np.prod(x.shape[axis + 1:]))
    rows = x.size // length
    name = ctx.kernel_name(node)
    src = ctx.env.get_template("float_norm.cu.j2").render(kind="softmax", name=name, node=ctx.comment(node), L=length, S=stride,
                                                      rows=rows)
    ctx.add(node, name, src, grid_1d(rows), (BLOCK, 1, 1), [ctx.value(node.inputs[0]), ctx.value(node.outputs[0])])


def layer_norm(node: Node, ctx: Context) -> None:
    g = ctx.graph
    op: ops.LayerNorm = node.op
    x = g.types[node.inputs[0]]
    norm = x.shape[op.axis:]
    params = []
    for p in node.inputs[1:]:
        params.append(ctx.add_weight(np.broadcast_to(np.asarray(g.constants[p], np.float32), norm).copy()))
    length = int(np.prod(norm))
    rows = x.size // length
    name = ctx.kernel_name(node)
    src = ctx.env.get_template("float_norm.cu.j2").render(kind="layer_norm", name=name, node=ctx.comment(node), L=length,
                                                      rows=rows, eps=repr(float(op.epsilon)))
    ctx.add(node, name, src, grid_1d(rows), (BLOCK, 1, 1),
            [ctx.value(node.inputs[0]), *params, ctx.value(node.outputs[0])])


_BINARY = {ops.Add: "__fadd_rn", ops.Sub: "__fsub_rn", ops.Mul: "__fmul_rn", ops.Div: "__fdiv_rn"}


def binary(node: Node, ctx: Context) -> None:
    from .emit_dynamic import _float
    from .emit_elementwise import _broadcast_strides
    g = ctx.graph
    out = g.types[node.outputs[0]].shape
    total = int(np.prod(out))
    name = ctx.kernel_name(node)
    src = ctx.env.get_template("float_ops.cu.j2").render(
        kind="binary", name=name, node=ctx.comment(node), op=node.op.kind, expr=_BINARY[type(node.op)], total=total,
        dims=list(out) or [1], a_strides=_broadcast_strides(g.types[node.inputs[0]].shape, out) or [0],
        b_strides=_broadcast_strides(g.types[node.inputs[1]].shape, out) or [0],
        act_min=_float(getattr(node.op, "act_min", None)), act_max=_float(getattr(node.op, "act_max", None)))
    ctx.add(node, name, src, grid_1d(total), (BLOCK, 1, 1),
            [ctx.value(node.inputs[0]), ctx.value(node.inputs[1]), ctx.value(node.outputs[0])])


def cast(node: Node, ctx: Context) -> None:
    g = ctx.graph
    x, y = ctx.value(node.inputs[0]), ctx.value(node.outputs[0])
    total = g.types[node.outputs[0]].size
    name = ctx.kernel_name(node)
    src = ctx.env.get_template("float_ops.cu.j2").render(kind="cast", name=name, node=ctx.comment(node), total=total,
                                                     src=x.ctype, dst=y.ctype)
    ctx.add(node, name, src, grid_1d(total), (BLOCK, 1, 1), [x, y])


def gather(node: Node, ctx: Context) -> None:
    g = ctx.graph
    data, indices = g.types[node.inputs[0]], g.types[node.inputs[1]]
    axis = node.op.axis
    total = g.types[node.outputs[0]].size
    d, a, i, y = data.shape[axis], ctx.value(node.inputs[0]), ctx.value(node.inputs[1]), ctx.value(node.outputs[0])
    name = ctx.kernel_name(node)
    src = ctx.env.get_template("float_ops.cu.j2").render(
        kind="gather", name=name, node=ctx.comment(node), total=total, D=d, J=max(indices.size, 1),
        inner=int(np.prod(data.shape[axis + 1:])), ctype=a.ctype, itype=i.ctype,
        bad_input=abi.STATUS_OF["QCOMP_ERR_BAD_INPUT"])
    ctx.add(node, name, src, grid_1d(total), (BLOCK, 1, 1), [a, i, y, Arg("status", 0, "int32_t")])


EMITTERS = {ops.Softmax: Emitter(softmax, why_not_float), ops.LayerNorm: Emitter(layer_norm, why_not_layer_norm),
            **{cls: Emitter(binary, why_not_float) for cls in (ops.Add, ops.Sub, ops.Mul, ops.Div)},
            ops.Cast: Emitter(cast, why_not_cast), ops.Gather: gather}
