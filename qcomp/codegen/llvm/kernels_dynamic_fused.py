"""DynamicDenseGelu and DynamicDenseAddNorm (qcomp/ir/qops_fused.py, passes/fuse_dynamic.py) on the
GEMM micro-kernels. DynamicDenseGelu: the
DynamicDense of kernels_dynamic_dense.py, then the GELU chain in the tiles' epilogue, lane-wise on
each clamped float32 vector y of `lanes` output channels while it is in registers:

    h = y + bias[n];  t = h / div;  e = erf(t);  a = e + one;  m = h * a;  out = m * half

one IEEE float32 operation each, in the unfused graph's order, and erf the one the unfused Erf node
gets on this backend (vecmath.erf_for(spec): kernels_float_vec.emit_erf calls the same function on the same
float32 values, and its value does not depend on the vector width), so the fused node's output is
the unfused sequence's on llvm bit for bit. bias is copied per run next to the DynamicDense's
factors and biases (emit_dynamic_dense's `extra`).

DynamicDenseAddNorm: the epilogue computes s = (y + bias[n]) + r[m, n] (two IEEE additions, the
unfused Adds' order) and stores s; r is read at the output's position plus a per-run pointer
difference (r - out, stored before the GEMM in every channel block's slot of the scratch: the
epilogue reaches only its block's slots). Then kernels_float_vec.emit_layer_norm's threaded row pass
normalizes the output in place (each element is read before it is written, its row's sums taken
before), the unfused LayerNorm node's code on the same float32 values: bit-exact to the unfused nodes.
Where the weights are small (ROW_JOB_WEIGHT_BYTES) the row pass runs inside the GEMM's own jobs
instead: each job computes whole rows (ROW_JOB_TILES row tiles over every channel chunk,
kernels_qmatmul.even_tiles' shape) and then normalizes them with the same code
(kernels_float_vec.layer_norm_rows): the same values, one fork-join fewer, the rows normalized while
they are in cache.
"""
from __future__ import annotations

import dataclasses

from llvmlite import ir

from ...ir import Node, ops
from . import kernels_float, kernels_float_vec, kernels_qmatmul, pipes, vecmath
from .irgen import F32, I32, I64, PTR, c64, loop
from .kernels_depthwise import _mask, _ptr
from .kernels_dynamic_dense import emit_dynamic_dense

# int8 weights up to this size (attention's output projection, 384 x 384: 144 KiB) stay in a core's L2
# while one job walks every channel chunk of its rows: such a node's GEMM jobs hold whole rows and
# normalize them right away (one fork-join fewer, the rows still in cache). The FFN output (1536 x 384,
# 576 KiB) measured no better that way (1.00-1.01 at 2 threads): it keeps the chunk jobs and a row pass.
ROW_JOB_WEIGHT_BYTES = 256 * 1024
# row tiles per such job: 2 (16 rows at MR = 8: eight LayerNorm pipeline groups, kernels_layernorm_vec.py,
# and each chunk's weights read once for both tiles): attention's output projection of MiniLM 1.3 %
# faster than one tile a job at 1 thread (4 tiles: 1.7 %, but only four jobs for M = 128)
ROW_JOB_TILES = 2


def emit_dynamic_dense_gelu(node: Node, k) -> None:
    op = node.op
    lanes = k.spec.lanes
    vf = ir.VectorType(F32, lanes)

    def splat(v: float):
        return ir.Constant(vf, [v] * lanes)

    halve = op.half == 0.5 and lanes == 16 and k.spec.arch == "x86"

    def gelu(b, y, extra, j, r, out, live):
        h = b.fadd(y, b.load(extra, typ=vf, align=4))
        e = vecmath.erf_for(k.spec)(k.mod, b, b.fdiv(h, splat(op.div)))
        m = b.fmul(h, b.fadd(e, splat(op.one)))
        if halve:                           # m * 0.5 off the FMA pipes, the same value (pipes.half)
            return pipes.half(k.mod, b, m)
        return b.fmul(m, splat(op.half))

    # each tile's GELU inside the next tile's depth loop (kernels_pipelined.py: the same values)
    emit_dynamic_dense(node, k, extra=k.ins[4], after_clamp=gelu, pipeline=True)


def emit_dynamic_dense_add_norm(node: Node, k) -> None:
    op = node.op
    lanes = k.spec.lanes
    vf = ir.VectorType(F32, lanes)
    n = k.graph.types[node.outputs[0]].shape[-1]
    n_pad = -(-n // lanes) * lanes
    masked_load = k.mod.intrinsic(f"llvm.masked.load.v{lanes}f32.p0", vf,
                                  [PTR, I32, ir.VectorType(ir.IntType(1), lanes), vf])
    out_ptr, res_ptr = k.outs[0], k.ins[5]

    def prepare(b, at, n_blocks):
        diff = b.sub(b.ptrtoint(res_ptr, I64), b.ptrtoint(out_ptr, I64))
        with loop(b, n_blocks, "diff") as i:
            b.store(diff, _ptr(b, at, b.mul(i, c64(4 * lanes))), align=4)

    def add_residual(b, y, extra, j, r, out, live):
        h = b.fadd(y, b.load(extra, typ=vf, align=4))
        diff = b.load(_ptr(b, extra, 4 * n_pad), typ=I64, align=4)      # prepare's slot of this block
        at = _ptr(b, _ptr(b, out, diff), 4 * (r * n + j * lanes))
        if live < lanes:
            res = b.call(masked_load, [at, ir.Constant(I32, 4), _mask(lanes, live), ir.Constant(vf, [0.0] * lanes)])
        else:
            res = b.load(at, typ=vf, align=4)
        return b.fadd(h, res)

    kd = k.graph.types[node.inputs[0]].shape[-1]
    if n * kd <= ROW_JOB_WEIGHT_BYTES:           # the LayerNorm inside the GEMM's whole-row jobs
        norm_rows = kernels_float_vec.layer_norm_rows(k, n, float(op.epsilon))

        def done(b, ptrs, r0, r1):
            out, scale, bias = ptrs
            norm_rows(b, (out, scale, bias), (out,), r0, r1)
        emit_dynamic_dense(node, k, extra=k.ins[4], after_clamp=add_residual, prepare=prepare,
                           rows=([out_ptr, k.ins[6], k.ins[7]], done, ROW_JOB_TILES))
        return
    emit_dynamic_dense(node, k, extra=k.ins[4], after_clamp=add_residual, prepare=prepare)
    norm = Node(node.name, ops.LayerNorm(-1, op.epsilon), (node.outputs[0], *node.inputs[6:8]), node.outputs)
    kernels_float_vec.emit_layer_norm(norm, dataclasses.replace(k, ins=[out_ptr, k.ins[6], k.ins[7]]))


def emit_dynamic_matmul_scale_add(node: Node, k) -> None:
    """DynamicMatMulScaleAdd: kernels_qmatmul.emit_dynamic_matmul with, on each clamped float32
    vector y of `lanes` output columns in the GEMM's epilogue, s = y * scale, then s + m[n] (m copied
    per run next to the factors): the unfused Mul's and Add's IEEE operations in their order."""
    lanes = k.spec.lanes
    vf = ir.VectorType(F32, lanes)
    scale = ir.Constant(vf, [node.op.scale] * lanes)

    def scale_add(b, y, at):
        return b.fadd(b.fmul(y, scale), b.load(at, typ=vf, align=4))

    kernels_qmatmul.emit_dynamic_matmul(node, k, after_clamp=scale_add, addend=k.ins[2])


def why_not_dynamic_matmul_scale_add(node, graph) -> str | None:
    """Operands of rank 2 or more, and the accumulator bound of the GEMM form."""
    why = kernels_float.why_not_dynamic_matmul(node, graph)
    if why is None and not kernels_qmatmul.gemm_form(node, graph):
        why = (f"K = {graph.types[node.inputs[0]].shape[-1]} is too deep for int32 accumulators "
               f"(K * 255 * 255 must be at most 2^31 - 1); fuse_dynamic_attention leaves such products unfused")
    return why
