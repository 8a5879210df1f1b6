"""QMatMul (int8 activations x int8 activations: attention's Q K^T and P V) on the GEMM micro-kernels.

    acc[bt, m, n] = sum_k (a[m, k] - za) (b[k, n] - zb)        (a, b: batch bt's matrices, numpy
    y = requantize(acc, multiplier, shift, output_zero_point, qmin, qmax)     batch broadcasting)

The dot instructions multiply an offset activation u = a + offset (offset 128: VPDPBUSD's u8
operand; 0 for SDOT / SMMLA / the NEON sequence) by s8 "weights", here b itself. Expanding,

    acc = sum_k u b  -  (offset + za) * colsum_b[n]  -  zb * rowsum_a[m]  +  K za zb
        = sum_k u b  +  col_term[n]  +  row_term[m]

with colsum_b[n] = sum_k b[k, n], rowsum_a[m] = sum_k a[m, k] (the zero points folded exactly as
kernels_dot.py folds offset * sum(w) into a Dense bias, but both operands are known only at run
time). Every quantity is computed in int32 lanes that wrap modulo 2^32: the sum of all of them is
acc modulo 2^32, and acc itself fits int32 because lower_integer refuses a QMatMul unless
K * 255 * 255 <= 2^31 - 1 (fixedpoint.max_abs_accumulator with w_max = x_span = 255: |a - za|,
|b - zb| <= 255), so the wrapped sum is exact whatever the order of its parts. A graph built
without that proof (K above 33025) keeps kernels_dot.emit_matmul's int64 scalar loop.

Two phases, each a parallel_for (runtime/llvm/pool.c), in the node's scratch:
  1. pack, one job per distinct A matrix and per distinct B matrix of the batch broadcast:
     A rows -> [M][a_stride] bytes: u = a + offset (K padded to Kpad, a multiple of the
            instruction's depth, with bytes that meet zero weights), then row_term[m] as int32;
     B      -> the micro-kernel's weight layout [OB][KQ][block] (kernels_dot.pack_weights' order,
            then the ISA's byte order within a block: one shuffle of `depth` rows of `lanes`
            columns), zero rows past K and zero columns past N; and col_term[OB * lanes] int32.
  2. GEMM: kernels_dot's micro-kernels (or kernels_mmla's on arm-i8mm) with row_terms: the tile's
     accumulators start at col_term (the "bias"), add row_term per row, and requantize with the
     node's multiplier and shift (tables of one value per channel); jobs = (batch, chunk of NR
     blocks, group of MR-row tiles) as kernels_dot.gemm_plan splits them.

Per ISA, the form of the step for operands no build-time proof covers:
  x86-vnni, x86-avxvnni (VPDPBUSD), arm-sdot (SDOT), arm-i8mm (SMMLA): as for Dense (never saturate).
  x86-avx2: VPMADDUBSW may saturate for some b: the wide int16 form (dots_x86, weight_parts 2,
            exact for any weights), the B block packed as int16 pairs [2][lanes][2].
  arm-neon: the exact SMULL/SADALP form ("smull"; the fast "smlal" needs weights proved free of
            (-128, -128) pairs), in kernels_neon's byte order.
"""
from __future__ import annotations

import dataclasses

import numpy as np
from llvmlite import ir

from ... import abi, fixedpoint
from ...ir import Node
from . import kernels_dot, kernels_mmla, kernels_neon, tables
from .irgen import I8, I16, I32, I64, PTR, VOID, c64, job_function, loop, parallel_for, var
from .kernels_depthwise import _mask, _masked_io, _ptr
from .isa import DotSpec


def gemm_form(node, graph) -> bool:
    """True when the node's accumulator is proved to fit int32 (the wrapped GEMM is exact)."""
    kd = graph.types[node.inputs[0]].shape[-1]
    return fixedpoint.max_abs_accumulator(kd, w_max=255, x_span=255) <= fixedpoint.INT32_MAX


def run_time_spec(spec: DotSpec) -> DotSpec:
    """The dot step's form for run-time weights (module docstring)."""
    if spec.instruction == "vpmaddubsw":
        return dataclasses.replace(spec, weight_parts=2)
    if spec.instruction == "smlal":
        return dataclasses.replace(spec, instruction="smull")
    return spec


def block_order(spec: DotSpec) -> np.ndarray:
    """src[p]: the element of the concatenated rows (row d, column j at d * lanes + j) that goes to
    position p of a packed block (int16 positions in the wide AVX2 form, bytes otherwise)."""
    lanes, depth = spec.lanes, spec.depth
    src = np.zeros(lanes * depth, np.int64)
    for j in range(lanes):
        for d in range(depth):
            if spec.weight_parts == 2:             # [2 parts][lanes][2]: depth bytes (2p, 2p+1) of lane j
                pos = (d // 2) * 2 * lanes + 2 * j + d % 2
            elif spec.instruction in ("smlal", "smull"):
                pos = int(kernels_neon._POSITION[j, d])
            else:                                   # [lanes][depth]
                pos = j * depth + d
            src[pos] = d * lanes + j
    return src


def emit_qmatmul(node: Node, k) -> None:
    """Pack both operands, then the register-blocked GEMM (module docstring); the int64 scalar loop
    where no accumulator proof exists."""
    graph = k.graph
    if not gemm_form(node, graph):
        return kernels_dot.emit_matmul(node, k)
    op = node.op
    spec = k.spec = run_time_spec(k.spec)
    a_shape, b_shape = graph.types[node.inputs[0]].shape, graph.types[node.inputs[1]].shape
    y_shape = graph.types[node.outputs[0]].shape
    m, kd, n = a_shape[-2], a_shape[-1], b_shape[-1]
    a_off, b_off = tables.matmul_batches(a_shape, b_shape, y_shape)
    a_idx, b_idx = a_off.reshape(-1) // (m * kd), b_off.reshape(-1) // (kd * n)
    n_a, n_b, batches = int(np.prod(a_shape[:-2])), int(np.prod(b_shape[:-2])), a_idx.size
    lanes, depth, wblock = spec.lanes, spec.depth, spec.weight_block
    n_ob, n_kq = -(-n // lanes), -(-kd // depth)
    kpad = n_kq * depth
    a_stride = kpad + 4                                  # the row's bytes, then its int32 row_term
    a_bytes, w_bytes, c_bytes = m * a_stride, n_ob * n_kq * wblock, n_ob * lanes * 4
    a_base = 0
    w_base = abi.align(n_a * a_bytes)
    c_base = w_base + abi.align(n_b * w_bytes)
    k.reserve(c_base + abi.align(n_b * c_bytes))
    pack_a = _pack_a(k, m, kd, kpad, a_stride, op.b_zero_point)
    pack_b = _pack_b(k, kd, n, n_kq, op.a_zero_point, op.b_zero_point)

    # phase 1: job i < n_a packs A matrix i, job n_a + j packs B matrix j
    f, b, (a_in, b_in, scratch), i = job_function(k.mod, "qmatmul_pack", 3)
    with b.if_else(b.icmp_signed("<", i, c64(n_a))) as (then, otherwise):
        with then:
            b.call(pack_a, [_ptr(b, a_in, b.mul(i, c64(m * kd))), _ptr(b, scratch, b.add(c64(a_base), b.mul(i, c64(a_bytes))))])
        with otherwise:
            j = b.sub(i, c64(n_a))
            b.call(pack_b, [_ptr(b, b_in, b.mul(j, c64(kd * n))),
                            _ptr(b, scratch, b.add(c64(w_base), b.mul(j, c64(w_bytes)))),
                            _ptr(b, scratch, b.add(c64(c_base), b.mul(j, c64(c_bytes))))])
    b.ret_void()
    parallel_for(k.mod, k.b, f, [k.ins[0], k.ins[1], k.scratch], n_a + n_b)

    # phase 2: the GEMM, jobs over (batch, chunk, tile group)
    smmla = spec.instruction == "smmla"
    arm_tiles = {"smmla": kernels_mmla.MR_FOR_NR, "smull": kernels_neon.MR_FOR_NR}
    plan = kernels_dot.gemm_plan(m, n_ob, batches, kpad, lanes, spec.registers, arm_tiles.get(spec.instruction))
    mr, nr, n_tiles, n_chunks = plan["mr"], plan["nr"], plan["n_tiles"], plan["n_chunks"]
    tiles_per_job, n_groups = plan["tiles_per_job"], plan["n_groups"]
    mr_tail, nr_last = m - (n_tiles - 1) * mr, n_ob - (n_chunks - 1) * nr
    live_last = n - (n_ob - 1) * lanes
    variants = {}

    def variant(rows, cols, last):
        key = (rows, cols, last)
        if key not in variants:
            live = live_last if last else lanes
            if smmla:
                variants[key] = kernels_mmla.micro_kernel(k, "qmm_tile", rows, cols, n_kq, a_stride, n, live, op,
                                                          row_terms=True)
            else:
                variants[key] = kernels_dot._micro_kernel(k, "qmm_tile", rows, cols, n_kq, a_stride, n, live, op,
                                                          row_terms=True)
        return variants[key]

    mult_g = k.mod.table(np.full(n_ob * lanes, op.multiplier, np.int32), "mult")
    shift_g = k.mod.table(np.full(n_ob * lanes, op.shift, np.int32), "shift")
    a_idx_g, b_idx_g = k.mod.table(a_idx.astype(np.int32), "a_idx"), k.mod.table(b_idx.astype(np.int32), "b_idx")
    f, b, (scratch, out_ptr), i = job_function(k.mod, "qmatmul_job", 2)
    per_bt = n_chunks * n_groups
    bt = b.sdiv(i, c64(per_bt))
    chunk = b.sdiv(b.srem(i, c64(per_bt)), c64(n_groups))
    tg = b.srem(i, c64(n_groups))
    ai = b.sext(b.load(b.gep(a_idx_g, [bt], source_etype=I32), typ=I32), I64)
    bi = b.sext(b.load(b.gep(b_idx_g, [bt], source_etype=I32), typ=I32), I64)
    blk = b.mul(chunk, c64(nr))
    a_at = _ptr(b, scratch, b.add(c64(a_base), b.mul(ai, c64(a_bytes))))
    w_at = _ptr(b, scratch, b.add(c64(w_base), b.add(b.mul(bi, c64(w_bytes)), b.mul(blk, c64(n_kq * wblock)))))
    c_at = _ptr(b, scratch, b.add(c64(c_base), b.add(b.mul(bi, c64(c_bytes)), b.mul(blk, c64(4 * lanes)))))
    q_at = [c_at] + [_ptr(b, t, b.mul(blk, c64(4 * lanes))) for t in (mult_g, shift_g)]
    out_at = _ptr(b, out_ptr, b.add(b.mul(bt, c64(m * n)), b.mul(blk, c64(lanes))))
    t0 = b.mul(tg, c64(tiles_per_job))
    t1 = b.add(t0, c64(tiles_per_job))
    full_tiles = m // mr
    t_end = b.select(b.icmp_signed("<", t1, c64(full_tiles)), t1, c64(full_tiles))
    n_full = b.select(b.icmp_signed(">", t_end, t0), b.sub(t_end, t0), c64(0))

    def run(cols, last):
        with loop(b, n_full, "tile") as dt:
            p0 = b.mul(b.add(t0, dt), c64(mr))
            b.call(variant(mr, cols, last), [_ptr(b, a_at, b.mul(p0, c64(a_stride))), w_at,
                                             _ptr(b, out_at, b.mul(p0, c64(n))), *q_at])
        if mr_tail < mr:
            with b.if_then(b.icmp_signed("==", tg, c64(n_groups - 1))):
                p0 = c64((n_tiles - 1) * mr)
                b.call(variant(mr_tail, cols, last), [_ptr(b, a_at, b.mul(p0, c64(a_stride))), w_at,
                                                      _ptr(b, out_at, b.mul(p0, c64(n))), *q_at])
    if n_chunks == 1:
        run(nr_last, True)
    else:
        with b.if_else(b.icmp_signed("==", chunk, c64(n_chunks - 1))) as (then, otherwise):
            with then:
                run(nr_last, True)
            with otherwise:
                run(nr, False)
    b.ret_void()
    parallel_for(k.mod, k.b, f, [k.scratch, k.outs[0]], batches * n_chunks * n_groups)


def _pack_a(k, m: int, kd: int, kpad: int, a_stride: int, zb: int):
    """pack_a(a, dst): row r of dst = a[r, :] + offset over K bytes, then Kpad - K bytes of `offset`
    (they meet zero weights), then row_term[r] = -zb * sum_k a[r, k] as int32 (wrapping)."""
    spec = k.spec
    vb = 4 * spec.lanes                             # a vector of bytes: 64 (AVX-512), 32 (AVX2), 16 (NEON)
    vt, vw = ir.VectorType(I8, vb), ir.VectorType(I32, vb)
    add = ir.Constant(vt, [spec.activation_offset & 0xFF] * vb)
    reduce_add = k.mod.intrinsic(f"llvm.vector.reduce.add.v{vb}i32", I32, [vw])
    masked_load, masked_store = _masked_io(k.mod, vb, I8)
    f, b = k.mod.function(k.mod.unique("qmatmul_pack_a"), VOID, [PTR, PTR])
    src, dst = f.args
    for arg in f.args:
        arg.add_attribute("noalias")
    full, tail = kd // vb, kd - kd // vb * vb
    with loop(b, m, "r") as r:
        s_row, d_row = _ptr(b, src, b.mul(r, c64(kd))), _ptr(b, dst, b.mul(r, c64(a_stride)))
        total = ir.Constant(vw, [0] * vb)
        if full:
            entry = b.block
            body, end = b.append_basic_block("c"), b.append_basic_block("c.end")
            b.branch(body)
            b.position_at_end(body)
            c = b.phi(I64, "c")
            acc = b.phi(vw, "sum")
            c.add_incoming(c64(0), entry)
            acc.add_incoming(total, entry)
            v = b.load(_ptr(b, s_row, b.mul(c, c64(vb))), typ=vt, align=1)
            b.store(b.add(v, add), _ptr(b, d_row, b.mul(c, c64(vb))), align=1)
            acc_next = b.add(acc, b.sext(v, vw))
            c_next = b.add(c, c64(1))
            c.add_incoming(c_next, body)
            acc.add_incoming(acc_next, body)
            b.cbranch(b.icmp_signed("<", c_next, c64(full)), body, end)
            b.position_at_end(end)
            total = acc_next
        if kpad > full * vb:                        # K's tail (masked) and the padding up to Kpad
            v = b.call(masked_load, [_ptr(b, s_row, full * vb), ir.Constant(I32, 1), _mask(vb, tail),
                                     ir.Constant(vt, [0] * vb)])
            b.call(masked_store, [b.add(v, add), _ptr(b, d_row, full * vb), ir.Constant(I32, 1),
                                  _mask(vb, kpad - full * vb)])
            total = b.add(total, b.sext(v, vw))
        term = b.mul(b.call(reduce_add, [total]), ir.Constant(I32, -zb))
        b.store(term, _ptr(b, d_row, kpad), align=1)
    b.ret_void()
    return f


def _pack_b(k, kd: int, n: int, n_kq: int, za: int, zb: int):
    """pack_b(b, dst_w, dst_c): b [K, N] -> dst_w [OB][KQ][block] (block_order within a block, zero
    past K and N), dst_c [OB * lanes] int32 col_term = -(offset + za) * colsum + K za zb (wrapping)."""
    spec = k.spec
    lanes, depth, wblock = spec.lanes, spec.depth, spec.weight_block
    vrow, vsum = ir.VectorType(I8, lanes), ir.VectorType(I32, lanes)
    wide = spec.weight_parts == 2
    elem = I16 if wide else I8
    order = block_order(spec)
    masked_load, _ = _masked_io(k.mod, lanes, I8)
    f, b = k.mod.function(k.mod.unique("qmatmul_pack_b"), VOID, [PTR, PTR, PTR])
    src, dst_w, dst_c = f.args
    for arg in f.args:
        arg.add_attribute("noalias")
    n_ob, full_ob, live = -(-n // lanes), n // lanes, n - n // lanes * lanes
    full_kq, k_tail = kd // depth, kd - kd // depth * depth

    def concat(vs):
        while len(vs) > 1:
            vs = [b.shuffle_vector(vs[i], vs[i + 1], ir.Constant(ir.VectorType(I32, 2 * vs[i].type.count),
                                                                 list(range(2 * vs[i].type.count))))
                  for i in range(0, len(vs), 2)]
        return vs[0]

    def step(ob, kq, rows_live: int, cols_live: int, colsum):
        """Pack block (ob, kq) with rows_live rows of K and cols_live columns of N; colsum + its rows."""
        rows = []
        for d in range(depth):
            if d >= rows_live:
                rows.append(ir.Constant(vrow, [0] * lanes))
                continue
            at = _ptr(b, src, b.add(b.mul(b.add(b.mul(kq, c64(depth)), c64(d)), c64(n)), b.mul(ob, c64(lanes))))
            if cols_live == lanes:
                rows.append(b.load(at, typ=vrow, align=1))
            else:
                rows.append(b.call(masked_load, [at, ir.Constant(I32, 1), _mask(lanes, cols_live),
                                                 ir.Constant(vrow, [0] * lanes)]))
            colsum = b.add(colsum, b.sext(rows[-1], vsum))
        whole = concat([b.sext(r, ir.VectorType(elem, lanes)) if wide else r for r in rows])
        packed = b.shuffle_vector(whole, ir.Constant(whole.type, None),
                                  ir.Constant(ir.VectorType(I32, len(order)), order.tolist()))
        at = _ptr(b, dst_w, b.mul(b.add(b.mul(ob, c64(n_kq)), kq), c64(wblock)))
        b.store(packed, at, align=1)
        return colsum

    def block_column(ob, cols_live: int):
        slot = var(b, vsum, ir.Constant(vsum, [0] * lanes), "colsum")
        with loop(b, full_kq, "kq") as kq:
            b.store(step(ob, kq, depth, cols_live, b.load(slot, typ=vsum)), slot)
        colsum = b.load(slot, typ=vsum)
        if k_tail:
            colsum = step(ob, c64(full_kq), k_tail, cols_live, colsum)
        scale = ir.Constant(vsum, [-(spec.activation_offset + za)] * lanes)
        term = b.add(b.mul(colsum, scale), ir.Constant(vsum, [_wrap32(kd * za * zb)] * lanes))
        b.store(term, _ptr(b, dst_c, b.mul(ob, c64(4 * lanes))), align=1)

    if full_ob:
        with loop(b, full_ob, "ob") as ob:
            block_column(ob, lanes)
    if live:
        block_column(c64(full_ob), live)
    b.ret_void()
    return f


def _wrap32(v: int) -> int:
    """v modulo 2^32 as a signed int32 (the lanes wrap; the final sum is exact: module docstring)."""
    return (int(v) + (1 << 31)) % (1 << 32) - (1 << 31)
