"""Elementwise, pooling, reduction and data-movement kernels (scalar loop nests; LLVM vectorizes).

Formulas (qcomp/ir/qops.py, qcomp/fixedpoint.py; irgen.py holds the transcribed helpers):
  Quantize     y = quantize(x, scale, zero_point, qmin, qmax)         float32 -> int8
  Dequantize   y = dequantize(q, zero_point, scale)                   int8 -> float32
  Lut          y = table[x + 128]
  QRequantize  y = requantize(x - input_zero_point, multiplier, shift, output_zero_point, qmin, qmax)
  QAdd / QSub  add_int8 / sub_int8: x_scaled = mbqm((x - zp) << 20, m, s);  requantize(a_scaled +- b_scaled)
  QMul         mul_int8: requantize((a - zp_a) * (b - zp_b))
  MaxPool2D    max over valid taps (padding never wins; an all-padding window gives -128)
  QAvgPool2D   acc = sum over taps inside the input of (x - in_zero_point); requantize by the
               multiplier of the window's count (multipliers[count - 1]), as avg_int8
  QMean        acc = sum(x) - count * in_zero_point; requantize (mean_int8)
  ReduceMax    max over the reduced axes
  movement     gather / scatter / copy through the maps of tables.py, any element size (nearest
               Resize is a gather)
MaxPool2D and ReduceMax of float32 values, and per-channel Dequantize (int8 weights kept in
float), run here too; the float ones through kernels_fallback.py.
Ranges: every sum is i64 here (the spec's int32 bounds hold, so i64 changes no result).
"""
from __future__ import annotations

import numpy as np
from llvmlite import ir

from ...errors import UnsupportedModelError
from ...ir import Node, ops, qops
from . import kernels_runs, strided, tables
from .irgen import F32, I8, I16, I32, I64, c64, int_type, load, load_i64, loop, memcpy, store, var
from .kernels_parallel import parallel_loop


def _size(k, value: str) -> int:
    return int(np.prod(k.graph.types[value].shape, dtype=np.int64))


def _quant(k, value: str) -> tuple[float, int]:
    q = k.graph.types[value].quant
    return float(q.scale[0]), int(q.zero_point[0])


_BOUNDARY = {ops.DType.INT8: I8, ops.DType.INT16: I16}   # the integer side of Quantize / Dequantize


def why_not_quantize(node, graph) -> str | None:
    """Float32 -> int8 or int16 (an int16 graph input, A16W8), per tensor."""
    x, y = graph.types[node.inputs[0]], graph.types[node.outputs[0]]
    if x.dtype is not ops.DType.FLOAT32 or y.dtype not in _BOUNDARY:
        return "only float32 -> int8 or int16 Quantize is supported"
    if y.quant is None or y.quant.per_channel:
        return f"the output {node.outputs[0]!r} needs per-tensor quant params, got {y.quant}"
    return None


def why_not_dequantize(node, graph) -> str | None:
    """Int8 or int16 -> float32, per tensor or per channel."""
    x = graph.types[node.inputs[0]]
    return None if x.dtype in _BOUNDARY and x.quant is not None else \
        "only int8 or int16 -> float32 Dequantize is supported"


def why_not_int8_or_float(node, graph) -> str | None:
    """Int8 or int16, or float32 operands and results (kernels_fallback)."""
    from .kernels_fallback import why_not_float
    dtype = graph.types[node.inputs[0]].dtype
    if dtype is ops.DType.FLOAT32:
        return why_not_float(node, graph)
    return None if dtype in (ops.DType.INT8, ops.DType.INT16) else \
        f"the llvm backend runs {node.kind} on int8, int16 or float32 only"


def emit_quantize(node: Node, k) -> None:
    scale, zp = _quant(k, k.node.outputs[0])
    lo, hi = k.graph.types[k.node.outputs[0]].dtype.qrange
    quantize = k.mod.helper("quantize")
    t = _BOUNDARY[k.graph.types[k.node.outputs[0]].dtype]

    def body(i):   # a float32 division and rint per element: about 4 units (kernels_parallel.py)
        b = k.b
        y = b.call(quantize, [load(b, k.ins[0], i, F32), ir.Constant(F32, scale), c64(zp), c64(lo), c64(hi)])
        store(b, b.trunc(y, t), k.outs[0], i, t)
    parallel_loop(k, _size(k, k.node.outputs[0]), 4, body)


def emit_dequantize(node: Node, k) -> None:
    """Per tensor, or per channel (int8 weights kept in float by --quant weight / --skip): the
    channel's scale and zero point from tables indexed by (i / inner) % channels."""
    b = k.b
    q = k.graph.types[k.node.inputs[0]].quant
    dequantize = k.mod.helper("dequantize")
    t = _BOUNDARY[k.graph.types[k.node.inputs[0]].dtype]
    if not q.per_channel:
        scale, zp = _quant(k, k.node.inputs[0])

        def body(i):
            b = k.b
            y = b.call(dequantize, [load_i64(b, k.ins[0], i, t), c64(zp), ir.Constant(F32, scale)])
            store(b, y, k.outs[0], i, F32)
        parallel_loop(k, _size(k, k.node.outputs[0]), 2, body)
        return
    shape = k.graph.types[k.node.inputs[0]].shape
    channels, inner = shape[q.axis], int(np.prod(shape[q.axis + 1:], dtype=np.int64))
    scale_g = k.mod.table(np.broadcast_to(np.asarray(q.scale, np.float32), (channels,)).copy(), "dq_scale")
    zp_g = k.mod.table(np.broadcast_to(np.asarray(q.zero_point, np.int32), (channels,)).copy(), "dq_zp")
    with loop(b, _size(k, k.node.outputs[0])) as i:
        ch = b.srem(b.sdiv(i, c64(inner)), c64(channels))
        y = b.call(dequantize, [load_i64(b, k.ins[0], i, t), load_i64(b, zp_g, ch, I32), load(b, scale_g, ch, F32)])
        store(b, y, k.outs[0], i, F32)


def emit_lut(node: Node, k) -> None:
    table = k.mod.table(k.graph.constants[k.node.inputs[1]], "lut")

    def body(i):   # a load, a table load and a store: about 2 units (kernels_parallel.py)
        b = k.b
        x = load_i64(b, k.ins[0], i, I8)
        store(b, load(b, table, b.add(x, c64(128)), I8), k.outs[0], i, I8)
    parallel_loop(k, _size(k, k.node.outputs[0]), 2, body)


def emit_requantize(node: Node, k) -> None:
    op = k.node.op
    requantize = k.mod.helper("requantize")

    def one(i, o):   # one requantize in i64: about 2 units
        b = k.b
        x = b.sub(load_i64(b, k.ins[0], i, I8), c64(op.input_zero_point))
        y = b.call(requantize, [x, c64(op.multiplier), c64(op.shift), c64(op.output_zero_point),
                                c64(op.qmin), c64(op.qmax)])
        store(b, b.trunc(y, I8), k.outs[0], o, I8)
    rows = strided.out_rows(node, k.graph)   # a strided Concat slice: rows of `width` bytes, `stride` apart
    if rows is None:
        parallel_loop(k, _size(k, k.node.outputs[0]), 2, lambda i: one(i, i))
        return
    b, (width, stride) = k.b, rows
    with loop(b, _size(k, k.node.outputs[0]) // width, "r") as r:
        with loop(b, width, "c") as c:
            one(b.add(b.mul(r, c64(width)), c), b.add(b.mul(r, c64(stride)), c))


def _operands(k, i):
    """a[i], b[i] (i64) under numpy broadcasting."""
    b = k.b
    out_shape = k.graph.types[k.node.outputs[0]].shape
    vals = []
    for ptr, name in zip(k.ins, k.node.inputs):
        m = tables.broadcast_map(k.graph.types[name].shape, out_shape)
        idx = i if m is None else load_i64(b, k.mod.table(m, "bcast"), i, I32)
        vals.append(load_i64(b, ptr, idx, I8))
    return vals


def emit_add_sub(node: Node, k) -> None:
    op = k.node.op
    mbqm, requantize = k.mod.helper("multiply_by_quantized_multiplier"), k.mod.helper("requantize")

    def body(i):   # three requantizes in i64 per element: about 4 units
        b = k.b
        a, bb = _operands(k, i)
        a_scaled = b.call(mbqm, [b.shl(b.sub(a, c64(op.a_zero_point)), c64(op.left_shift)),
                                 c64(op.a_multiplier), c64(op.a_shift)])
        b_scaled = b.call(mbqm, [b.shl(b.sub(bb, c64(op.b_zero_point)), c64(op.left_shift)),
                                 c64(op.b_multiplier), c64(op.b_shift)])
        acc = b.sub(a_scaled, b_scaled) if isinstance(op, qops.QSub) else b.add(a_scaled, b_scaled)
        y = b.call(requantize, [acc, c64(op.out_multiplier), c64(op.out_shift), c64(op.out_zero_point),
                                c64(op.qmin), c64(op.qmax)])
        store(b, b.trunc(y, I8), k.outs[0], i, I8)
    parallel_loop(k, _size(k, k.node.outputs[0]), 4, body)


def emit_mul(node: Node, k) -> None:
    op = k.node.op
    requantize = k.mod.helper("requantize")

    def body(i):   # one requantize in i64: about 2 units
        b = k.b
        a, bb = _operands(k, i)
        acc = b.mul(b.sub(a, c64(op.a_zero_point)), b.sub(bb, c64(op.b_zero_point)))
        y = b.call(requantize, [acc, c64(op.multiplier), c64(op.shift), c64(op.out_zero_point),
                                c64(op.qmin), c64(op.qmax)])
        store(b, b.trunc(y, I8), k.outs[0], i, I8)
    parallel_loop(k, _size(k, k.node.outputs[0]), 2, body)


def _pool_taps(k):
    op = k.node.op
    x_shape = k.graph.types[k.node.inputs[0]].shape
    _, oh, ow, _ = k.graph.types[k.node.outputs[0]].shape
    return x_shape, oh, ow, tables.window_taps(x_shape, op.kernel, op.strides, op.pads, op.dilations, oh, ow)


def _window_loop(k, taps, c, body, parallel: bool = False):
    """for each output pixel p: body("start", p); for each tap t inside the input, each channel ch:
    body("tap", p, base, ch) (base = the tap's pixel offset); then body("end", p). parallel: the
    pixels in jobs (kernels_parallel.parallel_loop: body reads k.b, k.ins, k.outs, never k.scratch)."""
    taps_g = k.mod.table(taps, "taps")
    n_taps = taps.shape[1]

    def pixel(p):
        b = k.b
        body("start", p, None, None)
        with loop(b, n_taps, "t") as t:
            base = load_i64(b, taps_g, b.add(b.mul(p, c64(n_taps)), t), I32)
            with b.if_then(b.icmp_signed(">=", base, c64(0))):
                with loop(b, c, "c") as ch:
                    body("tap", p, base, ch)
        body("end", p, None, None)
    if parallel:
        parallel_loop(k, taps.shape[0], n_taps * c, pixel, "p")
        return
    with loop(k.b, taps.shape[0], "p") as p:
        pixel(p)


def emit_maxpool(node: Node, k) -> None:
    if k.graph.types[k.node.inputs[0]].dtype is ops.DType.FLOAT32:
        from .kernels_fallback import emit_maxpool as float_maxpool
        return float_maxpool(node, k)
    x_shape, _, _, taps = _pool_taps(k)
    c = x_shape[3]
    dtype = k.graph.types[k.node.inputs[0]].dtype   # int8 or int16: the type's minimum starts the max
    et = int_type(dtype.itemsize)

    def body(phase, p, base, ch):
        b, out = k.b, k.outs[0]
        if phase == "start":
            with loop(b, c, "c0") as c0:
                store(b, ir.Constant(et, dtype.qrange[0]), out, b.add(b.mul(p, c64(c)), c0), et)
        elif phase == "tap":
            dst = b.add(b.mul(p, c64(c)), ch)
            v, cur = load(b, k.ins[0], b.add(base, ch), et), load(b, out, dst, et)
            store(b, b.select(b.icmp_signed(">", v, cur), v, cur), out, dst, et)
    _window_loop(k, taps, c, body, parallel=True)


def why_not_avgpool(node, graph) -> str | None:
    """A multiplier for every window count."""
    op = node.op
    (_, h, w, _), (_, oh, ow, _) = graph.types[node.inputs[0]].shape, graph.types[node.outputs[0]].shape
    count = int(tables.window_counts(op, h, w, oh, ow).max(initial=1))
    if count > len(op.multipliers):
        return f"window count {count} exceeds its {len(op.multipliers)} multipliers"
    return None


def why_not_mean(node, graph) -> str | None:
    """The count is the number of reduced elements."""
    shape = graph.types[node.inputs[0]].shape
    r = int(np.prod([shape[a % len(shape)] for a in node.op.axes], dtype=np.int64))
    return f"reduces {r} elements, count says {node.op.count}" if r != node.op.count else None


def emit_avgpool(node: Node, k) -> None:
    b, op = k.b, k.node.op
    x_shape, oh, ow, taps = _pool_taps(k)
    n, h, w, c = x_shape
    count = np.tile(tables.window_counts(op, h, w, oh, ow), n)
    mult_g = k.mod.table(np.asarray(op.multipliers, np.int32)[count - 1], "mult")
    shift_g = k.mod.table(np.asarray(op.shifts, np.int32)[count - 1], "shift")
    acc = k.scratch   # i64[C]
    requantize = k.mod.helper("requantize")
    out = k.outs[0]

    def body(phase, p, base, ch):
        if phase == "start":
            with loop(b, c, "c0") as c0:
                store(b, c64(0), acc, c0, I64)
        elif phase == "tap":
            v = b.sub(load_i64(b, k.ins[0], b.add(base, ch), I8), c64(op.in_zero_point))
            store(b, b.add(load(b, acc, ch, I64), v), acc, ch, I64)
        else:
            m, s = load_i64(b, mult_g, p, I32), load_i64(b, shift_g, p, I32)
            with loop(b, c, "c1") as c1:
                y = b.call(requantize, [load(b, acc, c1, I64), m, s, c64(op.out_zero_point), c64(op.qmin),
                                        c64(op.qmax)])
                store(b, b.trunc(y, I8), out, b.add(b.mul(p, c64(c)), c1), I8)
    _window_loop(k, taps, c, body)
    k.reserve(8 * c)


def _reduce(k, axes, finish, init, step, et=I8) -> None:
    """finish/init/step take the builder of the function they are emitted into (the node's or a
    job's: kernels_parallel.parallel_loop over the outputs)."""
    idx, r = tables.reduce_map(k.graph.types[k.node.inputs[0]].shape, axes)
    idx_g = k.mod.table(idx, "reduce")

    def body(o):   # r index loads, loads and adds: about 2 r units
        b = k.b
        acc = var(b, I64, init(b), "acc")
        with loop(b, r, "r") as ri:
            src = load_i64(b, idx_g, b.add(b.mul(o, c64(r)), ri), I32)
            b.store(step(b, b.load(acc, typ=I64), load_i64(b, k.ins[0], src, et)), acc)
        store(b, b.trunc(finish(b, b.load(acc, typ=I64)), et), k.outs[0], o, et)
    parallel_loop(k, idx.size // r, 2 * r, body, "o")


def emit_mean(node: Node, k) -> None:
    op = k.node.op
    requantize = k.mod.helper("requantize")

    def finish(b, window_sum):
        acc = b.sub(window_sum, c64(op.count * op.in_zero_point))
        return b.call(requantize, [acc, c64(op.multiplier), c64(op.shift), c64(op.out_zero_point),
                                   c64(op.qmin), c64(op.qmax)])
    return _reduce(k, op.axes, finish, lambda b: c64(0), lambda b, acc, v: b.add(acc, v))


def emit_reduce_max(node: Node, k) -> None:
    if k.graph.types[k.node.inputs[0]].dtype is ops.DType.FLOAT32:
        from .kernels_fallback import emit_reduce
        return emit_reduce(node, k)
    dtype = k.graph.types[k.node.inputs[0]].dtype   # int8 or int16
    return _reduce(k, k.node.op.axes, lambda b, v: v, lambda b: c64(dtype.qrange[0]),
                   lambda b, a, v: b.select(b.icmp_signed(">", v, a), v, a), int_type(dtype.itemsize))


def emit_gather(node: Node, k) -> None:
    """Gather: a gather map when the indices are constants, else the run-time kernel."""
    if k.node.inputs[1] in k.graph.constants:
        return emit_movement(node, k)
    from .kernels_float import emit_gather as run_time_gather
    return run_time_gather(node, k)


def emit_movement(node: Node, k) -> None:
    """Reshape: a copy; Concat: scatters; Transpose/Slice/Split/Pad/Gather: gathers."""
    b, node, op = k.b, k.node, k.node.op
    t = k.graph.types[node.inputs[0]]
    et = int_type(t.dtype.itemsize)
    if isinstance(op, ops.Reshape):
        memcpy(k.mod, b, k.outs[0], k.ins[0], t.nbytes)
        return
    if isinstance(op, ops.Concat):
        shapes = [k.graph.types[i].shape for i in node.inputs]
        for ptr, dst in zip(k.ins, tables.concat_maps(op.axis % len(shapes[0]), shapes)):
            dst_g = k.mod.table(dst, "concat")
            with loop(b, dst.size) as i:
                store(b, load(b, ptr, i, et), k.outs[0], load_i64(b, dst_g, i, I32), et)
        return
    index_values = None
    if isinstance(op, ops.Gather):
        index_values = k.graph.constants[node.inputs[1]].astype(np.int64)
    pad = 0
    if isinstance(op, ops.Pad):
        pad = int(np.array(op.value).astype(t.dtype.np).view(f"u{t.dtype.itemsize}"))
    try:
        maps = tables.gather_map(op, [t.shape], index_values)
    except UnsupportedModelError as e:
        raise UnsupportedModelError(f"node {node.name!r} ({node.kind}): {e}") from None
    for index, (m, y) in enumerate(zip(maps, node.outputs)):
        if kernels_runs.emit_without_table(k, op, index, m, t.shape, k.graph.types[y].shape, t.dtype.itemsize):
            continue   # run copies, or a Transpose's loop nest: no index table (kernels_runs.py)
        m_g = k.mod.table(m, "gather")

        def body(i, m_g=m_g, index=index):   # an index load, a load and a store: about 2 units
            b = k.b
            src = load_i64(b, m_g, i, I32)
            with b.if_else(b.icmp_signed(">=", src, c64(0))) as (then, otherwise):
                with then:
                    store(b, load(b, k.ins[0], src, et), k.outs[index], i, et)
                with otherwise:
                    store(b, ir.Constant(et, pad), k.outs[index], i, et)
        parallel_loop(k, m.size, 2, body)
