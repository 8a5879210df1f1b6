"""DynamicDense (--quant dynamic: float activations quantized per run, constant int8 per-channel
weights with zero point 0) on the GEMM micro-kernels of kernels_dot.py / kernels_mmla.py.

    q = quantize(x, s_x, zp)                     (kernels_float._dynamic_quantize: per tensor)
    acc[m, n] = sum_k (q[m, k] - zp) w[n, k]     (int32)
    y[m, n] = float32(acc) * (s_x * w_scale[n]) + bias[n],  clamped to [act_min, act_max]

The dot step multiplies an offset activation u = q + offset (offset 128: VPDPBUSD's u8 operand; 0
for SDOT / SMMLA / the NEON sequence) by the weights, so

    acc = sum_k u w  -  (offset + zp) * colsum_w[n]  =  sum_k u w  +  col_term[n]

colsum_w[n] = sum_k w[n, k] is a build-time table; col_term is computed per run from the run-time
zp (the weights' zero point is 0: no per-row term). All in int32 lanes that wrap modulo 2^32: the
total is acc modulo 2^32 whatever the order of its parts, the same int32 value the scalar kernel
(kernels_float.emit_dynamic_dense, wrapping int32 sums too) and the reference compute (the reference's
acc fits int32 for every graph quantize_weights builds: K * 255 * 128 < 2^31 up to K = 65793).

The epilogue is the reference's float order, one float32 operation each (no contraction):
factor[n] = s_x * w_scale[n] (per run, into the scratch), y = float32(acc) * factor[n], then
y + bias[n], then the clamp; bit-exact to the reference.

Phases: the quantize fused into the pack of A (kernels_dynamic_pack.py: a threaded min/max, then
scale and zero point, then quantize and pack in one threaded pass over x: u bytes, K padded to the
instruction's depth; the scalar form's values), the per-run tables
(factor, bias, col_term over OB * lanes channels), then kernels_qmatmul's GEMM phase: jobs over
row tiles x channel chunks, a parallel_for, each tile's epilogues interleaved in groups
(interleave.py: the same operations, several dependency chains at once). The weights are packed
at build time in the run-time form's block layout (kernels_qmatmul_pack.block_order, the bytes pack_b would write): the form
that is exact for any weights (x86-avx2: the wide int16 form, as real weights nearly always hold
a pair VPMADDUBSW may saturate on), except arm-neon's fast SMLAL form where the weights hold no
(-128, -128) pair (kernels_neon.int16_pairs_safe; the same byte order as SMULL).
"""
from __future__ import annotations

import numpy as np
from llvmlite import ir

from ... import abi
from ...ir import Node
from . import kernels_dot, kernels_neon
from .kernels_dynamic_pack import PARAMS_BYTES, dynamic_params, quantize_pack
from .irgen import F32, I32, loop
from .kernels_depthwise import _ptr
from .kernels_qmatmul import Layout, _emit_gemm, _float_epilogue, run_time_spec
from .kernels_qmatmul_pack import block_order
from .interleave import Interleave


def step_form(spec, w: np.ndarray):
    """The dot step for these constant weights: the run-time form (exact for any weights), except
    arm-neon's fast SMLAL form where w holds no (-128, -128) pair (kernels_neon.int16_pairs_safe)."""
    if spec.instruction == "smlal":
        packed, _, _ = kernels_dot.pack_weights(w, 1, spec.lanes, spec.depth)
        if kernels_neon.int16_pairs_safe(packed):
            return spec
    return run_time_spec(spec)


def packed_weights(w: np.ndarray, spec) -> bytes:
    """w [N, K] int8 -> [OB][KQ][block] bytes: block (ob, kq) holds b[kq * depth + d, ob * lanes + j]
    (b = w^T, zero past K and N) at block_order's positions, int16 in the wide x86-avx2 form."""
    lanes, depth = spec.lanes, spec.depth
    n, kd = w.shape
    n_ob, n_kq = -(-n // lanes), -(-kd // depth)
    padded = np.zeros((n_ob * lanes, n_kq * depth), np.int64)
    padded[:n, :kd] = w
    # [OB][KQ][d][j]: the concatenated rows of one block, row d of K, column j of N
    rows = padded.reshape(n_ob, lanes, n_kq, depth).transpose(0, 2, 3, 1).reshape(n_ob, n_kq, depth * lanes)
    blocks = rows[:, :, block_order(spec)]
    data = blocks.astype("<i2" if spec.weight_parts == 2 else np.int8).tobytes()
    assert len(data) == n_ob * n_kq * spec.weight_block, (len(data), spec)
    return data


def emit_dynamic_dense(node: Node, k, extra=None, after_clamp=None, prepare=None, dest=None, rows=None,
                       pipeline: bool = False) -> None:
    """DynamicDense on the GEMM micro-kernels (module docstring). A fused node (kernels_dynamic_fused.py)
    passes `extra`, a float32 [N] input copied per run after the biases (at factor + 8 * n_pad bytes),
    after_clamp(b, y, extra_at, j, r, out, live): its float operations on the clamped vector y of block
    j of row r (extra_at: the block's extra values; out: the tile's output, as the epilogue's), and
    prepare(b, at, n_blocks): stores before the GEMM into 4 * lanes bytes per block at factor + 12 * n_pad;
    dest(b, r, j, out, factor): the address of row r's block j (kernels_dynamic_split.py), else the tile's;
    rows: (ptrs, done, tiles), whole-row GEMM jobs that end with done(b, ptr values, r0, r1) (_emit_gemm);
    pipeline: tile epilogues inside the next tile's depth loop (kernels_pipelined.py)."""
    b, op = k.b, node.op
    w = np.asarray(k.graph.constants[node.inputs[1]], np.int8)
    spec = k.spec = step_form(k.spec, w)
    x_shape = k.graph.types[node.inputs[0]].shape
    n, kd = w.shape
    m = int(np.prod(x_shape[:-1], dtype=np.int64))
    lanes = spec.lanes
    n_ob, n_kq = -(-n // lanes), -(-kd // spec.depth)
    n_pad = n_ob * lanes
    kpad = n_kq * spec.depth
    a_stride = kpad + 4                         # the pack writes a row term after the row: 0 here (zb = 0)
    q_par = 0                                   # kernels_dynamic_pack's parameters
    par = abi.align(PARAMS_BYTES)               # factor[n_pad], bias[n_pad], extra[n_pad] (float32), prepare's
    c_base = par + abi.align(16 * n_pad)        # col_term[n_pad] int32
    a_base = c_base + abi.align(4 * n_pad)
    end = a_base + abi.align(m * a_stride)
    k.reserve(end)
    lay = Layout(m, kd, n, 1, 1, np.zeros(1, np.int64), np.zeros(1, np.int64), n_ob, n_kq, a_stride,
                 a_base, 0, c_base, end)
    params = _ptr(b, k.scratch, q_par)
    s_x, zp = dynamic_params(k, k.ins[0], m * kd, params)     # threaded min/max, then scale and zp
    b.store(_i32(0), _ptr(b, params, 8))                       # zb: the weights' zero point
    quantize_pack(k, k.ins[0], m, kd, kpad, a_stride, _ptr(b, k.scratch, a_base), params, zb_zero=True)
    colsum = np.zeros(n_pad, np.int32)
    colsum[:n] = w.astype(np.int64).sum(axis=1)
    colsum_g = k.mod.table(colsum, "dd_colsum")
    w_scale_ins, bias_ins = k.ins[3], k.ins[2]
    scale = b.sub(_i32(-spec.activation_offset), b.trunc(zp, I32))          # -(offset + zp)
    factor_at, bias_at = _ptr(b, k.scratch, par), _ptr(b, k.scratch, par + 4 * n_pad)
    col_at = _ptr(b, k.scratch, c_base)
    with loop(b, n_pad, "ch") as i:
        cs = b.load(b.gep(colsum_g, [i], source_etype=I32), typ=I32)
        b.store(b.mul(cs, scale), b.gep(col_at, [i], source_etype=I32))
    with loop(b, n, "ch2") as i:
        ws = b.load(b.gep(w_scale_ins, [i], source_etype=F32), typ=F32)
        b.store(b.fmul(s_x, ws), b.gep(factor_at, [i], source_etype=F32))
        bias = b.load(b.gep(bias_ins, [i], source_etype=F32), typ=F32)
        b.store(bias, b.gep(bias_at, [i], source_etype=F32))
        if extra is not None:
            v = b.load(b.gep(extra, [i], source_etype=F32), typ=F32)
            b.store(v, b.gep(_ptr(b, k.scratch, par + 8 * n_pad), [i], source_etype=F32))
    if prepare is not None:
        prepare(b, _ptr(b, k.scratch, par + 12 * n_pad), n_ob)
    w_g = k.mod.table(np.frombuffer(packed_weights(w, spec), np.int8), "dd_w")
    inter = Interleave()                        # the tiles' epilogues, several chains at once (interleave.py)
    _emit_gemm(k, lay, 4, par, par, inter.wrap(_bias_epilogue(k, op, n, n_pad, after_clamp, dest)), w_table=w_g,
               rows=rows, pipeline=pipeline)
    inter.apply()


def _bias_epilogue(k, op, o_total: int, n_pad: int, after_clamp=None, dest=None):
    """_float_epilogue with the bias: y = float32(acc) * factor[n] + bias[n], clamped; `factor`
    points at the block's factors, its biases n_pad floats further (a fused node's extra input 2 * n_pad)."""
    lanes = k.spec.lanes
    vf = ir.VectorType(F32, lanes)
    inner = _float_epilogue(k, op, o_total)

    def store(b, acc, r, j, out, factor, live):
        def with_bias(y):
            return b.fadd(y, b.load(_ptr(b, factor, 4 * (n_pad + j * lanes)), typ=vf, align=4))
        post = None if after_clamp is None else (
            lambda y: after_clamp(b, y, _ptr(b, factor, 8 * n_pad + 4 * j * lanes), j, r, out, live))
        inner(b, acc, r, j, out, factor, live, after_scale=with_bias, after_clamp=post, dest=dest)
    return store


def _i32(v: int):
    return ir.Constant(I32, v)
