"""Emitters of the --quant dynamic ops: DynamicDense and DynamicMatMul (float in, float out).

Each float activation operand takes two launches: fixedpoint.dynamic_quant_params (one block,
shared-memory min/max reduction, then scalar float32 steps in the spec's order) writing
(scale, zero point) to kernel-private workspace, and quantize() into an int8 scratch copy. Then the
product kernel: int32 accumulation of centred values, float32(acc) * float32(scale product)
(+ bias for dense), each step one IEEE float32 rounding (__fmul_rn / __fadd_rn: no FMA), and the
fused clamp. Bit-exact to qcomp/ref (qcomp.ref.integer_kernels.dynamic_dense / dynamic_matmul).
"""
from __future__ import annotations

import numpy as np

from ...ir import Node, qops
from ...protocol import Emitter
from .context import BLOCK, Arg, Context, grid_1d
from .emit_compute import _batch_strides, matmul_dims, why_not_matmul


def _float(v) -> str | None:
    if v is None:
        return None
    f = np.float32(v)
    if np.isinf(f):
        return None  # an infinite bound clamps nothing
    return f"{float(f):.9e}f"


def _quantized(ctx: Context, node: Node, value: str, what: str) -> tuple[Arg, Arg]:
    """(int8 copy, params) of the float value `value`, by two launches."""
    total = ctx.graph.types[value].size
    params = ctx.scratch(8, "float")
    q = ctx.scratch(total, "int8_t")
    name = ctx.kernel_name(node, "_params")
    src = ctx.env.get_template("dynamic.cu.j2").render(kind="params", name=name, node=ctx.comment(node), what=what, total=total)
    ctx.add(node, name, src, (1, 1, 1), (BLOCK, 1, 1), [ctx.value(value), params], shared_bytes=2 * BLOCK * 4)   # lo_s, hi_s: float
    name = ctx.kernel_name(node, "_quantize")
    src = ctx.env.get_template("dynamic.cu.j2").render(kind="quantize", name=name, node=ctx.comment(node), total=total)
    ctx.add(node, name, src, grid_1d(total), (BLOCK, 1, 1), [ctx.value(value), params, q])
    return q, params


def dynamic_dense(node: Node, ctx: Context) -> None:
    op: qops.DynamicDense = node.op
    g = ctx.graph
    x, w, b, w_scale = node.inputs
    n, k = g.types[w].shape
    total = g.types[node.outputs[0]].size
    q, params = _quantized(ctx, node, x, "x")
    name = ctx.kernel_name(node)
    src = ctx.env.get_template("dynamic.cu.j2").render(kind="dense", name=name, node=ctx.comment(node), total=total, N=n, K=k,
                                                   act_min=_float(op.act_min), act_max=_float(op.act_max))
    ctx.add(node, name, src, grid_1d(total), (BLOCK, 1, 1),
            [q, params, ctx.value(w), ctx.value(b), ctx.value(w_scale), ctx.value(node.outputs[0])])


def dynamic_matmul(node: Node, ctx: Context) -> None:
    op: qops.DynamicMatMul = node.op
    g = ctx.graph
    a_shape, b_shape, out, m, k, n, batch = matmul_dims(ctx, node)
    qa, pa = _quantized(ctx, node, node.inputs[0], "a")
    qb, pb = _quantized(ctx, node, node.inputs[1], "b")
    total = int(np.prod(out))
    name = ctx.kernel_name(node)
    src = ctx.env.get_template("dynamic.cu.j2").render(
        kind="matmul", name=name, node=ctx.comment(node), total=total, M=m, N=n, K=k, batch=batch,
        a_strides=_batch_strides(a_shape[:-2], batch, m * k), b_strides=_batch_strides(b_shape[:-2], batch, k * n),
        act_min=_float(op.act_min), act_max=_float(op.act_max))
    ctx.add(node, name, src, grid_1d(total), (BLOCK, 1, 1), [qa, pa, qb, pb, ctx.value(node.outputs[0])])


EMITTERS = {qops.DynamicDense: dynamic_dense,
            qops.DynamicMatMul: Emitter(dynamic_matmul, why_not_matmul)}
