"""A16W8 kernels (qcomp/ir/qops16.py) other than the vector ones: scalar loop nests.

The vector kernels live beside this module: kernels16_dot.py (QConv2D16 / QDense16),
kernels16_matmul.py (QMatMul16), kernels16_elem.py (QAdd16 / QSub16 / QMul16, QConvert, Lut16;
their broadcasts that kernels_float_vec's elementwise plan does not take run the loops here).
The formulas are qcomp/fixedpoint/int16.py, transcribed in i64 (no truncation before the clamp;
every intermediate bound of the spec holds, so i64 changes no result):

  requantize_acc   acc_bits 32: requantize(acc, multiplier, shift, zp, qmin, qmax)   (irgen.py)
                   acc_bits 64: reduced = min((multiplier + 2^15) >> 16, 2^15 - 1), total = 15 - shift
                                clamp(((acc * reduced + 2^(total - 1)) >> total) + zp, qmin, qmax)
                   |acc| < 2^47 and reduced < 2^15: the product fits 63 bits (one i64 multiply)
  QAdd16 / QSub16  a_scaled = mbqm(a << 15, a_multiplier, a_shift) (b likewise);
                   requantize(a_scaled +- b_scaled, out_multiplier, out_shift, 0, qmin, qmax)
  QMul16           requantize(a * b, multiplier, shift, 0, qmin, qmax)           |a * b| <= 2^30
  QAvgPool2D16     requantize(window sum, multipliers[count - 1], shifts[count - 1], 0, qmin, qmax)
  QMean16          requantize(sum over the axes, multiplier, shift, 0, qmin, qmax)
  QConv2D16 / QDense16 (the forms kernels16_dot.py does not vectorize: grouped convs that are not
                   depthwise): acc = bias + sum over taps inside the input of x * w (padding is 0),
                   requantize_acc per output channel.
The type-generic ops (MaxPool2D, movement, ReduceMax, Gather, nearest Resize) take int16 values in
kernels_elem.py, by element type.
"""
from __future__ import annotations

import numpy as np
from llvmlite import ir

from ... import fixedpoint
from ...fixedpoint import FixedPointError
from ...ir import Node, qops16
from . import tables
from .irgen import I8, I16, I32, I64, c64, clamp, load, load_i64, loop, store, var

OUT_TYPES = {"i8": I8, "i16": I16}


def out_type(op) -> ir.IntType:
    return OUT_TYPES[op.out_dtype]


def elem_type(graph, value: str) -> ir.IntType:
    return ir.IntType(8 * graph.types[value].dtype.itemsize)


def _size(k, value: str) -> int:
    return int(np.prod(k.graph.types[value].shape, dtype=np.int64))


def reduced_multiplier(multiplier) -> np.ndarray:
    """fixedpoint.multiply_by_quantized_multiplier_64's reduced multiplier, at build time."""
    m = np.asarray(multiplier, np.int64)
    return np.minimum((m + (1 << 15)) >> 16, (1 << 15) - 1)


def requantize64_helper(mod) -> ir.Function:
    """requantize64(acc, multiplier, shift, zero_point, qmin, qmax) (i64), the spec line for line."""
    if mod.has_helper("requantize64"):
        return mod.helper("requantize64")
    f, b = mod.define_helper("requantize64", I64, [I64] * 6)
    acc, multiplier, shift, zero_point, qmin, qmax = f.args
    reduced = b.ashr(b.add(multiplier, c64(1 << 15)), c64(16))
    reduced = b.select(b.icmp_signed(">", reduced, c64((1 << 15) - 1)), c64((1 << 15) - 1), reduced)
    total = b.sub(c64(15), shift)
    rounding = b.shl(c64(1), b.sub(total, c64(1)))
    scaled = b.ashr(b.add(b.mul(acc, reduced), rounding), total)
    b.ret(clamp(b, b.add(scaled, zero_point), qmin, qmax))
    return f


def requantize_acc(k, b, acc, multiplier, shift, acc_bits: int, zero_point, qmin: int, qmax: int):
    """The scalar requantize of an A16W8 accumulator of width acc_bits (i64 values in and out)."""
    helper = k.mod.helper("requantize") if acc_bits == 32 else requantize64_helper(k.mod)
    as64 = [v if isinstance(v, ir.Value) else c64(v) for v in (multiplier, shift, zero_point)]
    return b.call(helper, [acc, *as64, c64(qmin), c64(qmax)])


def _operands(k, i):
    """a[i], b[i] (int16, as i64) under numpy broadcasting."""
    b = k.b
    out_shape = k.graph.types[k.node.outputs[0]].shape
    vals = []
    for ptr, name in zip(k.ins, k.node.inputs):
        m = tables.broadcast_map(k.graph.types[name].shape, out_shape)
        idx = i if m is None else load_i64(b, k.mod.table(m, "bcast"), i, I32)
        vals.append(load_i64(b, ptr, idx, I16))
    return vals


def emit_add_sub16(node: Node, k) -> None:
    b, op = k.b, k.node.op
    mbqm, requantize = k.mod.helper("multiply_by_quantized_multiplier"), k.mod.helper("requantize")
    p = op.add_attrs()
    with loop(b, _size(k, k.node.outputs[0])) as i:
        a, bb = _operands(k, i)
        a_scaled = b.call(mbqm, [b.shl(a, c64(p["left_shift"])), c64(p["a_multiplier"]), c64(p["a_shift"])])
        b_scaled = b.call(mbqm, [b.shl(bb, c64(p["left_shift"])), c64(p["b_multiplier"]), c64(p["b_shift"])])
        acc = b.sub(a_scaled, b_scaled) if isinstance(op, qops16.QSub16) else b.add(a_scaled, b_scaled)
        y = b.call(requantize, [acc, c64(op.out_multiplier), c64(op.out_shift), c64(0), c64(op.qmin), c64(op.qmax)])
        store(b, b.trunc(y, I16), k.outs[0], i, I16)


def emit_mul16(node: Node, k) -> None:
    b, op = k.b, k.node.op
    requantize = k.mod.helper("requantize")
    with loop(b, _size(k, k.node.outputs[0])) as i:
        a, bb = _operands(k, i)
        y = b.call(requantize, [b.mul(a, bb), c64(op.multiplier), c64(op.shift), c64(0), c64(op.qmin),
                                c64(op.qmax)])
        store(b, b.trunc(y, I16), k.outs[0], i, I16)


def why_not_avgpool16(node, graph) -> str | None:
    """A multiplier for every window count."""
    op = node.op
    (_, h, w, _), (_, oh, ow, _) = graph.types[node.inputs[0]].shape, graph.types[node.outputs[0]].shape
    count = int(tables.window_counts(op, h, w, oh, ow).max(initial=1))
    if count > len(op.multipliers):
        return f"window count {count} exceeds its {len(op.multipliers)} multipliers"
    return None


def emit_avgpool16(node: Node, k) -> None:
    """Per output pixel: the int16 window sums of its C channels in scratch (i64[C]), then the
    requantize by the multiplier of the pixel's window count."""
    b, op = k.b, k.node.op
    x_shape = k.graph.types[k.node.inputs[0]].shape
    _, oh, ow, _ = k.graph.types[k.node.outputs[0]].shape
    n, h, w, c = x_shape
    taps = tables.window_taps(x_shape, op.kernel, op.strides, op.pads, op.dilations, oh, ow)
    count = np.tile(tables.window_counts(op, h, w, oh, ow), n)
    mult_g = k.mod.table(np.asarray(op.multipliers, np.int32)[count - 1], "mult")
    shift_g = k.mod.table(np.asarray(op.shifts, np.int32)[count - 1], "shift")
    taps_g = k.mod.table(taps, "taps")
    acc = k.scratch
    requantize = k.mod.helper("requantize")
    n_taps = taps.shape[1]
    with loop(b, taps.shape[0], "p") as p:
        with loop(b, c, "c0") as c0:
            store(b, c64(0), acc, c0, I64)
        with loop(b, n_taps, "t") as t:
            base = load_i64(b, taps_g, b.add(b.mul(p, c64(n_taps)), t), I32)
            with b.if_then(b.icmp_signed(">=", base, c64(0))):
                with loop(b, c, "c") as ch:
                    v = load_i64(b, k.ins[0], b.add(base, ch), I16)
                    store(b, b.add(load(b, acc, ch, I64), v), acc, ch, I64)
        m, s = load_i64(b, mult_g, p, I32), load_i64(b, shift_g, p, I32)
        with loop(b, c, "c1") as c1:
            y = b.call(requantize, [load(b, acc, c1, I64), m, s, c64(0), c64(op.qmin), c64(op.qmax)])
            store(b, b.trunc(y, I16), k.outs[0], b.add(b.mul(p, c64(c)), c1), I16)
    k.reserve(8 * c)


def why_not_mean16(node, graph) -> str | None:
    """The count is the number of reduced elements."""
    shape = graph.types[node.inputs[0]].shape
    r = int(np.prod([shape[a % len(shape)] for a in node.op.axes], dtype=np.int64))
    return f"reduces {r} elements, count says {node.op.count}" if r != node.op.count else None


def emit_mean16(node: Node, k) -> None:
    b, op = k.b, k.node.op
    idx, r = tables.reduce_map(k.graph.types[k.node.inputs[0]].shape, op.axes)
    idx_g = k.mod.table(idx, "reduce")
    requantize = k.mod.helper("requantize")
    with loop(b, idx.size // r, "o") as o:
        acc = var(b, I64, c64(0), "acc")
        with loop(b, r, "r") as ri:
            src = load_i64(b, idx_g, b.add(b.mul(o, c64(r)), ri), I32)
            b.store(b.add(b.load(acc, typ=I64), load_i64(b, k.ins[0], src, I16)), acc)
        y = b.call(requantize, [b.load(acc, typ=I64), c64(op.multiplier), c64(op.shift), c64(0), c64(op.qmin),
                                c64(op.qmax)])
        store(b, b.trunc(y, I16), k.outs[0], o, I16)


def why_not_matmul16(node, graph) -> str | None:
    """Operands of rank 2 or more; acc_bits holds K * 2^30 (fixedpoint.accumulator16x16_bits)."""
    if min(graph.types[v].rank for v in node.inputs[:2]) < 2:
        return "1-D QMatMul16 operands are not supported by the llvm backend; reshape them to 2-D in the model"
    k = graph.types[node.inputs[0]].shape[-1]
    try:
        need = fixedpoint.accumulator16x16_bits(k)
    except FixedPointError as e:
        return str(e)
    return _acc_bits_problem(node.op, need, f"K={k}", node.op.shift)


def _acc_bits_problem(op, need: int, what: str, shift) -> str | None:
    if op.acc_bits < need:
        return (f"acc_bits={op.acc_bits} cannot hold the accumulator of {what} (the spec needs {need}); "
                f"quantize the model again so that the layer's width is fixed by fixedpoint.accumulator16_bits")
    if op.acc_bits == 64 and int(np.max(shift)) > fixedpoint.MAX_SHIFT_64:
        return f"acc_bits=64 takes shifts <= {fixedpoint.MAX_SHIFT_64}, got {int(np.max(shift))}"
    return None


def why_not_dot16(node, graph) -> str | None:
    """Constant weights and bias; acc_bits fits K and the bias (accumulator16_bits); shift <= 14 at 64.

    The width the spec needs for K terms and the largest |bias| (fixedpoint.accumulator16_bits) must
    not exceed acc_bits: a narrower claim would wrap the int32 form; requantize64 takes shifts <= 14."""
    if any(v not in graph.constants for v in node.inputs[1:]):
        return "weights, bias, multipliers and shifts must be constants"
    k = int(np.prod(graph.types[node.inputs[1]].shape[1:]))
    bias_abs = int(np.abs(graph.constants[node.inputs[2]].astype(np.int64)).max(initial=0))
    try:
        need = fixedpoint.accumulator16_bits(k, bias_abs)
    except FixedPointError as e:
        return str(e)
    return _acc_bits_problem(node.op, need, f"K={k} terms with |bias| <= {bias_abs}", graph.constants[node.inputs[4]])


def dot16_layer(node, graph):
    """(taps [P, T] or None, Cg, groups) of a QConv2D16 / QDense16 node."""
    op = node.op
    x_shape = graph.types[node.inputs[0]].shape
    if isinstance(op, qops16.QDense16):
        return None, x_shape[-1], 1
    _, oh, ow, _ = graph.types[node.outputs[0]].shape
    w_shape = graph.types[node.inputs[1]].shape
    taps = tables.window_taps(x_shape, w_shape[1:3], op.strides, op.pads, op.dilations, oh, ow)
    return taps, w_shape[3], op.group


def emit_dot16_scalar(node: Node, k) -> None:
    """QConv2D16 (any group count) / QDense16 as scalar loops: acc = bias[o] + sum over the taps
    inside the input and the group's channels of x * w (i64), requantize_acc per channel."""
    node, graph, b = k.node, k.graph, k.b
    op = node.op
    taps, cg, groups = dot16_layer(node, graph)
    w = graph.constants[node.inputs[1]]
    o_total = w.shape[0]
    og, kk = o_total // groups, int(np.prod(w.shape[1:]))
    x_shape = graph.types[node.inputs[0]].shape
    c_in = x_shape[-1]
    pixels = int(np.prod(x_shape[:-1])) if taps is None else taps.shape[0]
    n_taps = 1 if taps is None else taps.shape[1]
    taps = (np.arange(pixels, dtype=np.int64) * c_in).reshape(-1, 1) if taps is None else taps
    taps_g = k.mod.table(np.ascontiguousarray(taps.astype(np.int32)), "taps")
    w_g = k.mod.table(np.ascontiguousarray(w.reshape(o_total, kk).astype(np.int8)), "w16")
    bias_g = k.mod.table(np.asarray(graph.constants[node.inputs[2]], np.int64), "bias")
    mult_g = k.mod.table(np.asarray(graph.constants[node.inputs[3]], np.int32), "mult")
    shift_g = k.mod.table(np.asarray(graph.constants[node.inputs[4]], np.int32), "shift")
    ot = out_type(op)
    with loop(b, pixels, "p") as p:
        with loop(b, o_total, "o") as o:
            chan0 = b.mul(b.sdiv(o, c64(og)), c64(cg))
            acc = var(b, I64, load(b, bias_g, o, I64), "acc")
            with loop(b, n_taps, "t") as t:
                base = load_i64(b, taps_g, b.add(b.mul(p, c64(n_taps)), t), I32)
                with b.if_then(b.icmp_signed(">=", base, c64(0))):
                    with loop(b, cg, "c") as c:
                        xv = load_i64(b, k.ins[0], b.add(base, b.add(chan0, c)), I16)
                        wv = load_i64(b, w_g, b.add(b.mul(o, c64(kk)), b.add(b.mul(t, c64(cg)), c)), I8)
                        b.store(b.add(b.load(acc, typ=I64), b.mul(xv, wv)), acc)
            y = requantize_acc(k, b, b.load(acc, typ=I64), load_i64(b, mult_g, o, I32), load_i64(b, shift_g, o, I32),
                               op.acc_bits, op.output_zero_point, op.qmin, op.qmax)
            store(b, b.trunc(y, ot), k.outs[0], b.add(b.mul(p, c64(o_total)), o), ot)
