"""Emitters of the compute kernels: convolutions, dense, matrix products (integer GEMMs).

QConv2D with group 1 or at least 4 input channels per group, and QDense: an implicit GEMM
    acc[m, n] = bias[n] + sum_k A[m, k] * B[n, k]     A: im2col of x (padding = input_zero_point),
                                                       B: OHWI weights as rows of K = KH*KW*C/g int8
with K padded to a multiple of 32 (zero weights, so the padding adds nothing), packed as int32 words
of 4 int8 for __dp4a, and the requantize epilogue fused. Depthwise and narrow grouped convolutions
(C/g < 4) and transposed convolutions run a direct kernel (one thread per output). QMatMul: a
direct kernel with both zero points subtracted (its operands are activations, nothing is packed).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...ir import Node, qops
from ...protocol import Emitter
from .context import BLOCK, Context, grid_1d



@dataclass(frozen=True)
class GemmTile:
    """Every size of conv_gemm.cu.j2, defined here only (the template receives this object).

    A block of threads_x x threads_y threads computes an m x n output tile, K in steps of k bytes
    (words = k / 4 int32 words of 4 int8, rows padded to pitch words: no shared-memory bank
    conflicts). Each thread stages one word of As and one of Bs per step (threads = m * words).
    __dp4a path: each thread owns a sub_m x sub_n sub-tile. Tensor-core path: the warps tile the
    block with mma.sync.m16n8k32 .s8 (mma_m x mma_n x mma_k, fixed by the instruction), warps_n of
    them across n; each lane holds per_thread accumulators, as each __dp4a thread does.
    """
    m: int = 32
    n: int = 32
    k: int = 32
    threads_x: int = 16
    threads_y: int = 16
    mma_m: int = 16
    mma_n: int = 8
    mma_k: int = 32
    warp: int = 32

    words = property(lambda t: t.k // 4)
    pitch = property(lambda t: t.words + 1)
    threads = property(lambda t: t.threads_x * t.threads_y)
    warps = property(lambda t: t.threads // t.warp)
    warps_n = property(lambda t: t.n // t.mma_n)
    sub_m = property(lambda t: t.m // t.threads_y)
    sub_n = property(lambda t: t.n // t.threads_x)
    per_thread = property(lambda t: t.m * t.n // t.threads)
    a_regs = property(lambda t: t.mma_m * t.mma_k // (4 * t.warp))   # int32 registers of a lane's A fragment
    b_regs = property(lambda t: t.mma_n * t.mma_k // (4 * t.warp))
    shared_bytes = property(lambda t: (t.m + t.n) * t.pitch * 4)   # As and Bs, int32 words

    def __post_init__(self):
        assert self.m == self.n == self.threads // self.words, "one staged word of As and Bs per thread"
        assert self.k == self.mma_k and self.m % self.mma_m == 0 and self.n % self.mma_n == 0
        assert (self.m // self.mma_m) * self.warps_n == self.warps, "one mma tile per warp"
        assert self.per_thread == self.mma_m * self.mma_n // self.warp == self.sub_m * self.sub_n


TILE = GemmTile()


def _pack_weights(w: np.ndarray, kp: int) -> np.ndarray:
    """[O, K] int8 -> [O, Kp / 4] int32 words (little-endian bytes k..k+3), zero padded."""
    o = w.shape[0]
    flat = np.zeros((o, kp), np.int8)
    flat[:, :w[0].size] = w.reshape(o, -1)
    return flat.view(np.int32)


def _conv_args(ctx: Context, node: Node, weights_arg):
    _x, _w, bias, mult, shift = node.inputs
    return [ctx.value(node.inputs[0]), weights_arg, ctx.value(bias), ctx.value(mult), ctx.value(shift),
            ctx.value(node.outputs[0])]


def _gemm(ctx: Context, node: Node, params: dict, groups: int, n_per_group: int, k: int, m: int, w: np.ndarray):
    t = TILE
    kp = -(-k // t.k) * t.k
    packed = ctx.add_weight(_pack_weights(w, kp))
    name = ctx.kernel_name(node)
    src = ctx.env.get_template("conv_gemm.cu.j2").render(name=name, node=ctx.comment(node), M=m, N=n_per_group, K=k, Kp=kp,
                                                     groups=groups, t=t, **params)
    grid = (-(-m // t.m), -(-n_per_group // t.n), groups)
    ctx.add(node, name, src, grid, (t.threads_x, t.threads_y, 1), _conv_args(ctx, node, packed),
            shared_bytes=t.shared_bytes, macs=m * n_per_group * k * groups)


def q_conv2d(node: Node, ctx: Context) -> None:
    op: qops.QConv2D = node.op
    g = ctx.graph
    n, h, wd, c = g.types[node.inputs[0]].shape
    _, oh, ow, o = g.types[node.outputs[0]].shape
    w = np.asarray(g.constants[node.inputs[1]])
    _, kh, kw, cg = w.shape
    geometry = dict(H=h, W=wd, C=c, Cg=cg, OH=oh, OW=ow, O=o, KH=kh, KW=kw, SH=op.strides[0], SW=op.strides[1],
                    DH=op.dilations[0], DW=op.dilations[1], PT=op.pads[0], PL=op.pads[1], zp_in=op.input_zero_point,
                    zp_out=op.output_zero_point, qmin=op.qmin, qmax=op.qmax)
    if op.group == 1 or cg >= 4:
        _gemm(ctx, node, dict(geometry, conv=True, what="QConv2D"), op.group, o // op.group, kh * kw * cg,
              n * oh * ow, w)
        return
    _direct(ctx, node, dict(geometry, Og=o // op.group, transpose=False, what="QConv2D (depthwise/grouped)"),
            n * oh * ow * o)


def q_conv_transpose2d(node: Node, ctx: Context) -> None:
    op: qops.QConvTranspose2D = node.op
    g = ctx.graph
    n, h, wd, c = g.types[node.inputs[0]].shape
    _, oh, ow, o = g.types[node.outputs[0]].shape
    _, kh, kw, cg = g.types[node.inputs[1]].shape
    geometry = dict(H=h, W=wd, C=c, Cg=cg, OH=oh, OW=ow, O=o, Og=o // op.group, KH=kh, KW=kw, SH=op.strides[0],
                    SW=op.strides[1], DH=op.dilations[0], DW=op.dilations[1], PT=op.pads[0], PL=op.pads[1],
                    zp_in=op.input_zero_point, zp_out=op.output_zero_point, qmin=op.qmin, qmax=op.qmax,
                    transpose=True, what="QConvTranspose2D (scatter as gather)")
    _direct(ctx, node, geometry, n * oh * ow * o)


def _direct(ctx: Context, node: Node, params: dict, total: int) -> None:
    name = ctx.kernel_name(node)
    src = ctx.env.get_template("conv_direct.cu.j2").render(name=name, node=ctx.comment(node), total=total, **params)
    ctx.add(node, name, src, grid_1d(total), (BLOCK, 1, 1), _conv_args(ctx, node, ctx.value(node.inputs[1])),
            macs=total * params["KH"] * params["KW"] * params["Cg"])


def q_dense(node: Node, ctx: Context) -> None:
    op: qops.QDense = node.op
    g = ctx.graph
    w = np.asarray(g.constants[node.inputs[1]])
    nout, k = w.shape
    m = int(np.prod(g.types[node.inputs[0]].shape[:-1]))
    params = dict(conv=False, what="QDense", O=nout, zp_in=op.input_zero_point, zp_out=op.output_zero_point,
                  qmin=op.qmin, qmax=op.qmax)
    _gemm(ctx, node, params, 1, nout, k, m, w)


def _batch_strides(shape: tuple[int, ...], batch: tuple[int, ...], matrix: int) -> list[int]:
    """Element strides of a broadcast operand's batch dims against the output's batch dims."""
    shape = (1,) * (len(batch) - len(shape)) + tuple(shape)
    strides, s = [], matrix
    for d in range(len(batch) - 1, -1, -1):
        strides.append(0 if shape[d] == 1 else s)
        s *= shape[d]
    return strides[::-1]


def why_not_weights(node: Node, graph) -> str | None:
    """Constant weights."""
    return None if node.inputs[1] in graph.constants else "its weights are not constants"


def why_not_matmul(node: Node, graph) -> str | None:
    """Operands of rank 2 or more."""
    return "it has a 1-D operand" if min(graph.types[v].rank for v in node.inputs[:2]) < 2 else None


def matmul_dims(ctx: Context, node: Node):
    """(a shape, b shape, output shape, M, K, N, batch dims) of a (Q/Dynamic)MatMul node."""
    g = ctx.graph
    a_shape, b_shape = g.types[node.inputs[0]].shape, g.types[node.inputs[1]].shape
    out = g.types[node.outputs[0]].shape
    m, k = a_shape[-2:]
    return a_shape, b_shape, out, m, k, b_shape[-1], tuple(out[:-2])


def q_matmul(node: Node, ctx: Context) -> None:
    op: qops.QMatMul = node.op
    g = ctx.graph
    a_shape, b_shape, out, m, k, n, batch = matmul_dims(ctx, node)
    total = int(np.prod(out))
    name = ctx.kernel_name(node)
    src = ctx.env.get_template("matmul.cu.j2").render(
        name=name, node=ctx.comment(node), M=m, K=k, N=n, batch=batch, total=total,
        a_strides=_batch_strides(a_shape[:-2], batch, m * k), b_strides=_batch_strides(b_shape[:-2], batch, k * n),
        za=op.a_zero_point, zb=op.b_zero_point, multiplier=op.multiplier, shift=op.shift, zp_out=op.output_zero_point,
        qmin=op.qmin, qmax=op.qmax)
    ctx.add(node, name, src, grid_1d(total), (BLOCK, 1, 1),
            [ctx.value(node.inputs[0]), ctx.value(node.inputs[1]), ctx.value(node.outputs[0])], macs=total * k)


EMITTERS = {qops.QConv2D: Emitter(q_conv2d, why_not_weights),
            qops.QConvTranspose2D: Emitter(q_conv_transpose2d, why_not_weights),
            qops.QDense: Emitter(q_dense, why_not_weights), qops.QMatMul: Emitter(q_matmul, why_not_matmul)}
