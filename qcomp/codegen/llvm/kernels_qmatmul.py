"""QMatMul (int8 activations x int8 activations: attention's Q K^T and P V) and DynamicMatMul on the
GEMM micro-kernels.

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
  1. pack (kernels_qmatmul_pack.py), one job per distinct A and per distinct B matrix of the batch:
     A rows -> [M][a_stride] bytes: u = a + offset (K padded to Kpad, a multiple of the
            instruction's depth, with bytes that meet zero weights), then row_term[m] as int32;
     B      -> the micro-kernel's weight layout [OB][KQ][block] (kernels_dot.pack_weights' order,
            then the ISA's byte order within a block: one shuffle of `depth` rows of `lanes`
            columns), zero rows past K and zero columns past N; and col_term[OB * lanes] int32.
  2. GEMM: kernels_dot's micro-kernels (or kernels_mmla's on arm-i8mm) with row_terms: the tile's
     accumulators start at col_term (the "bias"), add row_term per row, and requantize with the
     node's multiplier and shift (tables of one value per channel); jobs = (batch, chunk of NR
     blocks, group of MR-row tiles) as kernels_dot.gemm_plan splits them.

DynamicMatMul (--quant dynamic): scale and zero point of a and b from each tensor's min/max, a
quantized straight into its pack and b into the scratch (kernels_dynamic_pack.py: threaded, the
values of kernels_dynamic_quant.py; three fork-joins in all: both min/max, then a's rows and one job
per b matrix that quantizes and packs it, then the GEMM), the zero points passed to the packs at run time, and the tiles' epilogue
y = float32(acc) * float32(s_a * s_b), clamped to [act_min, act_max], stored as float32
(|q - zp| <= 255: the same bound, the same fallback).

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
from . import kernels_dot, kernels_mmla, kernels_neon, kernels_pipelined, tables
from .irgen import F32, I32, I64, PTR, VOID, c64, job_function, loop, parallel_for
from .kernels_qmatmul_pack import pack_a, pack_b
from .job_split import tile_groups
from .kernels_dynamic_pack import (PARAMS_BYTES, Part, Quantizer, finish_params, minmax_part, quantize_pack_part,
                                   quantize_range, run_parts)
from .kernels_depthwise import _mask, _ptr
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


@dataclasses.dataclass
class Layout:
    """Shapes and the scratch layout of one node (byte offsets from k.scratch, after `base`)."""
    m: int
    kd: int
    n: int
    n_a: int                 # distinct A matrices (batch broadcasting)
    n_b: int                 # distinct B matrices
    a_idx: np.ndarray        # per output batch: its A matrix, its B matrix
    b_idx: np.ndarray
    n_ob: int
    n_kq: int
    a_stride: int
    a_base: int
    w_base: int
    c_base: int
    end: int

    @property
    def a_bytes(self) -> int:
        return self.m * self.a_stride

    def w_bytes(self, spec: DotSpec) -> int:
        return self.n_ob * self.n_kq * spec.weight_block

    def c_bytes(self, spec: DotSpec) -> int:
        return self.n_ob * spec.lanes * 4


def layout(node: Node, graph, spec: DotSpec, base: int) -> Layout:
    a_shape, b_shape = graph.types[node.inputs[0]].shape, graph.types[node.inputs[1]].shape
    m, kd, n = a_shape[-2], a_shape[-1], b_shape[-1]
    a_off, b_off = tables.matmul_batches(a_shape, b_shape, graph.types[node.outputs[0]].shape)
    n_a, n_b = int(np.prod(a_shape[:-2])), int(np.prod(b_shape[:-2]))
    n_ob, n_kq = -(-n // spec.lanes), -(-kd // spec.depth)
    a_stride = n_kq * spec.depth + 4                    # the row's bytes, then its int32 row_term
    w_base = base + abi.align(n_a * m * a_stride)
    c_base = w_base + abi.align(n_b * n_ob * n_kq * spec.weight_block)
    end = c_base + abi.align(n_b * n_ob * spec.lanes * 4)
    return Layout(m, kd, n, n_a, n_b, a_off.reshape(-1) // (m * kd), b_off.reshape(-1) // (kd * n), n_ob, n_kq,
                  a_stride, base, w_base, c_base, end)


def emit_qmatmul(node: Node, k) -> None:
    """Pack both operands, then the register-blocked GEMM (module docstring); the int64 scalar loop
    where no accumulator proof exists."""
    if not gemm_form(node, k.graph):
        return kernels_dot.emit_matmul(node, k)
    op = node.op
    spec = k.spec = run_time_spec(k.spec)
    lay = layout(node, k.graph, spec, 0)
    k.reserve(lay.end)
    zps = k.mod.table(np.array([op.a_zero_point, op.b_zero_point], np.int32), "zps")
    _emit_pack(k, lay, k.ins[0], k.ins[1], zps)
    mult_g = k.mod.table(np.full(lay.n_ob * spec.lanes, op.multiplier, np.int32), "mult")
    shift_g = k.mod.table(np.full(lay.n_ob * spec.lanes, op.shift, np.int32), "shift")
    _emit_gemm(k, lay, 1, mult_g, shift_g, None)


def emit_dynamic_matmul(node: Node, k, after_clamp=None, addend=None) -> None:
    """DynamicMatMul: both operands quantized per run (kernels_float's dynamic quantize, into the
    scratch), the zero points passed to the packs at run time, and the GEMM's epilogue
    y = float32(acc) * float32(s_a * s_b), clamped to [act_min, act_max] (module docstring; the
    int32 acc is exact under the same bound, |q - zp| <= 255). A fused node (kernels_dynamic_fused.py)
    passes `addend`, a float32 [N] input copied per run next to the factors (0 past N), and
    after_clamp(b, y, at): its float operations on the clamped vector y, `at` its block's addend."""
    from . import kernels_float
    if not gemm_form(node, k.graph):
        assert addend is None, "a fused DynamicMatMul needs the GEMM form (why_not_dynamic_matmul_scale_add)"
        return kernels_float.emit_dynamic_matmul(node, k)
    b, op = k.b, node.op
    spec = k.spec = run_time_spec(k.spec)
    a_shape, b_shape = k.graph.types[node.inputs[0]].shape, k.graph.types[node.inputs[1]].shape
    na, nb = int(np.prod(a_shape)), int(np.prod(b_shape))
    n_ob = -(-b_shape[-1] // spec.lanes)
    # the scratch: b quantized; kernels_dynamic_pack's parameters of a, of b; za, zb (int32), factor[OB * lanes]
    q_b, p_a = 0, abi.align(nb)
    p_b = p_a + abi.align(PARAMS_BYTES)
    params = p_b + abi.align(PARAMS_BYTES)
    n_pad = n_ob * spec.lanes
    lay = layout(node, k.graph, spec, params + abi.align(64 + (8 if addend is not None else 4) * n_pad))
    k.reserve(lay.end)
    qb, pa, pb, par = (_ptr(b, k.scratch, at) for at in (q_b, p_a, p_b, params))
    # kernels_dynamic_pack: both operands' threaded min/max in one parallel_for, then their parameters
    parts = [minmax_part(k, k.ins[0], na, pa), minmax_part(k, k.ins[1], nb, pb)]
    run_parts(k, "dq_minmax", parts)
    s_a, zp_a = finish_params(k, pa, parts[0].jobs)
    s_b, zp_b = finish_params(k, pb, parts[1].jobs)
    b.store(b.trunc(zp_a, I32), _ptr(b, par, 0))
    b.store(b.trunc(zp_b, I32), _ptr(b, par, 4))
    b.store(b.trunc(zp_b, I32), _ptr(b, pa, 8))            # a's row terms: -zb * sum_k qa
    factor, factor_at = b.fmul(s_a, s_b), _ptr(b, par, 64)
    with loop(b, n_pad, "f") as i:
        b.store(factor, b.gep(factor_at, [i], source_etype=F32))
    if addend is not None:                                  # m[n] after the factors, 0.0 past N
        addend_at, n = _ptr(b, par, 64 + 4 * n_pad), b_shape[-1]
        with loop(b, n_pad, "m") as i:
            live = b.icmp_signed("<", i, c64(n))
            v = b.load(b.gep(addend, [b.select(live, i, c64(0))], source_etype=F32), typ=F32)
            b.store(b.select(live, v, ir.Constant(F32, 0.0)), b.gep(addend_at, [i], source_etype=F32))
    # every A matrix's rows are the rows of one [n_a * M, K] matrix: quantized and packed in one pass;
    # in the same parallel_for, one job per B matrix quantizes it, then packs it (pack_b)
    run_parts(k, "dq_pack", [quantize_pack_part(k, k.ins[0], lay.n_a * lay.m, lay.kd, lay.n_kq * spec.depth,
                                                lay.a_stride, _ptr(b, k.scratch, lay.a_base), pa),
                             _quantize_pack_b_part(k, lay, k.ins[1], qb, pb, par)])
    epilogue = _float_epilogue(k, op, lay.n)
    if addend is not None:
        inner = epilogue

        def epilogue(b, acc, r, j, out, factor, live):
            at = _ptr(b, factor, 4 * (n_pad + j * spec.lanes))
            inner(b, acc, r, j, out, factor, live, after_clamp=lambda y: after_clamp(b, y, at))
    _emit_gemm(k, lay, 4, params + 64, params + 64, epilogue)


def _quantize_pack_b_part(k, lay: Layout, src, qb, pb, zps) -> Part:
    """Job j < n_b: B matrix j quantized (kernels_dynamic_pack.quantize_range, from the parameters at pb)
    into qb, then packed with its column terms (pack_b; zps: int32 za, zb), as _emit_pack's B jobs."""
    spec = k.spec
    b_fn = pack_b(k, lay.kd, lay.n, lay.n_kq)
    size, w_bytes, c_bytes = lay.kd * lay.n, lay.w_bytes(spec), lay.c_bytes(spec)

    def body(b, ptrs, j):
        x, q, p, scratch, zp = ptrs
        quantize_range(k, b, Quantizer(k, b, p), x, q, b.mul(j, c64(size)), size)
        za = b.load(zp, typ=I32, align=4)
        zb = b.load(_ptr(b, zp, 4), typ=I32, align=4)
        b.call(b_fn, [_ptr(b, q, b.mul(j, c64(size))),
                      _ptr(b, scratch, b.add(c64(lay.w_base), b.mul(j, c64(w_bytes)))),
                      _ptr(b, scratch, b.add(c64(lay.c_base), b.mul(j, c64(c_bytes)))), za, zb])
    return Part(lay.n_b, [src, qb, pb, k.scratch, zps], body)


def _float_epilogue(k, op, o_total: int):
    """store(b, acc, r, j, out, factor, live): y = float32(acc) * factor, clamped, as float32 at
    row r, block j (masked when live < lanes)."""
    lanes = k.spec.lanes
    vf = ir.VectorType(F32, lanes)
    masked_store = k.mod.intrinsic(f"llvm.masked.store.v{lanes}f32.p0", VOID,
                                   [vf, PTR, I32, ir.VectorType(ir.IntType(1), lanes)])

    def store(b, acc, r, j, out, factor, live, after_scale=None, after_clamp=None, dest=None):
        y = b.fmul(b.sitofp(acc, vf), b.load(_ptr(b, factor, 4 * j * lanes), typ=vf, align=4))
        if after_scale is not None:          # DynamicDense's bias (kernels_dynamic_dense.py)
            y = after_scale(y)
        if op.act_min is not None:
            lo = ir.Constant(vf, [float(np.float32(op.act_min))] * lanes)
            y = b.select(b.fcmp_ordered("<", y, lo), lo, y)
        if op.act_max is not None:
            hi = ir.Constant(vf, [float(np.float32(op.act_max))] * lanes)
            y = b.select(b.fcmp_ordered(">", y, hi), hi, y)
        if after_clamp is not None:          # a fused float epilogue (kernels_dynamic_fused.py)
            y = after_clamp(y)
        # dest: where a split output's block goes (kernels_dynamic_split.py)
        dst = _ptr(b, out, 4 * (r * o_total + j * lanes)) if dest is None else dest(b, r, j, out, factor)
        if live < lanes:
            b.call(masked_store, [y, dst, ir.Constant(I32, 4), _mask(lanes, live)])
        else:
            b.store(y, dst, align=4)
    return store


def _emit_pack(k, lay: Layout, a_src, b_src, zps, a_packed: bool = False) -> None:
    """Phase 1: job i < n_a packs A matrix i, job n_a + j packs B matrix j; zps: int32 (za, zb).
    a_packed: A is packed already (DynamicMatMul: kernels_dynamic_pack), only the B jobs run."""
    spec = k.spec
    a_fn = pack_a(k, lay.m, lay.kd, lay.n_kq * spec.depth, lay.a_stride)
    b_fn = pack_b(k, lay.kd, lay.n, lay.n_kq)
    f, b, (a_in, b_in, scratch, zp), i = job_function(k.mod, "qmatmul_pack", 4)
    first = lay.n_a if a_packed else 0
    i = b.add(i, c64(first))
    za = b.load(zp, typ=I32, align=4)
    zb = b.load(_ptr(b, zp, 4), typ=I32, align=4)
    w_bytes, c_bytes = lay.w_bytes(spec), lay.c_bytes(spec)
    with b.if_else(b.icmp_signed("<", i, c64(lay.n_a))) as (then, otherwise):
        with then:
            b.call(a_fn, [_ptr(b, a_in, b.mul(i, c64(lay.m * lay.kd))),
                          _ptr(b, scratch, b.add(c64(lay.a_base), b.mul(i, c64(lay.a_bytes)))), zb])
        with otherwise:
            j = b.sub(i, c64(lay.n_a))
            b.call(b_fn, [_ptr(b, b_in, b.mul(j, c64(lay.kd * lay.n))),
                          _ptr(b, scratch, b.add(c64(lay.w_base), b.mul(j, c64(w_bytes)))),
                          _ptr(b, scratch, b.add(c64(lay.c_base), b.mul(j, c64(c_bytes)))), za, zb])
    b.ret_void()
    a_src = b_src if a_src is None else a_src
    parallel_for(k.mod, k.b, f, [a_src, b_src, k.scratch, zps], lay.n_a + lay.n_b - first)


def even_tiles(m: int, n_ob: int, tiles: dict[int, int]) -> dict[int, int]:
    """The micro-kernel shape {NR: MR} of the most accumulators among those that split m rows and
    n_ob blocks with no remainder (M = 128 tokens, 24 / 72 / 96 blocks -> 8 x 3, where 6 x 4 leaves a
    2-row tile: DynamicDense 1 % faster per node at 1 thread; whole-row jobs of equal work), else
    `tiles` itself (gemm_plan's choice)."""
    even = [(mr * nr, nr, mr) for nr, mr in tiles.items() if nr <= n_ob and m % mr == 0 and n_ob % nr == 0]
    if not even:
        return tiles
    _, nr, mr = max(even)
    return {nr: mr}


def _emit_gemm(k, lay: Layout, out_size: int, mult, shift, epilogue, w_table=None, rows=None,
               pipeline: bool = False) -> None:
    """Phase 2: jobs over (batch, chunk of NR blocks, group of row tiles), kernels_dot.gemm_plan's
    split; out_size: bytes per output element (1: int8, requantized; 4: float32, `epilogue`);
    mult, shift: int32 per channel, constant tables or (an int) byte offsets in the scratch;
    w_table: the packed weights as a constant table (DynamicDense) instead of B in the scratch.
    rows: (ptrs, done, tiles) for a single matrix: each job is `tiles` row tiles over every chunk, so
    it holds whole output rows [r0, r1) when it calls done(b, values of ptrs, r0, r1) (a fused
    DynamicDenseAddNorm's LayerNorm on rows still in cache; one fork-join for both).
    pipeline: each full row tile's epilogue runs inside the next tile's depth loop (kernels_pipelined.py)."""
    spec, op = k.spec, k.node.op
    m, n, n_kq, a_stride, lanes, wblock = lay.m, lay.n, lay.n_kq, lay.a_stride, spec.lanes, spec.weight_block
    batches = lay.a_idx.size
    smmla = spec.instruction == "smmla"
    arm_tiles = {"smmla": kernels_mmla.MR_FOR_NR, "smull": kernels_neon.MR_FOR_NR}
    tiles = arm_tiles.get(spec.instruction)
    if rows is not None or w_table is not None:    # DynamicDense: tiles that split M and N evenly
        default = kernels_dot.MR_FOR_NR[max(r for r in kernels_dot.MR_FOR_NR if r <= spec.registers)]
        tiles = even_tiles(m, lay.n_ob, tiles or default)
    plan = kernels_dot.gemm_plan(m, lay.n_ob, batches, n_kq * spec.depth, lanes, spec.registers, tiles)
    mr, nr, n_tiles, n_chunks = plan["mr"], plan["nr"], plan["n_tiles"], plan["n_chunks"]
    tiles_per_job, n_groups = plan["tiles_per_job"], plan["n_groups"]
    if rows is not None:                        # rows[2] row tiles a job, over every chunk
        tiles_per_job = rows[2]
        n_groups = -(-n_tiles // tiles_per_job)
    else:                                       # groups of equal row tiles (job_split.tile_groups)
        tiles_per_job = tile_groups(n_tiles, n_groups)
        n_groups = -(-n_tiles // tiles_per_job)
    mr_tail, nr_last = m - (n_tiles - 1) * mr, lay.n_ob - (n_chunks - 1) * nr
    live_last = n - (lay.n_ob - 1) * lanes
    variants = {}
    pp = kernels_pipelined.Pipeline(k, mr, n_kq, a_stride, n, live_last, lanes, epilogue) \
        if pipeline and kernels_pipelined.usable(spec, epilogue, rows, tiles_per_job) else None

    def variant(rows, cols, last):
        key = (rows, cols, last)
        if key not in variants:
            live = live_last if last else lanes
            kernel = kernels_mmla.micro_kernel if smmla else kernels_dot._micro_kernel
            variants[key] = kernel(k, "qmm_tile", rows, cols, n_kq, a_stride, n, live, op, row_terms=True,
                                   epilogue=epilogue)
        return variants[key]

    a_idx_g = k.mod.table(lay.a_idx.astype(np.int32), "a_idx")
    b_idx_g = k.mod.table(lay.b_idx.astype(np.int32), "b_idx")
    row_ptrs = [] if rows is None else list(rows[0])
    assert rows is None or batches == 1, "whole-row jobs of a batched product"
    f, b, vals, i = job_function(k.mod, "qmatmul_job", 2 + len(row_ptrs))
    scratch, out_ptr = vals[:2]
    if rows is None:
        per_bt = n_chunks * n_groups
        bt = b.sdiv(i, c64(per_bt))
        tg = b.srem(i, c64(n_groups))
    else:
        bt, tg = c64(0), i
    ai = b.sext(b.load(b.gep(a_idx_g, [bt], source_etype=I32), typ=I32), I64)
    bi = b.sext(b.load(b.gep(b_idx_g, [bt], source_etype=I32), typ=I32), I64)
    a_at = _ptr(b, scratch, b.add(c64(lay.a_base), b.mul(ai, c64(lay.a_bytes))))
    t0 = b.mul(tg, c64(tiles_per_job))
    t1 = b.add(t0, c64(tiles_per_job))
    full_tiles = m // mr
    t_end = b.select(b.icmp_signed("<", t1, c64(full_tiles)), t1, c64(full_tiles))
    n_full = b.select(b.icmp_signed(">", t_end, t0), b.sub(t_end, t0), c64(0))

    def one_chunk(chunk):
        blk = b.mul(chunk, c64(nr))
        w_at = _ptr(b, scratch, b.add(c64(lay.w_base), b.add(b.mul(bi, c64(lay.w_bytes(spec))),
                                                             b.mul(blk, c64(n_kq * wblock))))) \
            if w_table is None else _ptr(b, w_table, b.mul(blk, c64(n_kq * wblock)))
        c_at = _ptr(b, scratch, b.add(c64(lay.c_base), b.add(b.mul(bi, c64(lay.c_bytes(spec))),
                                                             b.mul(blk, c64(4 * lanes)))))
        q_at = [c_at] + [_ptr(b, scratch, b.add(c64(t), b.mul(blk, c64(4 * lanes)))) if isinstance(t, int)
                         else _ptr(b, t, b.mul(blk, c64(4 * lanes))) for t in (mult, shift)]
        out_at = _ptr(b, out_ptr, b.mul(b.add(b.mul(bt, c64(m * n)), b.mul(blk, c64(lanes))), c64(out_size)))

        def call(rows, cols, last, p0):
            b.call(variant(rows, cols, last), [_ptr(b, a_at, b.mul(p0, c64(a_stride))), w_at,
                                               _ptr(b, out_at, b.mul(p0, c64(n * out_size))), *q_at])

        def run(cols, last):
            if pp is None or not pp.run(b, n_full, b.mul(t0, c64(mr)), cols, last, a_at, w_at, out_at, q_at,
                                        out_size):
                with loop(b, n_full, "tile") as dt:
                    call(mr, cols, last, b.mul(b.add(t0, dt), c64(mr)))
            if mr_tail < mr:
                with b.if_then(b.icmp_signed("==", tg, c64(n_groups - 1))):
                    call(mr_tail, cols, last, c64((n_tiles - 1) * mr))
        kernels_dot.run_chunk(b, chunk, n_chunks, run, nr, nr_last)

    if rows is None:
        one_chunk(b.sdiv(b.srem(i, c64(per_bt)), c64(n_groups)))
    else:
        with loop(b, n_chunks, "chunk") as chunk:
            one_chunk(chunk)
        r1 = b.mul(t1, c64(mr))                 # the last group ends at m (its tail tile included)
        rows[1](b, vals[2:], b.mul(t0, c64(mr)), b.select(b.icmp_signed("<", r1, c64(m)), r1, c64(m)))
    b.ret_void()
    jobs = n_groups if rows is not None else batches * n_chunks * n_groups
    parallel_for(k.mod, k.b, f, [k.scratch, k.outs[0], *row_ptrs], jobs)
