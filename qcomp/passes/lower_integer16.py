"""Lower the int16 nodes of a QUANTIZED graph (quantize16.py) to the A16W8 ops (qcomp/ir/qops16.py).

A node is lowered here when one of its values is int16 (lower_integer asks `rule` first). With
input scale s_in (zero point 0), weights s_w[c], output (s_out, zp_out) of dtype int16 or int8:

  Conv2D / Dense -> QConv2D16 / QDense16:  M[c] = s_in * s_w[c] / s_out -> (multiplier[c], shift[c]),
      bias i64 unchanged (no input zero point to fold), acc_bits = fixedpoint.accumulator16_bits(K,
      max |bias|): 32 or 64; K or a bias beyond the int64 requantize's range is refused.
  MatMul -> QMatMul16: M = s_a * s_b / s_out, acc_bits = fixedpoint.accumulator16x16_bits(K).
  Add / Sub / Mul -> QAdd16 / QSub16 / QMul16: fixedpoint.add_params16 / mul_params16.
  AvgPool2D -> QAvgPool2D16: fixedpoint.window_multipliers16(s_in, s_out, KH * KW).
  ReduceMean -> QMean16: M = s_in / (s_out * count), count <= 65535.
  Requantize with an int16 side -> QConvert: fixedpoint.convert_params.
  Softmax with int16 values -> QSoftmax16 (quantize_softmax16.lower: softmax16_params(1, s_in)).
With acc_bits 64 the requantize takes shifts up to fixedpoint.MAX_SHIFT_64 (14, i.e. M < 2^14): a
larger M (an output scale 2^14 times finer than the accumulator's) is refused with the node's name.
[qmin, qmax] = the output type's range intersected with a fused activation's bounds on its grid.
A dot product whose int16 result is read only by a conversion to int8 writes that int8 value
directly (its requantize to the int8 params: one rounding instead of two). Lut16,
Quantize/Dequantize and the type-generic ops need no lowering.
"""
from __future__ import annotations

import math
import weakref

import numpy as np

from .. import fixedpoint
from ..errors import QcompError
from ..ir import DType, Graph, Node, ops, qops16
from . import quantize_softmax16

I8, I16 = DType.INT8, DType.INT16
_OUT_DTYPE = {I8: "i8", I16: "i16"}
_KEEP = "keep it int8 (drop its --precision int16)"
_DOTS = (ops.Conv2D, ops.Dense, ops.MatMul)


def _qp(g: Graph, v: str) -> tuple[float, int]:
    q = g.types[v].quant
    return float(q.scale[0]), int(q.zero_point[0])


def _clamp(g: Graph, n: Node, y: str) -> dict:
    """qmin, qmax and out_dtype of node n writing y (with its fused activation, if any)."""
    dtype = g.types[y].dtype
    s_out, zp_out = _qp(g, y)
    lo, hi = dtype.qrange
    if s_out > 0:
        if getattr(n.op, "act_min", None) is not None:
            lo = max(lo, zp_out + int(np.rint(n.op.act_min / s_out)))
        if getattr(n.op, "act_max", None) is not None:
            hi = min(hi, zp_out + int(np.rint(n.op.act_max / s_out)))
    if lo > hi:
        lo = hi = int(np.clip(zp_out, *dtype.qrange))
    return {"qmin": lo, "qmax": hi, "out_dtype": _OUT_DTYPE[dtype]}


def _ratio(num, den: float):
    return np.zeros_like(np.asarray(num, dtype=np.float64)) if den == 0 else np.asarray(num, np.float64) / den


def _acc_bits(n: Node, bits_of, *args) -> int:
    try:
        return bits_of(*args)
    except fixedpoint.FixedPointError as e:
        raise QcompError(f"node {n.name!r} ({n.kind}) in int16: {e}") from None


def _check_shift(n: Node, acc_bits: int, shift) -> None:
    if acc_bits == 64 and int(np.max(shift)) > fixedpoint.MAX_SHIFT_64:
        raise QcompError(f"node {n.name!r} ({n.kind}) in int16: its rescale s_in * s_w / s_out needs shift "
                         f"{int(np.max(shift))} > {fixedpoint.MAX_SHIFT_64}, beyond the int64 requantize (the "
                         f"output scale is too fine for its accumulator); {_KEEP}")


def _links(g: Graph) -> tuple[dict, dict]:
    """(g.consumers(), g.producers()), kept for the graph being lowered (per node: quadratic)."""
    if _LAST[0] is None or _LAST[0]() is not g:
        _LAST[:] = [weakref.ref(g), (g.consumers(), g.producers())]
    return _LAST[1]


_LAST: list = [None, None]


def _folded_conversion(g: Graph, n: Node) -> Node | None:
    """The conversion to int8 that the dot product n writes directly: the only reader of n's int16
    result, when that result is no graph output (quantize16 writes int16, then int8)."""
    y = n.outputs[0]
    if not isinstance(n.op, _DOTS) or g.types[y].dtype is not I16 or y in g.outputs:
        return None
    readers = _links(g)[0].get(y, [])
    if len(readers) == 1 and isinstance(readers[0].op, ops.Requantize) and g.types[readers[0].outputs[0]].dtype is I8:
        return readers[0]
    return None


def _output(g: Graph, n: Node) -> str:
    folded = _folded_conversion(g, n)
    return n.outputs[0] if folded is None else folded.outputs[0]


def _weighted(g: Graph, out: Graph, n: Node) -> None:
    x, w, b = n.inputs
    y = _output(g, n)
    s_in, _ = _qp(g, x)
    s_out, zp_out = _qp(g, y)
    w_arr = g.constants[w]
    channels = w_arr.shape[0]
    s_w = np.broadcast_to(g.types[w].quant.scale.astype(np.float64), (channels,))
    m, s = fixedpoint.quantize_multipliers(_ratio((s_in if s_in > 0 else 1.0) * s_w, s_out))
    mult = np.asarray(m, np.int32).reshape(-1)
    shift = np.asarray(s, np.int32).reshape(-1)
    bias = np.broadcast_to(g.constants[b].astype(np.int64), (channels,))
    k = int(np.prod(w_arr.shape[1:]))
    acc_bits = _acc_bits(n, fixedpoint.accumulator16_bits, k, int(np.abs(bias).max(initial=0)))
    _check_shift(n, acc_bits, shift)
    consts = [out.add_constant(f"{b}_i64", bias.copy()), out.add_constant(f"{n.name}_multiplier", mult),
              out.add_constant(f"{n.name}_shift", shift)]
    common = dict(acc_bits=acc_bits, output_zero_point=zp_out, **_clamp(g, n, y))
    if isinstance(n.op, ops.Conv2D):
        op = qops16.QConv2D16(n.op.strides, n.op.pads, n.op.dilations, n.op.group, **common)
    else:
        op = qops16.QDense16(**common)
    out.add_node(op, [x, w, *consts], n.name, outputs=[y], out_types=[g.types[y]])


def _matmul(g: Graph, out: Graph, n: Node) -> None:
    a, b = n.inputs
    y = _output(g, n)
    (s_a, _), (s_b, _), (s_out, zp_out) = _qp(g, a), _qp(g, b), _qp(g, y)
    acc_bits = _acc_bits(n, fixedpoint.accumulator16x16_bits, g.types[a].shape[-1])
    m, s = fixedpoint.quantize_multiplier(float(_ratio(s_a * s_b, s_out)))
    _check_shift(n, acc_bits, s)
    op = qops16.QMatMul16(m, s, acc_bits, zp_out, **_clamp(g, n, y))
    out.add_node(op, [a, b], n.name, outputs=[y], out_types=[g.types[y]])


def _binary(g: Graph, out: Graph, n: Node) -> None:
    a, b = n.inputs
    y = n.outputs[0]
    (s_a, _), (s_b, _), (s_out, _) = _qp(g, a), _qp(g, b), _qp(g, y)
    c = _clamp(g, n, y)
    if isinstance(n.op, ops.Mul):
        p = fixedpoint.mul_params16(s_a, s_b, s_out, c["qmin"], c["qmax"])
        op = qops16.QMul16(p.multiplier, p.shift, p.qmin, p.qmax)
    else:
        p = fixedpoint.add_params16(s_a, s_b, s_out, c["qmin"], c["qmax"])
        cls = qops16.QAdd16 if isinstance(n.op, ops.Add) else qops16.QSub16
        op = cls(p.a_multiplier, p.a_shift, p.b_multiplier, p.b_shift, p.out_multiplier, p.out_shift, p.qmin, p.qmax)
    out.add_node(op, [a, b], n.name, outputs=[y], out_types=[g.types[y]])


def _avgpool(g: Graph, out: Graph, n: Node) -> None:
    x, y = n.inputs[0], n.outputs[0]
    o = n.op
    try:
        m, s = fixedpoint.window_multipliers16(_qp(g, x)[0], _qp(g, y)[0], o.kernel[0] * o.kernel[1])
    except fixedpoint.FixedPointError as e:
        raise QcompError(f"node {n.name!r} (AvgPool2D) in int16: {e}; {_KEEP}") from None
    c = _clamp(g, n, y)
    op = qops16.QAvgPool2D16(o.kernel, o.strides, o.pads, o.ceil_mode, o.count_include_pad, o.dilations, m, s,
                             c["qmin"], c["qmax"])
    out.add_node(op, [x], n.name, outputs=[y], out_types=[g.types[y]])


def _mean(g: Graph, out: Graph, n: Node) -> None:
    x, y = n.inputs[0], n.outputs[0]
    (s_in, _), (s_out, _) = _qp(g, x), _qp(g, y)
    count = math.prod(g.types[x].shape[a] for a in n.op.axes)
    if count > fixedpoint.MAX_WINDOW_COUNT16:
        raise QcompError(f"node {n.name!r} (ReduceMean) in int16: it sums {count} values, more than the "
                         f"{fixedpoint.MAX_WINDOW_COUNT16} whose int16 sum fits int32; {_KEEP}")
    m, s = (0, 0) if s_out == 0 else fixedpoint.quantize_multiplier(s_in / (s_out * count))
    c = _clamp(g, n, y)
    op = qops16.QMean16(n.op.axes, n.op.keepdims, count, m, s, c["qmin"], c["qmax"])
    out.add_node(op, [x], n.name, outputs=[y], out_types=[g.types[y]])


def _convert(g: Graph, out: Graph, n: Node) -> None:
    x, y = n.inputs[0], n.outputs[0]
    producer = _links(g)[1].get(x)
    if producer is not None and _folded_conversion(g, producer) is n:
        return   # the dot product writes y itself
    (s_in, zp_in), (s_out, zp_out) = _qp(g, x), _qp(g, y)
    tx, ty = g.types[x].dtype, g.types[y].dtype
    p = fixedpoint.convert_params(s_in, zp_in, tx.np, s_out, zp_out, ty.np)
    op = qops16.QConvert(p.in_zero_point, p.multiplier, p.shift, p.out_zero_point, p.qmin, p.qmax, _OUT_DTYPE[ty])
    out.add_node(op, [x], n.name, outputs=[y], out_types=[g.types[y]])


_LOWER16 = {
    ops.Conv2D: _weighted, ops.Dense: _weighted, ops.MatMul: _matmul, ops.Add: _binary, ops.Sub: _binary,
    ops.Mul: _binary, ops.AvgPool2D: _avgpool, ops.ReduceMean: _mean, ops.Requantize: _convert,
}

_LOWER16[ops.Softmax] = quantize_softmax16.lower   # int16 Softmax -> QSoftmax16 (quantize_softmax16.py)


def rule(g: Graph, n: Node):
    """The lowering of node n when it touches an int16 value, else None (lower_integer's int8 rules)."""
    lower = _LOWER16.get(type(n.op))
    if lower is None or not any(g.types[v].dtype is I16 for v in (*n.inputs, *n.outputs)):
        return None
    return lower


# ---- LayerNorm on int16 (quantize_norm16.py): QLayerNorm16, writing a following int8
# conversion itself as the dot products do (_folded_conversion reads _DOTS at call time) ----
from . import quantize_norm16  # noqa: E402

_DOTS = _DOTS + (ops.LayerNorm,)


def _layer_norm(g: Graph, out: Graph, n: Node) -> None:
    quantize_norm16.lower(g, out, n, _output(g, n))


_LOWER16[ops.LayerNorm] = _layer_norm
