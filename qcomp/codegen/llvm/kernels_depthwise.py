"""Depthwise QConv2D (one input channel per group, one output per group), and the layer geometry,
vector and job helpers it shares with the dot kernels (kernels_dot.py).

Depthwise QConv2D (one input channel per group, one output per group: K = taps only) would fill
each dot block with a handful of useful bytes, so it has its own kernel, vectorized across
channels (`lanes` at a time) instead of K: acc[p, c] = bias[c] + sum_t xp[taps[p, t] + c] * w[t, c]
in int32 (xp reads zp_in in the padding, as QConv2D's spec), weights packed [T, C] as int32.
Per output pixel, up to DW_CHUNK channel blocks are accumulated in registers across the taps (the
tap's address and padding test shared by the chunk's blocks); jobs are pixel ranges. On x86 the
products go through VPDPWSSD (AVX2: VPMADDWD + add, dots.accumulate_pairs) on int16 instead (_emit_depthwise_wide: 2 * lanes channels per block,
the taps in pairs, two taps' bytes interleaved per channel so that every VPDPWSSD product is
useful, two accumulators per block, a row of zp_in bytes for the padding taps).
Each form's loop over a job's pixels is one function per module for each (channels, taps) class
(dw_rows, dw_wide_rows: the node's tables and zero points are its arguments), called by the nodes'
job functions: a model's depthwise nodes of one width share its code.
"""
from __future__ import annotations

import numpy as np
from llvmlite import ir

from ...ir import Node, qops
from . import dots, tables
from .irgen import (I8, I16, I32, I64, PTR, VOID, c64, job_function, lanes_of, load_i64, loop, parallel_for,
                    requantize_lanes, var)

DW_CHUNK = 8                             # depthwise channel blocks accumulated at once
DW_WIDE_CHUNK = 4                        # the same for VPDPWSSD's 2 * lanes-channel blocks (8 accumulators)
DW_PIXELS_MAX = 4                        # output pixels per step of the VPDPWSSD depthwise kernel
JOB_MACS = 150_000                       # work per parallel job, at least (a few microseconds)
MAX_JOBS = 64


def _n_jobs(macs: int, limit: int) -> int:
    return max(1, min(limit, MAX_JOBS, macs // JOB_MACS))


def _dot_layer(node, graph):
    """(taps [P, T] or None, Cg, groups, pad_value, extra_c) of a dot node."""
    op = node.op
    x_shape = graph.types[node.inputs[0]].shape
    y_shape = graph.types[node.outputs[0]].shape
    w_shape = graph.types[node.inputs[1]].shape
    if isinstance(op, qops.QDense):
        return None, x_shape[-1], 1, 0, 0
    _, oh, ow, _ = y_shape
    kernel = (w_shape[1], w_shape[2])
    if isinstance(op, qops.QConv2D):
        taps = tables.window_taps(x_shape, kernel, op.strides, op.pads, op.dilations, oh, ow)
        return taps, w_shape[3], op.group, op.input_zero_point, 0
    taps = tables.transposed_taps(x_shape, kernel, op.strides, op.pads, op.dilations, oh, ow)
    return taps, w_shape[3], op.group, op.input_zero_point, op.input_zero_point


def _per_block(a: np.ndarray, groups: int, ob: int, lanes: int) -> np.ndarray:
    """[O] -> [G, OB * lanes] int32 (zero-padded per group)."""
    og = a.size // groups
    out = np.zeros((groups, ob * lanes), np.int64)
    out[:, :og] = a.reshape(groups, og)
    return out.astype(np.int32)


def _masked_io(mod, lanes: int, elem):
    """(masked load, masked store) intrinsics of <lanes x elem>."""
    vt, vi1 = ir.VectorType(elem, lanes), ir.VectorType(ir.IntType(1), lanes)
    suffix = f"v{lanes}i{elem.width}"
    return (mod.intrinsic(f"llvm.masked.load.{suffix}.p0", vt, [PTR, I32, vi1, vt]),
            mod.intrinsic(f"llvm.masked.store.{suffix}.p0", VOID, [vt, PTR, I32, vi1]))


def _pixel_jobs(k, name: str, pixels: int, work: int):
    """A job function over pixel ranges: (function, builder, its 2 context pointers, first pixel,
    end pixel, job count), the job count from `work` (MAC-like units, _n_jobs)."""
    n_jobs = _n_jobs(work, pixels)
    per_job = -(-pixels // n_jobs)
    n_jobs = -(-pixels // per_job)
    f, b, ctx, i = job_function(k.mod, name, 2)
    p0 = b.mul(i, c64(per_job))
    p1 = b.select(b.icmp_signed("<", b.add(p0, c64(per_job)), c64(pixels)), b.add(p0, c64(per_job)), c64(pixels))
    return f, b, ctx, p0, p1, n_jobs


def _mask(lanes: int, live: int) -> ir.Constant:
    return ir.Constant(ir.VectorType(ir.IntType(1), lanes), [int(j < live) for j in range(lanes)])


def _ptr(b, base, offset):
    """base + offset bytes."""
    return b.gep(base, [offset if isinstance(offset, ir.Value) else c64(offset)], source_etype=I8)


def emit_depthwise(node: Node, k) -> None:
    """Channels in blocks of `lanes` (masked loads and stores at the last block), DW_CHUNK blocks
    per pass over the taps: acc = bias[block]; per tap, one address and one padding test:
    acc += (inside ? sext(x[tap, block]) : zp_in) * w[tap, block]; y = requantize lane-wise.
    |acc| <= T * 255 * 127 + |bias|: int32 (lower_integer's bound). x86 (VPDPWSSD) has its own
    kernel: _emit_depthwise_wide."""
    node, graph = k.node, k.graph
    op = node.op
    lanes = k.spec.lanes
    w = graph.constants[node.inputs[1]]
    c = w.shape[0]
    n_cb = -(-c // lanes)
    taps, _, _, _, _ = _dot_layer(node, graph)
    if k.spec.arch == "x86":
        return _emit_depthwise_wide(k, taps, w)
    pixels, n_taps = taps.shape
    w_t = np.zeros((n_taps, n_cb * lanes), np.int32)
    w_t[:, :c] = w.reshape(c, n_taps).T
    tables = [k.mod.table(_per_block(graph.constants[v], 1, n_cb, lanes), n)
              for v, n in zip(node.inputs[2:], ("bias", "mult", "shift"))]
    tables += [k.mod.table(w_t, "w_dw"), k.mod.table(taps, "taps")]                  # [T, CB * lanes], [P, T]
    rows = k.mod.shared(("dw_rows", k.spec, c, n_taps), lambda: _depthwise_rows(k, c, n_taps))
    f, b, (x_ptr, out_ptr), p0, p1, n_jobs = _pixel_jobs(k, "dw_job", pixels, pixels * n_taps * c)
    b.call(rows, [x_ptr, out_ptr, p0, p1, *tables,
                  *(ir.Constant(I32, v) for v in (op.input_zero_point, op.output_zero_point, op.qmin, op.qmax))])
    b.ret_void()
    parallel_for(k.mod, k.b, f, [k.ins[0], k.outs[0]], n_jobs)


def _depthwise_rows(k, c: int, n_taps: int) -> ir.Function:
    """dw_rows(x, out, p0, p1, bias, mult, shift, w, taps, zp_in, zp_out, qmin, qmax): emit_depthwise's
    pixels p0 .. p1 - 1, shared by the depthwise nodes of `c` channels and `n_taps` taps (their
    tables and zero points are its arguments; module docstring)."""
    lanes = k.spec.lanes
    n_cb = -(-c // lanes)
    vi32, vi8 = ir.VectorType(I32, lanes), ir.VectorType(I8, lanes)
    masked_load, masked_store = _masked_io(k.mod, lanes, I8)
    f, b = k.mod.function(k.mod.unique("dw_rows"), VOID, [PTR, PTR, I64, I64] + [PTR] * 5 + [I32] * 4)
    x_ptr, out_ptr, p0, p1, bias_g, mult_g, shift_g, w_g, taps_g, zp_in, zp_out, qmin, qmax = f.args
    zp_in = lanes_of(b, vi32, zp_in)

    def vec(table, index):
        return b.load(b.gep(table, [index], source_etype=I32), typ=vi32, align=4)

    def tap(p, t):
        """(inside the input?, the address of the tap's channel 0)"""
        base = load_i64(b, taps_g, b.add(b.mul(p, c64(n_taps)), t), I32)
        inside = b.icmp_signed(">=", base, c64(0))
        return inside, _ptr(b, x_ptr, b.select(inside, base, c64(0)))

    def x_block(src, cb, wide):
        at_c = _ptr(b, src, cb * lanes)
        live = min(lanes, c - cb * lanes)
        if live == lanes:
            xv = b.load(at_c, typ=vi8, align=1)
        else:
            xv = b.call(masked_load, [at_c, ir.Constant(I32, 1), _mask(lanes, live), ir.Constant(vi8, None)])
        return b.sext(xv, wide)
    with loop(b, b.sub(p1, p0), "p") as dp:
        p = b.add(p0, dp)
        for first in range(0, n_cb, DW_CHUNK):
            blocks = range(first, min(first + DW_CHUNK, n_cb))
            accs = [var(b, vi32, vec(bias_g, c64(cb * lanes)), "acc") for cb in blocks]
            with loop(b, n_taps, "t") as t:
                inside, src = tap(p, t)
                w_row = b.mul(t, c64(n_cb * lanes))
                for acc, cb in zip(accs, blocks):
                    xv = b.select(inside, x_block(src, cb, vi32), zp_in)
                    wv = vec(w_g, b.add(w_row, c64(cb * lanes)))
                    b.store(b.add(b.load(acc, typ=vi32), b.mul(xv, wv)), acc)
            for acc, cb in zip(accs, blocks):
                y = requantize_lanes(b, b.load(acc, typ=vi32), vec(mult_g, c64(cb * lanes)),
                                     vec(shift_g, c64(cb * lanes)), zp_out, qmin, qmax)
                dst = _ptr(b, out_ptr, b.add(b.mul(p, c64(c)), c64(cb * lanes)))
                live = min(lanes, c - cb * lanes)
                if live == lanes:
                    b.store(y, dst, align=1)
                else:
                    b.call(masked_store, [y, dst, ir.Constant(I32, 1), _mask(lanes, live)])
    b.ret_void()
    return f


def pair_channel(i: int, h: int) -> int:
    """The channel (within its block of 2 * lanes) of lane i of half h of a wide depthwise block:
    the byte unpack of two taps' rows (punpcklbw / punpckhbw, per 16-byte lane) puts channels
    16 * L + 0..7 (h = 0) and 16 * L + 8..15 (h = 1) of 16-byte lane L = i // 8 into the pairs."""
    return 16 * (i // 8) + 8 * h + i % 8


def _emit_depthwise_wide(k, taps: np.ndarray, w: np.ndarray) -> None:
    """Depthwise on VPDPWSSD (acc[j] += x[2j] * w[2j] + x[2j+1] * w[2j+1], int16 pairs into int32)
    with the taps in pairs: per pair of taps (t0, t1) and block of 2 * lanes channels, the two rows
    of input bytes are interleaved byte-wise (punpcklbw / punpckhbw: x[t0, ch], x[t1, ch] side by
    side), sign-extended to int16 and multiplied by the pair's weights w[t0, ch], w[t1, ch]:
    acc_h[i] += x[t0, ch] * w[t0, ch] + x[t1, ch] * w[t1, ch], ch = pair_channel(i, h), two
    accumulators (h = 0, 1) per block: every product is useful (an odd tap count pairs its last tap
    with zeros). The lane order of the accumulators is pair_channel's; bias, multiplier and shift are
    laid out in it, and the store puts the requantized bytes back in channel order (one shuffle).
    A tap in the padding reads a constant row of zp_in bytes instead of the input (one scalar select
    per tap and pixel, no branches). Per pixel, DW_WIDE_CHUNK blocks (half as many with 16 vector
    registers: AVX2, AVX-VNNI) accumulate across the taps (2 accumulators each); the taps are
    unrolled. AVX2 has no VPDPWSSD: VPMADDWD + add (dots.py)."""
    node, graph = k.node, k.graph
    op = node.op
    lanes = k.spec.lanes
    wide = 2 * lanes
    c = w.shape[0]
    n_cb = -(-c // wide)
    cpad = n_cb * wide
    pixels, n_taps = taps.shape
    n_pairs = -(-n_taps // 2)
    wt = np.zeros((2 * n_pairs, cpad), np.int16)              # [T (even), C]: an odd T's last pair has zeros
    wt[:n_taps, :c] = w.reshape(c, n_taps).T
    perm = np.array([[pair_channel(i, h) for i in range(lanes)] for h in (0, 1)])   # [2, lanes]
    blocks = wt.reshape(n_pairs, 2, n_cb, wide)               # [pair, tap of the pair, CB, channel]
    halves = np.zeros((n_pairs, n_cb, 2, lanes, 2), np.int16)  # [pair, CB, half, lane, tap of the pair]
    for h in (0, 1):
        halves[:, :, h, :, :] = blocks[:, :, :, perm[h]].transpose(0, 2, 3, 1)
    w_g = k.mod.table(halves.reshape(n_pairs, n_cb, 2, wide), "w_dw")

    def split(v):   # [C] -> [CB, half, lanes] int32, in pair_channel's order
        a = np.zeros(cpad, np.int64)
        a[:c] = graph.constants[v].reshape(-1)
        return a.reshape(n_cb, wide)[:, perm].astype(np.int32)
    bias_g, mult_g, shift_g = (k.mod.table(split(v), n) for v, n in zip(node.inputs[2:], ("bias", "mult", "shift")))
    zp_row = k.mod.table(np.full(cpad, op.input_zero_point, np.int8), "zp_row")
    right_shifts = bool(np.max(graph.constants[node.inputs[4]]) <= -1)
    taps_g = k.mod.table(taps, "taps")
    rows = k.mod.shared(("dw_wide_rows", k.spec, c, n_taps, right_shifts),
                        lambda: _depthwise_wide_rows(k, c, n_taps, right_shifts))
    f, b, (x_ptr, out_ptr), p0, p1, n_jobs = _pixel_jobs(k, "dw_job", pixels, pixels * n_taps * c)
    b.call(rows, [x_ptr, out_ptr, p0, p1, w_g, bias_g, mult_g, shift_g, zp_row, taps_g,
                  *(ir.Constant(I32, v) for v in (op.output_zero_point, op.qmin, op.qmax))])
    b.ret_void()
    parallel_for(k.mod, k.b, f, [k.ins[0], k.outs[0]], n_jobs)


def _depthwise_wide_rows(k, c: int, n_taps: int, right_shifts: bool) -> ir.Function:
    """dw_wide_rows(x, out, p0, p1, w, bias, mult, shift, zp_row, taps, zp_out, qmin, qmax):
    _emit_depthwise_wide's pixels p0 .. p1 - 1, shared by the depthwise nodes of `c` channels,
    `n_taps` taps and the same requantize form (their tables and zero points are its arguments)."""
    lanes = k.spec.lanes
    wide = 2 * lanes
    n_cb = -(-c // wide)
    n_pairs = -(-n_taps // 2)
    vi32, vw16, vx8 = ir.VectorType(I32, lanes), ir.VectorType(I16, wide), ir.VectorType(I8, wide)
    masked_load, masked_store = _masked_io(k.mod, wide, I8)
    # output channel j <- lane i of half h of the two requantized halves (pair_channel inverted)
    where = {pair_channel(i, h): h * lanes + i for h in (0, 1) for i in range(lanes)}
    interleave = ir.Constant(ir.VectorType(I32, wide), [where[j] for j in range(wide)])
    # the byte pairs of half h: (x[t0, ch], x[t1, ch]) for its lanes' channels (punpck[lh]bw)
    unpack = [ir.Constant(ir.VectorType(I32, wide), [pair_channel(j // 2, h) + (j % 2) * wide for j in range(wide)])
              for h in (0, 1)]
    f, b = k.mod.function(k.mod.unique("dw_wide_rows"), VOID, [PTR, PTR, I64, I64] + [PTR] * 6 + [I32] * 3)
    x_ptr, out_ptr, p0, p1, w_g, bias_g, mult_g, shift_g, zp_row, taps_g, zp_out, qmin, qmax = f.args

    def vec(table, cb, half, typ=vi32, elem=I32):
        """the lanes of block cb's half (0, 1: pair_channel) of a [CB, 2, lanes] table"""
        at = b.add(b.mul(cb, c64(2 * lanes)), c64(half * lanes)) if isinstance(cb, ir.Value) else \
            c64((cb * 2 + half) * lanes)
        return b.load(b.gep(table, [at], source_etype=elem), typ=typ, align=4)

    def chunk(ps, srcs, cb0, blocks: int, last_live: int):
        """blocks cb0 .. cb0 + blocks - 1 of the pixels ps (srcs: their tap addresses); the last
        block holds last_live real channels. Each weight vector is loaded once for all pixels."""
        cbs = [b.add(cb0, c64(j)) if isinstance(cb0, ir.Value) else c64(cb0 + j) for j in range(blocks)]
        accs = [[[vec(tabs["bias"], cb, h) for h in (0, 1)] for cb in cbs] for _ in ps]
        for t in range(n_pairs):
            for j, cb in enumerate(cbs):
                row = b.mul(b.add(c64(t * n_cb), cb), c64(2 * wide))
                wv = [b.load(b.gep(tabs["w"], [b.add(row, c64(h * wide))], source_etype=I16), typ=vw16, align=64)
                      for h in (0, 1)]
                for q in range(len(ps)):
                    rows = []
                    for tap in (2 * t, 2 * t + 1):
                        if tap >= n_taps:                   # an odd tap count: its last tap pairs with zeros
                            rows.append(ir.Constant(vx8, None))
                            continue
                        at = _ptr(b, srcs[q][tap], b.mul(cb, c64(wide)))
                        if j == blocks - 1 and last_live < wide:
                            rows.append(b.call(masked_load, [at, ir.Constant(I32, 1), _mask(wide, last_live),
                                                             ir.Constant(vx8, None)]))
                        else:
                            rows.append(b.load(at, typ=vx8, align=1))
                    for h in (0, 1):
                        x16 = b.sext(b.shuffle_vector(rows[0], rows[1], unpack[h]), vw16)
                        accs[q][j][h] = dots.accumulate_pairs(k.mod, b, k.spec, accs[q][j][h], x16, wv[h])
        for j, cb in enumerate(cbs):
            mults = [vec(mult_g, cb, h) for h in (0, 1)]
            shifts = [vec(shift_g, cb, h) for h in (0, 1)]
            for q, p in enumerate(ps):
                masked = j == blocks - 1 and last_live < wide   # (right_shifts: see _micro_kernel)
                ys = [requantize_lanes(b, accs[q][j][h], mults[h], shifts[h], tabs["zp"], tabs["qmin"], tabs["qmax"],
                                       even_odd=True, right_shifts=right_shifts and not masked) for h in (0, 1)]
                y = b.shuffle_vector(ys[0], ys[1], interleave)
                dst = _ptr(b, out_ptr, b.add(b.mul(p, c64(c)), b.mul(cb, c64(wide))))
                if j == blocks - 1 and last_live < wide:
                    b.call(masked_store, [y, dst, ir.Constant(I32, 1), _mask(wide, last_live)])
                else:
                    b.store(y, dst, align=1)

    def pixels_body(ps, full: bool, last: bool):
        """the full chunks (full) and/or the last, partial one (last) of the pixels ps"""
        # the tables' addresses pass through an empty asm: to LLVM they change every step, so it
        # cannot hoist the (loop-invariant) weight and bias loads out of the pixel loop, where
        # they would not fit in registers and go to a stack copy; they stay memory operands
        opaque = ir.FunctionType(PTR, [PTR])
        tabs["w"], tabs["bias"] = (b.asm(opaque, "", "=r,0", [t], side_effect=False, name="tab")
                                   for t in (w_g, bias_g))
        # the requantize constants (arguments: the kernel is shared) likewise: broadcast from a
        # register where they are used, not hoisted into vector registers the accumulators need
        tabs["zp"], tabs["qmin"], tabs["qmax"] = (b.asm(ir.FunctionType(I32, [I32]), "", "=r,0", [v],
                                                        side_effect=False, name="rq") for v in (zp_out, qmin, qmax))
        srcs = []
        for p in ps:
            row = []
            for t in range(n_taps):
                off = load_i64(b, taps_g, b.add(b.mul(p, c64(n_taps)), c64(t)), I32)
                row.append(b.select(b.icmp_signed(">=", off, c64(0)), _ptr(b, x_ptr, off), zp_row))
            srcs.append(row)
        if full and full_chunks == 1:
            chunk(ps, srcs, 0, per_chunk, wide)
        elif full and full_chunks > 1:
            with loop(b, full_chunks, "cb") as q:
                chunk(ps, srcs, b.mul(q, c64(per_chunk)), per_chunk, wide)
        if last and rest:
            chunk(ps, srcs, full_chunks * per_chunk, rest, last_live)

    def pixel_loop(px: int, full: bool, last: bool):
        """every pixel of the job, px at a time, then the rest one at a time"""
        count = b.sub(p1, p0)
        steps = b.sdiv(count, c64(px)) if px > 1 else count
        with loop(b, steps, "ps") as st:
            base = b.add(p0, b.mul(st, c64(px)))
            pixels_body([b.add(base, c64(q)) for q in range(px)], full, last)
        if px > 1:
            with loop(b, b.sub(count, b.mul(steps, c64(px))), "pt") as dp:
                pixels_body([b.add(b.add(p0, b.mul(steps, c64(px))), dp)], full, last)

    tabs = {}
    # 16 vector registers (AVX2, AVX-VNNI): half the blocks and accumulators in flight
    per_chunk, in_flight = (DW_WIDE_CHUNK, 8) if k.spec.registers >= 32 else (DW_WIDE_CHUNK // 2, 4)
    full_chunks, rest = divmod(n_cb, per_chunk)
    last_live = c - (n_cb - 1) * wide
    if rest == 0 and last_live < wide:   # the masked block goes to the (static) tail chunk
        full_chunks, rest = full_chunks - 1, per_chunk
    # pixels per step: about 16 accumulators in flight (VPDPWSSD's latency), each weight vector
    # loaded once per step; the last chunk has its own pixel loop when it has fewer blocks
    px_full, px_last = (max(1, min(DW_PIXELS_MAX, in_flight // blocks)) for blocks in (per_chunk, rest or 1))
    if full_chunks and rest and px_full != px_last:
        pixel_loop(px_full, True, False)
        pixel_loop(px_last, False, True)
    else:
        pixel_loop(px_full if full_chunks else px_last, True, True)
    b.ret_void()
    return f
