"""QMatMul16 (int16 activations x int16 activations: attention's Q K^T and P V under A16W8) on the
int16 dot micro-kernels of kernels16_dot.py.

    acc[bt, m, n] = sum_k a[m, k] b[k, n]        (a, b: batch bt's matrices, numpy batch broadcasting)
    y = requantize_acc(acc, multiplier, shift, acc_bits, output_zero_point, qmin, qmax)   per tensor

int16 activations are symmetric (zero point 0), so no zero-point corrections exist. The dot steps
(VPDPWSSD, VPMADDWD, SMLAL) multiply int16 by int16 into int32 lanes, but |a b| <= 2^30: two
products already overflow an int32 sum. So B is split when it is packed,

    b = 256 hi + lo,   hi = (b + 128) >> 8 in [-128, 128],   lo = b - 256 hi in [-128, 127]
    a b = 256 (a hi) + (a lo),   |a hi|, |a lo| <= 2^15 * 2^7 = 2^22

and each part is an int16 x int8-range product, the bound of A16W8's weights: int32 partial sums of
BLOCK_TERMS (511) K-terms are exact (511 * 2^22 < 2^31; a VPDPWSSD pair is below 2^23), and each
block joins the int64 accumulator as (sum_hi << 8) + sum_lo (kernels16_dot._micro_kernel, split).
The total is the exact acc, |acc| <= K 2^30 < 2^47 (fixedpoint.accumulator16x16_bits refuses a
larger K), requantized by the formula of the op's acc_bits (32 for K = 1, else 64) lane-wise.
Cost: two dot steps per step of K instead of one (x86-vnni: 16 products per VPDPWSSD, against 4
per instruction for products widened into int64 lanes, VPMULDQ then VPADDQ).

Two phases, each a parallel_for (runtime/llvm/pool.c), in the node's scratch:
  1. pack: one job per distinct B matrix (batch broadcasting): [2 OB][KQ][lanes][depth] int16, the
     high part of output block ob at 2 ob and the low part at 2 ob + 1 (kernels16_dot's weight
     layout within a block), zero past K and N; vectorized along N (masked at N's tail). A is read
     in place when K is a multiple of the step's depth (x86: 2, AArch64: 1); otherwise one job per
     distinct A matrix copies its rows, zero-padded to Kpad.
  2. GEMM: jobs = (batch, chunk of NR output blocks, group of MR-row tiles), kernels_dot.gemm_plan's
     split; the tile sizes are A16W8's with twice the blocks (MR x 2 NR int32 accumulators).
"""
from __future__ import annotations

import numpy as np
from llvmlite import ir

from ... import abi
from ...ir import Node
from . import tables
from .irgen import I16, I32, PTR, VOID, c64, job_function, loop, memcpy, memset, parallel_for
from .kernels_depthwise import _mask, _masked_io, _ptr
from .kernels_dot import gemm_plan, run_chunk
from .kernels16 import out_type
from .kernels16_dot import Step16, _micro_kernel, requant_ints, step16


def split_tiles(st: Step16) -> dict[int, int]:
    """NR -> MR of the split micro-kernel: A16W8's MR for 2 NR blocks (the same accumulator count)."""
    return {nr: st.tiles[2 * nr] for nr in st.tiles if 2 * nr in st.tiles}


def emit_matmul16(node: Node, k) -> None:
    """Pack B (split) and, for an odd K on a depth-2 step, A; then the GEMM (module docstring)."""
    graph, op = k.graph, node.op
    st = step16(k.spec)
    lanes, depth = st.lanes, st.depth
    a_shape, b_shape = graph.types[node.inputs[0]].shape, graph.types[node.inputs[1]].shape
    m, kd, n = a_shape[-2], a_shape[-1], b_shape[-1]
    a_off, b_off = tables.matmul_batches(a_shape, b_shape, graph.types[node.outputs[0]].shape)
    a_idx, b_idx = a_off.reshape(-1) // (m * kd), b_off.reshape(-1) // (kd * n)
    n_a, n_b = int(np.prod(a_shape[:-2])), int(np.prod(b_shape[:-2]))
    n_ob, n_kq = -(-n // lanes), -(-kd // depth)
    kpad = n_kq * depth
    a_stride, b_bytes = 2 * kpad, 2 * n_ob * n_kq * st.block
    in_place = kpad == kd
    b_base = 0 if in_place else abi.align(n_a * m * a_stride)
    k.reserve(b_base + abi.align(n_b * b_bytes))

    b_fn = _pack_b(k, st, kd, n, n_kq)
    a_fn = None if in_place else _pack_a(k, m, kd, kpad)
    f, b, (a_in, b_in, scratch), i = job_function(k.mod, "qmatmul16_pack", 3)
    with b.if_else(b.icmp_signed("<", i, c64(n_b))) as (then, otherwise):
        with then:
            b.call(b_fn, [_ptr(b, b_in, b.mul(i, c64(2 * kd * n))),
                          _ptr(b, scratch, b.add(c64(b_base), b.mul(i, c64(b_bytes))))])
        with otherwise:
            if a_fn is not None:
                j = b.sub(i, c64(n_b))
                b.call(a_fn, [_ptr(b, a_in, b.mul(j, c64(2 * m * kd))), _ptr(b, scratch, b.mul(j, c64(m * a_stride)))])
    b.ret_void()
    parallel_for(k.mod, k.b, f, [k.ins[0], k.ins[1], k.scratch], n_b + (0 if in_place else n_a))

    width = n_ob * lanes
    tabs = [k.mod.table(np.zeros(width, np.int64), "bias16")]
    requant = requant_ints([op.multiplier], [op.shift], op.acc_bits)
    tabs += [k.mod.table(np.full(width, int(t[0]), np.int64), name) for t, name in zip(requant, ("m16", "t16", "r16"))]
    _emit_gemm(k, st, op, m, n, n_ob, n_kq, a_stride, b_bytes, b_base, a_idx, b_idx, tabs, in_place)


def _emit_gemm(k, st: Step16, op, m, n, n_ob, n_kq, a_stride, b_bytes, b_base, a_idx, b_idx, tabs, in_place):
    """Phase 2: one job per (batch, chunk of NR blocks, group of MR-row tiles)."""
    lanes = st.lanes
    batches = a_idx.size
    plan = gemm_plan(m, n_ob, batches, n_kq * st.depth, lanes, 32, split_tiles(st))
    mr, nr, n_tiles, n_chunks = plan["mr"], plan["nr"], plan["n_tiles"], plan["n_chunks"]
    tiles_per_job, n_groups = plan["tiles_per_job"], plan["n_groups"]
    mr_tail, nr_last = m - (n_tiles - 1) * mr, n_ob - (n_chunks - 1) * nr
    live_last = n - (n_ob - 1) * lanes
    osize = out_type(op).width // 8
    panel = 2 * n_kq * st.block                   # bytes of one output block's hi and lo weights
    variants = {}

    def variant(rows, cols, last):
        key = (rows, cols, last)
        if key not in variants:
            variants[key] = _micro_kernel(k, st, rows, cols, n_kq, a_stride, n, live_last if last else lanes, op,
                                          split=True)
        return variants[key]

    a_idx_g = k.mod.table(a_idx.astype(np.int32), "a_idx")
    b_idx_g = k.mod.table(b_idx.astype(np.int32), "b_idx")
    f, b, (a_ptr, scratch, out_ptr), i = job_function(k.mod, "qmatmul16_job", 3)
    per_bt = n_chunks * n_groups
    bt = b.sdiv(i, c64(per_bt))
    chunk = b.sdiv(b.srem(i, c64(per_bt)), c64(n_groups))
    tg = b.srem(i, c64(n_groups))
    ai = b.sext(b.load(b.gep(a_idx_g, [bt], source_etype=I32), typ=I32), ir.IntType(64))
    bi = b.sext(b.load(b.gep(b_idx_g, [bt], source_etype=I32), typ=I32), ir.IntType(64))
    blk = b.mul(chunk, c64(nr))
    a_at = _ptr(b, a_ptr, b.mul(ai, c64(m * a_stride)))
    w_at = _ptr(b, scratch, b.add(c64(b_base), b.add(b.mul(bi, c64(b_bytes)), b.mul(blk, c64(panel)))))
    q_at = [_ptr(b, t, b.mul(blk, c64(8 * lanes))) for t in tabs]
    out_at = _ptr(b, out_ptr, b.mul(b.add(b.mul(bt, c64(m * n)), b.mul(blk, c64(lanes))), c64(osize)))
    t0 = b.mul(tg, c64(tiles_per_job))
    t1 = b.add(t0, c64(tiles_per_job))
    full_tiles = m // mr
    t_end = b.select(b.icmp_signed("<", t1, c64(full_tiles)), t1, c64(full_tiles))
    n_full = b.select(b.icmp_signed(">", t_end, t0), b.sub(t_end, t0), c64(0))

    def call(rows, cols, last, p0):
        b.call(variant(rows, cols, last), [_ptr(b, a_at, b.mul(p0, c64(a_stride))), w_at,
                                           _ptr(b, out_at, b.mul(p0, c64(n * osize))), *q_at])

    def run(cols, last):
        with loop(b, n_full, "tile") as dt:
            call(mr, cols, last, b.mul(b.add(t0, dt), c64(mr)))
        if mr_tail < mr:
            with b.if_then(b.icmp_signed("==", tg, c64(n_groups - 1))):
                call(mr_tail, cols, last, c64((n_tiles - 1) * mr))
    run_chunk(b, chunk, n_chunks, run, nr, nr_last)
    b.ret_void()
    a_src = k.ins[0] if in_place else k.scratch
    parallel_for(k.mod, k.b, f, [a_src, k.scratch, k.outs[0]], batches * n_chunks * n_groups)


def _pack_b(k, st: Step16, kd: int, n: int, n_kq: int):
    """pack_b(b, dst): b [K, N] int16 -> dst [2 OB][KQ][lanes][depth] int16, hi and lo (module
    docstring) of block (ob, kq) at 2 ob and 2 ob + 1; zero past K and N."""
    lanes, depth = st.lanes, st.depth
    v16, v32 = ir.VectorType(I16, lanes), ir.VectorType(I32, lanes)
    masked_load, _ = _masked_io(k.mod, lanes, I16)
    f, b = k.mod.function(k.mod.unique("qmatmul16_pack_b"), VOID, [PTR, PTR])
    src, dst = f.args
    for arg in f.args:
        arg.add_attribute("noalias")
    full_ob, live = n // lanes, n % lanes
    full_kq, k_tail = kd // depth, kd % depth
    # position j * depth + d of a packed block takes row d, lane j of the concatenated rows
    order = ir.Constant(ir.VectorType(I32, lanes * depth), [d * lanes + j for j in range(lanes) for d in range(depth)])

    def splat32(v):
        return ir.Constant(v32, [v] * lanes)

    def step(ob, kq, rows_live: int, cols_live: int):
        parts = ([], [])
        for d in range(depth):
            if d >= rows_live:
                row = ir.Constant(v16, [0] * lanes)
            else:
                at = _ptr(b, src, b.mul(b.add(b.mul(b.add(b.mul(kq, c64(depth)), c64(d)), c64(n)),
                                              b.mul(ob, c64(lanes))), c64(2)))
                if cols_live == lanes:
                    row = b.load(at, typ=v16, align=2)
                else:
                    row = b.call(masked_load, [at, ir.Constant(I32, 2), _mask(lanes, cols_live), ir.Constant(v16, [0] * lanes)])
            wide = b.sext(row, v32)
            hi = b.ashr(b.add(wide, splat32(128)), splat32(8))                 # [-128, 128]
            parts[0].append(b.trunc(hi, v16))
            parts[1].append(b.trunc(b.sub(wide, b.shl(hi, splat32(8))), v16))   # [-128, 127]
        for half, rows in enumerate(parts):
            block = rows[0] if depth == 1 else b.shuffle_vector(rows[0], rows[1], order)
            at = b.mul(b.add(b.mul(b.add(b.mul(ob, c64(2)), c64(half)), c64(n_kq)), kq), c64(st.block))
            b.store(block, _ptr(b, dst, at), align=2)

    def column(ob, cols_live: int):
        if full_kq:
            with loop(b, full_kq, "kq") as kq:
                step(ob, kq, depth, cols_live)
        if k_tail:
            step(ob, c64(full_kq), k_tail, cols_live)

    if full_ob:
        with loop(b, full_ob, "ob") as ob:
            column(ob, lanes)
    if live:
        column(c64(full_ob), live)
    b.ret_void()
    return f


def _pack_a(k, m: int, kd: int, kpad: int):
    """pack_a(a, dst): the M rows of a [M, K] int16 into rows of Kpad, zero-padded."""
    f, b = k.mod.function(k.mod.unique("qmatmul16_pack_a"), VOID, [PTR, PTR])
    src, dst = f.args
    with loop(b, m, "r") as r:
        row = _ptr(b, dst, b.mul(r, c64(2 * kpad)))
        memcpy(k.mod, b, row, _ptr(b, src, b.mul(r, c64(2 * kd))), 2 * kd)
        memset(k.mod, b, _ptr(b, row, 2 * kd), 0, 2 * (kpad - kd))
    b.ret_void()
    return f
