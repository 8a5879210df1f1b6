"""Emitters of the float32 products of float-fallback regions (a Conv2D / Dense / MatMul kept in float
with `--skip`, or under `--quant weight`): templates/float_products.cu.j2, direct kernels, one thread
per output, written for correctness rather than speed (a float region is the exception in an int8
model).

  Conv2D   y[n,oh,ow,o] = clamp(sum over taps (kh, kw) inside the input, c < Cg, of
                                x[n, ih, iw, g*Cg + c] * w[o, kh, kw, c]  +  b[o])      g = o // Og
  Dense    y[r, n]      = clamp(sum_k x[r, k] * w[n, k]  +  b[n])
  MatMul   y[bt, m, n]  = clamp(sum_k a[bt, m, k] * b[bt, k, n])   (numpy batch broadcasting)

Every product and sum is one float32 operation (__fmul_rn, __fadd_rn: no fma contraction), k
ascending from 0.0f, the bias added last, then the fused clamp [act_min, act_max] as the
Relu / Clip it replaced. The reference sums through BLAS in its own blocked order, so these agree
with it to float32 rounding, not bit for bit (as the llvm backend's float products,
qcomp/codegen/llvm/kernels_products.py); the Quantize ending the region absorbs that (at most 1 LSB,
ARCHITECTURE.md section 3). Weights and bias may be constants (weights.bin) or values computed at
run time (read where they are).
"""
from __future__ import annotations

import numpy as np

from ...ir import Node, ops
from ...protocol import Emitter
from .context import BLOCK, Context, grid_1d
from .emit_compute import _batch_strides, matmul_dims, why_not_matmul
from .emit_dynamic import _float
from .emit_float import why_not_float


def why_not_matmul_float(node: Node, graph) -> str | None:
    """Float32, operands of rank 2 or more."""
    return why_not_float(node, graph) or why_not_matmul(node, graph)


def _render(ctx: Context, node: Node, total: int, args, **params) -> None:
    """No `macs` on the launch: the roofline counts int8 multiply-accumulates only."""
    op = node.op
    name = ctx.kernel_name(node)
    src = ctx.env.get_template("float_products.cu.j2").render(
        name=name, node=ctx.comment(node), total=total, act_min=_float(op.act_min), act_max=_float(op.act_max),
        **params)
    ctx.add(node, name, src, grid_1d(total), (BLOCK, 1, 1), args)


def conv2d(node: Node, ctx: Context) -> None:
    op: ops.Conv2D = node.op
    g = ctx.graph
    _, h, w, c = g.types[node.inputs[0]].shape
    o, kh, kw, cg = g.types[node.inputs[1]].shape
    y = g.types[node.outputs[0]]
    _, oh, ow, _ = y.shape
    _render(ctx, node, y.size, [ctx.value(v) for v in (*node.inputs, *node.outputs)],
            kind="conv", groups=op.group, H=h, W=w, C=c, Cg=cg, O=o, Og=o // op.group, OH=oh, OW=ow, KH=kh, KW=kw,
            SH=op.strides[0], SW=op.strides[1], DH=op.dilations[0], DW=op.dilations[1], PT=op.pads[0],
            PL=op.pads[1])


def dense(node: Node, ctx: Context) -> None:
    g = ctx.graph
    n, k = g.types[node.inputs[1]].shape
    y = g.types[node.outputs[0]]
    _render(ctx, node, y.size, [ctx.value(v) for v in (*node.inputs, *node.outputs)], kind="dense",
            rows=y.size // n, N=n, K=k)


def matmul(node: Node, ctx: Context) -> None:
    a_shape, b_shape, out, m, k, n, batch = matmul_dims(ctx, node)
    total = int(np.prod(out, dtype=np.int64))
    _render(ctx, node, total, [ctx.value(v) for v in (*node.inputs, *node.outputs)], kind="matmul",
            M=m, K=k, N=n, batch=batch, a_strides=_batch_strides(a_shape[:-2], batch, m * k),
            b_strides=_batch_strides(b_shape[:-2], batch, k * n))


EMITTERS = {ops.Conv2D: Emitter(conv2d, why_not_float), ops.Dense: Emitter(dense, why_not_float),
            ops.MatMul: Emitter(matmul, why_not_matmul_float)}
