"""Dot-product kernels: QConv2D, QConvTranspose2D, QDense on the target's int8 dot instruction.

All three are one GEMM over an im2col view (tables.py): output pixel p, tap t, group g read the
input channels [g*Cg, (g+1)*Cg) of pixel taps[p, t]. Row p of group g's activation matrix A_g is

    u[k] = x + offset               tap inside the input   (offset 128: a u8 operand, VPDPBUSD)
    u[k] = pad_value + offset       tap in the padding     (pad_value: zp_in; see below)

(k = t*Cg + c, K = T*Cg, padded to Kpad, a multiple of the instruction's depth; the padding bytes
meet zero weights), and y[p, o] = requantize(bias'[o] + sum_k u[k] * w[o, k], multiplier[o],
shift[o], output_zero_point, qmin, qmax).

Folded constants (c * sum(w) first, as fixedpoint.max_abs_accumulator requires):
  QConv2D / QDense: padding reads zp_in (bias holds -zp_in * sum(w)): bias' = bias - offset * sum(w)
  QConvTranspose2D: acc = bias + sum over valid taps (x - zp_in) w; pads hold zp_in, so
                    bias' = bias - (zp_in + offset) * sum(w)
Overflow: lanes wrap modulo 2^32 (non-saturating instruction) and only the final sum, bounded by
K * 127 * 255 + |bias| < 2^31 (lower_integer proves it), must fit: it is exact, whatever the
order of the partial sums.

Two phases per node, each a parallel_for over independent jobs (runtime/llvm/pool.c; a job
writes its own rows/outputs only, computed the same way on any thread: results do not depend on
the thread count):
  1. pack: A_g = im2col of x with the offset applied, [G][P][Kpad] bytes in the kernel's scratch,
     jobs over pixel ranges. Skipped when A is x itself (offset 0, one group, 1x1 window reading
     every pixel in order or Dense, K a multiple of depth: the SDOT target's 1x1 convs), and on
     x86 for the same layers, whose offset 128 the micro-kernel applies to each broadcast word of
     x as an XOR with 0x80808080 (x + 128 = x ^ 0x80 as a u8 byte; flip). With one
     group and at most FUSED_PACK_CHUNKS chunks of output blocks, the pack is fused into phase 2
     instead: each GEMM job packs a tile's MR rows into a buffer on its stack right before the
     micro-kernel reads them (no pass over a whole A in memory, one fork-join fewer per node; a
     tile is packed once per chunk, so few chunks only).
  2. GEMM: register-blocked micro-kernels. A tile of MR pixels x NR output blocks (NR * lanes
     channels) keeps MR*NR int32 accumulator vectors in registers; per depth-byte step kq it
     broadcasts each pixel's `depth` bytes of A and multiplies them by NR weight vectors
     (MR*NR dot instructions per MR + NR loads). MR x NR: 12 x 1, 12 x 2, 8 x 3, 6 x 4 (at most 24
     accumulators + NR weights + a broadcast in the 32 vector registers of AVX-512 and AArch64);
     10 x 1, 5 x 2, 3 x 3 in the 16 ymm registers of AVX2 and AVX-VNNI (MR_FOR_NR).
     Jobs = (group, chunk of NR output blocks, group of pixel tiles): the chunk's weight panel
     (KQ * NR * block bytes) stays in cache while the job walks its pixel tiles; a node whose weights
     exceed CHUNK_SPLIT_WEIGHT_BYTES (they come from L3 every run) has one job per chunk, over all
     its tiles, so that each panel is read by one core only. The last pixel
     tile (P % MR rows) and the last chunk (OB % NR blocks; its last block may hold fewer than
     `lanes` real channels: masked store) are separate micro-kernel variants, all sizes static.
     A variant is one function per module and shape class (shared_tile: the output row stride and
     the requantize constants are arguments), its requantize and store one tile_requantize per
     class (kernels_requantize.py): nodes of one class share the code LLVM compiles.
AVX2 (no dot instruction, dots_x86.py): a node's form is chosen at build time from its weights;
in the fast form with corrections the micro-kernel runs short loops over each block's residual
steps (dots_x86.Corrections) before it requantizes.
Weights are packed at build time in the instruction's layout [G][OB][KQ][lanes][depth]
(VNNI layout: 16 channels x 4 bytes per zmm for VPDPBUSD; 4 x 4 per q register for SDOT).
Depthwise QConv2D has its own kernel, vectorized across channels: kernels_depthwise.py.
Without SDOT (arm-neon) the dot step is kernels_neon.py's SMULL/SMLAL2/SADALP sequence, with its own
weight byte order and smaller tiles; with SMMLA (arm-i8mm) kernels_mmla.micro_kernel replaces the
micro-kernel (pixel pairs x channel pairs, depth 8) inside the same jobs.
The micro-kernel itself (the MR x NR tile, shared_tile, row_term) is kernels_tile.py; this module
keeps the weight packing, the job plan (gemm_plan), the im2col pack and the emit_dot driver.
"""
from __future__ import annotations

import numpy as np
from llvmlite import ir

from ... import abi
from ...errors import UnsupportedModelError
from ...ir import Node, qops
from . import dots, kernels_mmla, kernels_neon, tables
from . import strided
from .irgen import (I8, I32, I64, PTR, VOID, c64, job_function, load, load_i64, loop, parallel_for,
                    store, var)
from .kernels_depthwise import _dot_layer, _masked_io, _mask, _n_jobs, _per_block, _pixel_jobs, _ptr, emit_depthwise
# the micro-kernel (kernels_tile.py); its names stay importable from here (kernels_mmla, kernels_qmatmul, tests)
from .kernels_tile import OUT_OF_LINE_REQUANTIZE, _micro_kernel, right_shifts_only, row_term, shared_tile  # noqa: F401

# pixels per tile (MR) for NR output blocks per tile, by the ISA's vector registers (spec.registers):
# 32 (AVX-512, AArch64): MR * NR <= 24 accumulators + NR weights + a broadcast; 16 (AVX2, AVX-VNNI:
# ymm0-15): MR * NR <= 10, leaving room for VPMADDUBSW's product and its constant of ones
MR_FOR_NR = {32: {1: 12, 2: 12, 3: 8, 4: 6}, 16: {1: 10, 2: 5, 3: 3}}
FUSED_PACK_CHUNKS = 4                    # pack A tile by tile inside the GEMM jobs up to this many channel chunks
FUSED_PACK_BYTES = 64 * 1024             # ... and this large a tile (a stack buffer of the job)
# weights larger than this (about half a core's L2) come from L3 at every run: such a node's jobs are
# its chunks of output blocks, each over every pixel tile, so that each chunk's weight panel is read
# by one core once, not by both cores once per group of tiles; when it has CHUNK_JOBS chunks or more
CHUNK_SPLIT_WEIGHT_BYTES = 512 * 1024
CHUNK_JOBS = 8


def _is_depthwise(node, graph) -> bool:
    w_shape = graph.types[node.inputs[1]].shape
    c_in = graph.types[node.inputs[0]].shape[-1]
    return isinstance(node.op, qops.QConv2D) and node.op.group == c_in == w_shape[0] and w_shape[3] == 1


def pack_weights(w: np.ndarray, groups: int, lanes: int, depth: int) -> tuple[np.ndarray, int, int]:
    """[O, ...] int8 -> the dot instruction's layout [G][OB][KQ][lanes][depth] (zero-padded), with
    OB = ceil(Og / lanes) output blocks and KQ = ceil(K / depth) steps: one instruction multiplies
    `depth` consecutive patch bytes (broadcast to every lane) by `lanes` output channels' weights."""
    o_total = w.shape[0]
    og, kk = o_total // groups, int(np.prod(w.shape[1:]))
    ob, kq = -(-og // lanes), -(-kk // depth)
    padded = np.zeros((groups, ob * lanes, kq * depth), np.int8)
    padded[:, :og, :kk] = w.reshape(groups, og, kk)
    packed = padded.reshape(groups, ob, lanes, kq, depth).transpose(0, 1, 3, 2, 4)
    return np.ascontiguousarray(packed), ob, kq


def gemm_plan(pixels: int, n_ob: int, groups: int, kpad: int, lanes: int, registers: int = 32,
              tiles: dict[int, int] | None = None) -> dict:
    """Tile sizes and the job split of the GEMM phase (all static). tiles: NR -> MR of the
    instruction's micro-kernel (default: MR_FOR_NR of the register count)."""
    tiles = tiles or MR_FOR_NR[max(r for r in MR_FOR_NR if r <= registers)]
    nr = min(n_ob, max(tiles))
    mr = min(tiles[nr], pixels)
    n_tiles, n_chunks = -(-pixels // mr), -(-n_ob // nr)
    macs = pixels * n_ob * lanes * kpad * groups
    wanted = _n_jobs(macs, n_tiles * n_chunks * groups)
    if groups * n_ob * lanes * kpad > CHUNK_SPLIT_WEIGHT_BYTES and groups * n_chunks >= CHUNK_JOBS:
        wanted = min(wanted, groups * n_chunks)   # one job per chunk: every tile of it
    per_chunk = max(1, -(-wanted // (groups * n_chunks)))
    tiles_per_job = -(-n_tiles // per_chunk)
    return {"mr": mr, "nr": nr, "n_tiles": n_tiles, "n_chunks": n_chunks, "tiles_per_job": tiles_per_job,
            "n_groups": -(-n_tiles // tiles_per_job)}


def run_chunk(b, chunk, n_chunks: int, run, nr: int, nr_last: int) -> None:
    """run(cols, last) for the job's chunk of NR blocks: the last chunk has nr_last blocks, the
    others nr (one branch on the run-time chunk index, none when there is one chunk)."""
    if n_chunks == 1:
        run(nr_last, True)
        return
    with b.if_else(b.icmp_signed("==", chunk, c64(n_chunks - 1))) as (then, otherwise):
        with then:
            run(nr_last, True)
        with otherwise:
            run(nr, False)


def emit_dot(node: Node, k, epilogue=None) -> None:
    """Pack (unless A is x itself), then the register-blocked GEMM; see the module docstring.
    epilogue: kernels_residual.ResidualEpilogue (a QConv2DAdd; not for depthwise or SMMLA): its
    tile function runs on each tile right after the micro-kernel stored it (still in L1)."""
    node, graph, spec = k.node, k.graph, k.spec
    if _is_depthwise(node, graph):
        assert epilogue is None, "a residual epilogue of a depthwise conv"
        return emit_depthwise(node, k)
    op = node.op
    w = graph.constants[node.inputs[1]].astype(np.int64)
    bias = graph.constants[node.inputs[2]].astype(np.int64)
    taps, cg, groups, pad_value, extra = _dot_layer(node, graph)
    o_total = w.shape[0]
    og = o_total // groups
    # the bytes between output pixels: o_total, or the row stride of a strided Concat slice (strided.py)
    out_stride = strided.out_stride(node, graph, o_total)
    assert epilogue is None or out_stride == o_total, "a residual epilogue reads its output densely"
    kk = int(np.prod(w.shape[1:]))
    folded = bias - (spec.activation_offset + extra) * w.reshape(o_total, kk).sum(axis=1)
    if folded.size and (folded.min() < -2**31 or folded.max() >= 2**31):
        raise UnsupportedModelError(f"node {node.name!r} ({op.kind}): the folded bias does not fit int32")
    lanes, depth = spec.lanes, spec.depth
    packed, n_ob, n_kq = pack_weights(w.astype(np.int8), groups, lanes, depth)
    if spec.instruction == "smlal":   # arm-neon: its byte order and the int16 form these weights allow
        packed, spec = kernels_neon.prepare(packed, spec)
        k.spec = spec
    kpad = n_kq * depth
    bias_g = k.mod.table(_per_block(folded, groups, n_ob, lanes), "bias")
    mult_g = k.mod.table(_per_block(graph.constants[node.inputs[3]], groups, n_ob, lanes), "mult")
    shift_g = k.mod.table(_per_block(graph.constants[node.inputs[4]], groups, n_ob, lanes), "shift")
    x_shape = graph.types[node.inputs[0]].shape
    pixels = int(np.prod(x_shape[:-1])) if taps is None else taps.shape[0]
    c_in = x_shape[-1]
    identity = taps is None or (taps.shape[1] == 1 and np.array_equal(taps[:, 0], np.arange(pixels) * c_in))
    direct = spec.activation_offset == 0 and groups == 1 and identity and kk == kpad and cg == c_in
    smmla = spec.instruction == "smmla"   # arm-i8mm: pixel-pair x channel-pair tiles (kernels_mmla.py)
    arm_tiles = {"smmla": kernels_mmla.MR_FOR_NR, "smlal": kernels_neon.MR_FOR_NR, "smull": kernels_neon.MR_FOR_NR}
    plan = gemm_plan(pixels, n_ob, groups, kpad, lanes, spec.registers, arm_tiles.get(spec.instruction))
    mr, nr, n_tiles, n_chunks = plan["mr"], plan["nr"], plan["n_tiles"], plan["n_chunks"]
    spec, packed, fix = dots.plan_node(spec, node, graph, packed, pad_value)   # this node's form of the step
    k.spec, block = spec, spec.weight_block
    # A is x itself with the u8 offset applied in the micro-kernel (an XOR per broadcast word): a 1x1
    # conv or a Dense whose rows are whole depth steps, on the plain micro-kernel (no AVX2 corrections,
    # which read A's bytes themselves), with 2 output blocks or more (NR = 1 tiles broadcast once per
    # dot: the XOR and the register broadcast cost more than the pack saves, measured 1.05x)
    flip = (not direct and spec.activation_offset == 128 and fix is None and not smmla and groups == 1
            and identity and kk == kpad and cg == c_in and n_ob >= 2)
    w_g = k.mod.table(packed, "w")
    scratch = 0
    fused = None
    if direct or flip:
        a_base = k.ins[0]
    else:
        rows = isinstance(op, qops.QConv2D) and groups == 1 and taps is not None and op.dilations[1] == 1
        pack_fn = _pack_function(k, taps, pixels, cg, groups, kpad, pad_value, row_taps=w.shape[2] if rows else 0)
        if groups == 1 and n_chunks <= FUSED_PACK_CHUNKS and mr * kpad <= FUSED_PACK_BYTES:
            fused, a_base = pack_fn, k.ins[0]
        else:
            a_base = k.scratch
            scratch = groups * pixels * kpad
            _emit_pack(k, pack_fn, pixels, 1 if taps is None else taps.shape[1], cg, groups)

    tiles_per_job, n_groups = plan["tiles_per_job"], plan["n_groups"]
    mr_tail, nr_last = pixels - (n_tiles - 1) * mr, n_ob - (n_chunks - 1) * nr
    live_last = og - (n_ob - 1) * lanes
    variants = {}

    def variant(rows, cols, last):
        """(the micro-kernel of a rows x cols tile, the arguments after its first six)"""
        key = (rows, cols, last)
        if key not in variants:
            live = live_last if last else lanes
            if smmla:
                variants[key] = kernels_mmla.micro_kernel(k, "tile", rows, cols, n_kq, kpad, out_stride, live, op), []
            elif fix is None:
                variants[key] = shared_tile(k, rows, cols, n_kq, kpad, out_stride, live, op, flip)
            else:
                variants[key] = _micro_kernel(k, "tile", rows, cols, n_kq, kpad, out_stride, live, op, fix), []
        return variants[key]

    f, b, (a_ptr, out_ptr, *res_ptr), i = job_function(k.mod, "gemm_job", 3 if epilogue else 2)
    per_g = n_chunks * n_groups
    g = b.sdiv(i, c64(per_g))
    chunk = b.sdiv(b.srem(i, c64(per_g)), c64(n_groups))
    tg = b.srem(i, c64(n_groups))
    blk = b.add(b.mul(g, c64(n_ob)), b.mul(chunk, c64(nr)))          # first block of the chunk
    w_at = _ptr(b, w_g, b.mul(blk, c64(n_kq * block)))
    q_at = [_ptr(b, t, b.mul(blk, c64(4 * lanes))) for t in (bias_g, mult_g, shift_g)]
    q_at += fix.job_args(k.mod, b, blk) if fix is not None else []
    out_at = _ptr(b, out_ptr, b.add(b.mul(g, c64(og)), b.mul(chunk, c64(nr * lanes))))
    res_at = [_ptr(b, p, b.add(b.mul(g, c64(og)), b.mul(chunk, c64(nr * lanes)))) for p in res_ptr]
    a_at = _ptr(b, a_ptr, b.mul(g, c64(pixels * kpad)))
    t0 = b.mul(tg, c64(tiles_per_job))
    t1 = b.add(t0, c64(tiles_per_job))
    full_tiles = pixels // mr
    t_end = b.select(b.icmp_signed("<", t1, c64(full_tiles)), t1, c64(full_tiles))
    n_full = b.select(b.icmp_signed(">", t_end, t0), b.sub(t_end, t0), c64(0))

    if fused is not None:
        with b.goto_entry_block():
            tile_buf = b.alloca(ir.ArrayType(I8, mr * kpad), name="a_tile")
            tile_buf.align = abi.WORKSPACE_ALIGN

    def a_rows(p0, rows: int):
        """the A rows of pixels p0 .. p0 + rows - 1: packed into this job's tile buffer now (fused)
        or read from the packed A"""
        if fused is None:
            return _ptr(b, a_at, b.mul(p0, c64(kpad)))
        b.call(fused, [a_ptr, tile_buf, p0, b.add(p0, c64(rows)), p0])
        return tile_buf

    def after_tile(p0, rows: int, cols: int, last: bool):
        """the epilogue's pass over the tile just stored (a QConv2DAdd's Add)"""
        if epilogue is not None:
            at = b.mul(p0, c64(o_total))
            epilogue.call_tile(k, b, _ptr(b, out_at, at), _ptr(b, res_at[0], at), rows, cols,
                               live_last if last else lanes, o_total)

    def run(cols, last):
        with loop(b, n_full, "tile") as dt:
            p0 = b.mul(b.add(t0, dt), c64(mr))
            fn, tail = variant(mr, cols, last)
            b.call(fn, [a_rows(p0, mr), w_at, _ptr(b, out_at, b.mul(p0, c64(out_stride))), *q_at, *tail])
            after_tile(p0, mr, cols, last)
        if mr_tail < mr:
            with b.if_then(b.icmp_signed("==", tg, c64(n_groups - 1))):
                p0 = c64((n_tiles - 1) * mr)
                fn, tail = variant(mr_tail, cols, last)
                b.call(fn, [a_rows(p0, mr_tail), w_at, _ptr(b, out_at, b.mul(p0, c64(out_stride))), *q_at, *tail])
                after_tile(p0, mr_tail, cols, last)
    run_chunk(b, chunk, n_chunks, run, nr, nr_last)
    b.ret_void()
    parallel_for(k.mod, k.b, f, [a_base, k.outs[0], *([epilogue.residual] if epilogue else [])],
                 groups * n_chunks * n_groups)
    k.reserve(abi.align(scratch))


def _pack_function(k, taps, pixels: int, cg: int, groups: int, kpad: int, pad_value: int, row_taps: int = 0):
    """pack(x, a, p0, p1, origin): A_g[p - origin, t*Cg + c] = x[taps[p, t] + g*Cg + c] + offset
    (pad_value + offset outside the input) for the pixels p0 <= p < p1, group g's rows at
    a + g * pixels * kpad. Bytes K..Kpad of a row stay as they are: they meet zero weights.

    row_taps = KW (a convolution with one group and dilation 1 along x): the KW taps of a kernel
    row whose first and last taps are inside the input read KW * C contiguous bytes, and their A
    bytes are contiguous too: one vector copy (full vectors, then one masked) instead of KW
    per-tap copies. Other rows (in the padding) take the per-tap path."""
    spec = k.spec
    n_taps = 1 if taps is None else taps.shape[1]
    c_in = k.graph.types[k.node.inputs[0]].shape[-1]
    taps_g = None if taps is None else k.mod.table(taps, "taps")
    offset = ir.Constant(I8, spec.activation_offset)
    pad_byte = ir.Constant(I8, (pad_value + spec.activation_offset) & 0xFF)
    f, b = k.mod.function(k.mod.unique("pack_rows"), VOID, [PTR, PTR, I64, I64, I64])
    x_ptr, a_ptr, p0, p1, origin = f.args

    def tap_copy(p, row, chan0, t):
        dst = _ptr(b, row, b.mul(t, c64(cg)))
        if taps_g is None:
            base = b.mul(p, c64(c_in))
            inside = ir.Constant(ir.IntType(1), 1)
        else:
            base = load_i64(b, taps_g, b.add(b.mul(p, c64(n_taps)), t), I32)
            inside = b.icmp_signed(">=", base, c64(0))
        with b.if_else(inside) as (then, otherwise):
            with then:
                src = _ptr(b, x_ptr, b.add(base, chan0))
                with loop(b, cg, "c") as c:
                    store(b, b.add(load(b, src, c, I8), offset), dst, c, I8)
            with otherwise:
                with loop(b, cg, "c") as c:
                    store(b, pad_byte, dst, c, I8)

    def run_copy(src, dst, n: int):
        vb = spec.block
        vt = ir.VectorType(I8, vb)
        add = ir.Constant(vt, [spec.activation_offset & 0xFF] * vb)
        for j in range(n // vb):
            v = b.load(_ptr(b, src, j * vb), typ=vt, align=1)
            b.store(b.add(v, add), _ptr(b, dst, j * vb), align=1)
        if n % vb:
            masked_load, masked_store = _masked_io(k.mod, vb, I8)
            at = n // vb * vb
            mask = _mask(vb, n % vb)
            v = b.call(masked_load, [_ptr(b, src, at), ir.Constant(I32, 1), mask, ir.Constant(vt, None)])
            b.call(masked_store, [b.add(v, add), _ptr(b, dst, at), ir.Constant(I32, 1), mask])

    with loop(b, b.sub(p1, p0), "p") as dp:
        p = b.add(p0, dp)
        rel = b.sub(p, origin)
        if row_taps and taps_g is not None:
            row = _ptr(b, a_ptr, b.mul(rel, c64(kpad)))
            with loop(b, n_taps // row_taps, "r") as r:
                t0 = b.mul(r, c64(row_taps))
                first = load_i64(b, taps_g, b.add(b.mul(p, c64(n_taps)), t0), I32)
                last = load_i64(b, taps_g, b.add(b.mul(p, c64(n_taps)), b.add(t0, c64(row_taps - 1))), I32)
                whole = b.and_(b.icmp_signed(">=", first, c64(0)),
                               b.icmp_signed("==", b.sub(last, first), c64((row_taps - 1) * c_in)))
                with b.if_else(whole) as (then, otherwise):
                    with then:
                        run_copy(_ptr(b, x_ptr, first), _ptr(b, row, b.mul(t0, c64(cg))), row_taps * cg)
                    with otherwise:
                        with loop(b, row_taps, "tx") as tx:
                            tap_copy(p, row, c64(0), b.add(t0, tx))
        else:
            with loop(b, groups, "g") as g:
                row = _ptr(b, a_ptr, b.mul(b.add(b.mul(g, c64(pixels)), rel), c64(kpad)))
                chan0 = b.mul(g, c64(cg))
                with loop(b, n_taps, "t") as t:
                    tap_copy(p, row, chan0, t)
    b.ret_void()
    return f


def _emit_pack(k, pack_fn, pixels: int, n_taps: int, cg: int, groups: int) -> None:
    """The whole A (every group's rows) in the kernel's scratch: pack_fn over pixel ranges, in jobs."""
    f, b, (x_ptr, a_ptr), p0, p1, n_jobs = _pixel_jobs(k, "pack_job", pixels, pixels * n_taps * cg * groups * 16)
    b.call(pack_fn, [x_ptr, a_ptr, p0, p1, c64(0)])
    b.ret_void()
    parallel_for(k.mod, k.b, f, [k.ins[0], k.scratch], n_jobs)


def why_not_matmul(node, graph) -> str | None:
    """Operands of rank 2 or more."""
    if min(graph.types[v].rank for v in node.inputs[:2]) < 2:
        return "1-D QMatMul operands are not supported by the llvm backend; reshape them to 2-D in the model"
    return None


def emit_matmul(node: Node, k) -> None:
    """QMatMul: acc = sum_k (a - a_zero_point) * (b - b_zero_point) per batch, then requantize.
    |a - zp|, |b - zp| <= 255: |acc| <= K * 65025, checked by lower_integer's bound."""
    node, graph, b = k.node, k.graph, k.b
    op = node.op
    a_shape, b_shape = graph.types[node.inputs[0]].shape, graph.types[node.inputs[1]].shape
    y_shape = graph.types[node.outputs[0]].shape
    m, kd, n = a_shape[-2], a_shape[-1], b_shape[-1]
    a_off, b_off = tables.matmul_batches(a_shape, b_shape, y_shape)
    a_g, b_g = k.mod.table(a_off, "aoff"), k.mod.table(b_off, "boff")
    requantize = k.mod.helper("requantize")
    za, zb = c64(op.a_zero_point), c64(op.b_zero_point)
    with loop(b, a_off.size, "bt") as bt:
        a0 = load_i64(b, a_g, bt, I32)
        b0 = load_i64(b, b_g, bt, I32)
        y0 = b.mul(bt, c64(m * n))
        with loop(b, m, "m") as mi:
            with loop(b, n, "n") as ni:
                acc = var(b, I64, c64(0), "acc")
                with loop(b, kd, "k") as ki:
                    av = b.sub(load_i64(b, k.ins[0], b.add(a0, b.add(b.mul(mi, c64(kd)), ki)), I8), za)
                    bv = b.sub(load_i64(b, k.ins[1], b.add(b0, b.add(b.mul(ki, c64(n)), ni)), I8), zb)
                    b.store(b.add(b.load(acc, typ=I64), b.mul(av, bv)), acc)
                y = b.call(requantize, [b.load(acc, typ=I64), c64(op.multiplier), c64(op.shift),
                                        c64(op.output_zero_point), c64(op.qmin), c64(op.qmax)])
                store(b, b.trunc(y, I8), k.outs[0], b.add(y0, b.add(b.mul(mi, c64(n)), ni)), I8)

