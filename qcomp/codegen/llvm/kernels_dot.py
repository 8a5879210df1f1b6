"""Dot-product kernels: QConv2D, QConvTranspose2D, QDense on the target's int8 dot instruction.

All three are one kernel over an im2col view (tables.py): output pixel p, tap t, group g read the
input channels [g*Cg, (g+1)*Cg) of pixel taps[p, t]. Per pixel and group the kernel gathers the
patch u[k] (k = t*Cg + c, K = T*Cg, zero-filled to Kpad, a multiple of the instruction's block)

    u[k] = x + offset               tap inside the input   (offset 128: a u8 operand, VPDPBUSD)
    u[k] = pad_value + offset       tap in the padding     (pad_value: zp_in; see below)

then for each output channel o of the group: acc = bias'[o] + sum_k u[k] * w[o, k] with the dot
instruction computing `lanes` output channels at once (`depth` patch bytes broadcast to every lane,
times each channel's `depth` weights), and y = requantize(acc, multiplier[o], shift[o],
output_zero_point, qmin, qmax).

Folded constants (c * sum(w) first, as fixedpoint.max_abs_accumulator requires):
  QConv2D / QDense: padding reads zp_in (bias holds -zp_in * sum(w)): bias' = bias - offset * sum(w)
  QConvTranspose2D: acc = bias + sum over valid taps (x - zp_in) w; pads hold zp_in, so
                    bias' = bias - (zp_in + offset) * sum(w)
Overflow: lanes wrap modulo 2^32 (non-saturating instruction) and only the final sum, bounded by
K * 127 * 255 + |bias| < 2^31 (lower_integer proves it), must fit: it is exact.
Weights are packed at build time in the instruction's layout [G][O/lanes][K/depth][lanes][depth]
(VNNI layout: 16 channels x 4 bytes per zmm for VPDPBUSD; 4 x 4 per q register for SDOT).

Depthwise QConv2D (one input channel per group, one output per group: K = taps only) would fill
each dot block with a handful of useful bytes, so it has its own kernel, vectorized across
channels (`lanes` at a time) instead of K: acc[p, c] = bias[c] + sum_t xp[taps[p, t] + c] * w[t, c]
in int32 (xp reads zp_in in the padding, as QConv2D's spec), weights packed [T, C] as int32.
"""
from __future__ import annotations

import numpy as np
from llvmlite import ir

from ...errors import UnsupportedModelError
from ...ir import qops
from . import tables
from .irgen import I8, I32, I64, c64, load, load_i64, loop, memset, requantize_lanes, store, var


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


def _is_depthwise(node, graph) -> bool:
    w_shape = graph.types[node.inputs[1]].shape
    c_in = graph.types[node.inputs[0]].shape[-1]
    return isinstance(node.op, qops.QConv2D) and node.op.group == c_in == w_shape[0] and w_shape[3] == 1


def emit_depthwise(k) -> int:
    """Channels in blocks of `lanes` (masked loads and stores at the last block):
    acc = bias[block]; per tap acc += sext(x[tap, block]) * w[tap, block] (zp_in * w in the padding);
    y = requantize lane-wise. |acc| <= T * 255 * 127 + |bias|: int32 (lower_integer's bound)."""
    node, graph, b = k.node, k.graph, k.b
    op = node.op
    lanes = k.spec.lanes
    w = graph.constants[node.inputs[1]]
    c = w.shape[0]
    n_cb = -(-c // lanes)
    taps, _, _, _, _ = _dot_layer(node, graph)
    n_taps = taps.shape[1]
    w_t = np.zeros((n_taps, n_cb * lanes), np.int32)
    w_t[:, :c] = w.reshape(c, n_taps).T
    w_g = k.mod.table(w_t, "w_dw")                                                   # [T, CB * lanes]
    bias_g, mult_g, shift_g = (k.mod.table(_per_block(graph.constants[v], 1, n_cb, lanes), n)
                               for v, n in zip(node.inputs[2:], ("bias", "mult", "shift")))
    taps_g = k.mod.table(taps, "taps")
    vi32, vi8, vi1 = ir.VectorType(I32, lanes), ir.VectorType(I8, lanes), ir.VectorType(ir.IntType(1), lanes)
    masked_load = k.mod.intrinsic(f"llvm.masked.load.v{lanes}i8.p0", vi8, [ir.PointerType(), I32, vi1, vi8])
    masked_store = k.mod.intrinsic(f"llvm.masked.store.v{lanes}i8.p0", ir.VoidType(),
                                   [vi8, ir.PointerType(), I32, vi1])
    iota = ir.Constant(ir.VectorType(I64, lanes), list(range(lanes)))
    zp_in = ir.Constant(vi32, [op.input_zero_point] * lanes)

    def vec(table, index):
        return b.load(b.gep(table, [index], source_etype=I32), typ=vi32, align=4)
    with loop(b, taps.shape[0], "p") as p:
        with loop(b, n_cb, "cb") as cb:
            c0 = b.mul(cb, c64(lanes))
            first = b.insert_element(ir.Constant(ir.VectorType(I64, lanes), None), c0, ir.Constant(I32, 0))
            lane_c = b.add(b.shuffle_vector(first, first, ir.Constant(vi32, [0] * lanes)), iota)   # channel ids
            mask = b.icmp_signed("<", lane_c, ir.Constant(ir.VectorType(I64, lanes), [c] * lanes))
            acc = var(b, vi32, vec(bias_g, c0), "acc")
            with loop(b, n_taps, "t") as t:
                base = load_i64(b, taps_g, b.add(b.mul(p, c64(n_taps)), t), I32)
                wv = vec(w_g, b.add(b.mul(t, c64(n_cb * lanes)), c0))
                with b.if_else(b.icmp_signed(">=", base, c64(0))) as (then, otherwise):
                    with then:
                        src = b.gep(k.ins[0], [b.add(base, c0)], source_etype=I8)
                        xv = b.sext(b.call(masked_load, [src, ir.Constant(I32, 1), mask, ir.Constant(vi8, None)]),
                                    vi32)
                        b.store(b.add(b.load(acc, typ=vi32), b.mul(xv, wv)), acc)
                    with otherwise:
                        b.store(b.add(b.load(acc, typ=vi32), b.mul(zp_in, wv)), acc)
            y = requantize_lanes(b, b.load(acc, typ=vi32), vec(mult_g, c0), vec(shift_g, c0),
                                 op.output_zero_point, op.qmin, op.qmax)
            dst = b.gep(k.outs[0], [b.add(b.mul(p, c64(c)), c0)], source_etype=I8)
            b.call(masked_store, [y, dst, ir.Constant(I32, 1), mask])
    return 0


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


def _per_block(a: np.ndarray, groups: int, ob: int, lanes: int) -> np.ndarray:
    """[O] -> [G, OB * lanes] int32 (zero-padded per group)."""
    og = a.size // groups
    out = np.zeros((groups, ob * lanes), np.int64)
    out[:, :og] = a.reshape(groups, og)
    return out.astype(np.int32)


def emit_dot(k) -> int:
    """Per output pixel p and group g: gather the patch u (K bytes, padded to a multiple of depth),
    then per block of `lanes` output channels: acc = bias'[block] (a vector), and for each
    depth-byte step kq: acc = dot(acc, splat(u[kq*depth : (kq+1)*depth]), w[g, block, kq]);
    finally requantize each lane that is a real channel."""
    node, graph, spec, b = k.node, k.graph, k.spec, k.b
    if _is_depthwise(node, graph):
        return emit_depthwise(k)
    op = node.op
    w = graph.constants[node.inputs[1]].astype(np.int64)
    bias = graph.constants[node.inputs[2]].astype(np.int64)
    taps, cg, groups, pad_value, extra = _dot_layer(node, graph)
    o_total = w.shape[0]
    og = o_total // groups
    kk = int(np.prod(w.shape[1:]))
    folded = bias - (spec.activation_offset + extra) * w.reshape(o_total, kk).sum(axis=1)
    if folded.size and (folded.min() < -2**31 or folded.max() >= 2**31):
        raise UnsupportedModelError(f"node {node.name!r} ({op.kind}): the folded bias does not fit int32")
    packed, n_ob, n_kq = pack_weights(w.astype(np.int8), groups, spec.lanes, spec.depth)
    lanes = spec.lanes
    w_g = k.mod.table(packed, "w")
    bias_g = k.mod.table(_per_block(folded, groups, n_ob, lanes), "bias")
    mult_g = k.mod.table(_per_block(graph.constants[node.inputs[3]], groups, n_ob, lanes), "mult")
    shift_g = k.mod.table(_per_block(graph.constants[node.inputs[4]], groups, n_ob, lanes), "shift")
    x_shape = graph.types[node.inputs[0]].shape
    pixels = int(np.prod(x_shape[:-1])) if taps is None else taps.shape[0]
    n_taps = 1 if taps is None else taps.shape[1]
    c_in = x_shape[-1]
    taps_g = None if taps is None else k.mod.table(taps, "taps")
    x_ptr, out_ptr = k.ins[0], k.outs[0]
    patch_bytes = -(-n_kq * spec.depth // 64) * 64
    patch, lane_out = k.scratch, b.gep(k.scratch, [c64(patch_bytes)], source_etype=I8)
    offset = ir.Constant(I8, spec.activation_offset)
    pad_byte = ir.Constant(I8, (pad_value + spec.activation_offset) & 0xFF)
    vi32, vi8 = ir.VectorType(I32, lanes), ir.VectorType(I8, spec.block)
    dot = k.mod.intrinsic(spec.intrinsic, vi32, [vi32, vi8, vi8])
    splat_mask = ir.Constant(ir.VectorType(I32, lanes), [0] * lanes)

    memset(k.mod, b, patch, 0, patch_bytes)
    with loop(b, pixels, "p") as p:
        with loop(b, groups, "g") as g:
            chan0 = b.mul(g, c64(cg))
            with loop(b, n_taps, "t") as t:
                dst0 = b.mul(t, c64(cg))
                if taps_g is None:
                    base = b.mul(p, c64(c_in))
                    inside = ir.Constant(ir.IntType(1), 1)
                else:
                    base = load_i64(b, taps_g, b.add(b.mul(p, c64(n_taps)), t), I32)
                    inside = b.icmp_signed(">=", base, c64(0))
                with b.if_else(inside) as (then, otherwise):
                    with then:
                        src0 = b.add(base, chan0)
                        with loop(b, cg, "c") as c:
                            v = b.add(load(b, x_ptr, b.add(src0, c), I8), offset)
                            store(b, v, patch, b.add(dst0, c), I8)
                    with otherwise:
                        with loop(b, cg, "c") as c:
                            store(b, pad_byte, patch, b.add(dst0, c), I8)
            with loop(b, n_ob, "ob") as ob:
                blk = b.add(b.mul(g, c64(n_ob)), ob)
                acc = var(b, vi32, b.load(b.gep(bias_g, [b.mul(blk, c64(lanes))], source_etype=I32), typ=vi32,
                                          align=4), "acc")
                w_row = b.mul(blk, c64(n_kq))
                with loop(b, n_kq, "kq") as kq:
                    word = b.load(b.gep(patch, [b.mul(kq, c64(spec.depth))], source_etype=I8), typ=I32, align=1)
                    lane0 = b.insert_element(ir.Constant(vi32, None), word, ir.Constant(I32, 0))
                    u = b.bitcast(b.shuffle_vector(lane0, ir.Constant(vi32, None), splat_mask), vi8)
                    wv = b.load(b.gep(w_g, [b.mul(b.add(w_row, kq), c64(spec.block))], source_etype=I8),
                                typ=vi8, align=1)
                    b.store(b.call(dot, [b.load(acc, typ=vi32), u, wv]), acc)
                at_block = b.mul(blk, c64(lanes))
                y = requantize_lanes(b, b.load(acc, typ=vi32),
                                     b.load(b.gep(mult_g, [at_block], source_etype=I32), typ=vi32, align=4),
                                     b.load(b.gep(shift_g, [at_block], source_etype=I32), typ=vi32, align=4),
                                     op.output_zero_point, op.qmin, op.qmax)
                first = b.add(b.mul(p, c64(o_total)), b.add(b.mul(g, c64(og)), b.mul(ob, c64(lanes))))
                if og % lanes == 0:     # whole blocks: one vector store
                    b.store(y, b.gep(out_ptr, [first], source_etype=I8), align=1)
                else:
                    b.store(y, lane_out, align=1)
                    with loop(b, lanes, "l") as lane:
                        with b.if_then(b.icmp_signed("<", b.add(b.mul(ob, c64(lanes)), lane), c64(og))):
                            store(b, load(b, lane_out, lane, I8), out_ptr, b.add(first, lane), I8)
    return patch_bytes + lanes


def emit_matmul(k) -> int:
    """QMatMul: acc = sum_k (a - a_zero_point) * (b - b_zero_point) per batch, then requantize.
    |a - zp|, |b - zp| <= 255: |acc| <= K * 65025, checked by lower_integer's bound."""
    node, graph, b = k.node, k.graph, k.b
    op = node.op
    a_shape, b_shape = graph.types[node.inputs[0]].shape, graph.types[node.inputs[1]].shape
    y_shape = graph.types[node.outputs[0]].shape
    if len(a_shape) < 2 or len(b_shape) < 2:
        raise UnsupportedModelError(f"node {node.name!r} (QMatMul): 1-D operands are not supported by the "
                                    f"llvm backend yet; reshape them to 2-D in the model")
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
    return 0

