"""Lower a QUANTIZED graph to integer-only ops (TARGET stage): every rescale becomes integers.

For a weighted op with input (s_in, zp_in), weights s_w[c] (zero point 0), output (s_out, zp_out):

  M[c] = s_in * s_w[c] / s_out          -> (multiplier[c], shift[c]) = quantize_multiplier(M[c])
                                           (s_in = 0, an all-zero input: 1 * s_w[c] / s_out)
  bias'[c] = bias[c] - zp_in * sum(w[c])   (Conv2D, Dense: padding reads zp_in, so the sum is exact)
  [qmin, qmax] = [-128, 127] intersected with zp_out + rint(act_min / s_out), zp_out + rint(act_max / s_out)

MatMul of two activations: M = s_a * s_b / s_out; Add/Sub/Mul/AvgPool2D/ReduceMean: the params of
qcomp.fixedpoint (add_params, mul_params, avgpool_params, mean_params); Requantize:
M = s_in / s_out; Softmax: fixedpoint.softmax_params(1, s_in) (beta 1: ONNX Softmax has none), its
output at the spec's scale 1/256, zero point -128 (quantize sets it); LayerNorm: QLayerNorm with
fixedpoint.layernorm_params (quantize_norm.py). A zero output scale (an
all-zero tensor) gives multiplier 0: the output is the constant zero point. The accumulator bound of fixedpoint.accumulator_fits_int32 is checked for
every dot product; a layer that could overflow int32 is refused with its name.
"""
from __future__ import annotations

import math

import numpy as np

from .. import fixedpoint
from ..errors import QcompError
from ..ir import DType, Graph, Node, Stage, ops
from ..ir import qops
from . import lower_integer16
from . import lower_int_boundary
from . import quantize_norm
from .pipeline import each_node


def _qp(g: Graph, v: str) -> tuple[float, int]:
    q = g.types[v].quant
    return float(q.scale[0]), int(q.zero_point[0])


def _clamp_bounds(op, s_out: float, zp_out: int) -> tuple[int, int]:
    lo, hi = -128, 127
    if s_out > 0:
        if getattr(op, "act_min", None) is not None:
            lo = max(lo, zp_out + int(np.rint(op.act_min / s_out)))
        if getattr(op, "act_max", None) is not None:
            hi = min(hi, zp_out + int(np.rint(op.act_max / s_out)))
    if lo > hi:
        lo = hi = min(max(zp_out, -128), 127)
    return lo, hi


def _multipliers(reals: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    m, s = fixedpoint.quantize_multipliers(np.asarray(reals, dtype=np.float64))
    return np.asarray(m, dtype=np.int32).reshape(-1), np.asarray(s, dtype=np.int32).reshape(-1)


def _ratio(num, den: float):
    return np.zeros_like(np.asarray(num, dtype=np.float64)) if den == 0 else np.asarray(num, np.float64) / den


def _weighted(g: Graph, out: Graph, n: Node) -> None:
    x, w, b = n.inputs
    s_in, zp_in = _qp(g, x)
    y = n.outputs[0]
    s_out, zp_out = _qp(g, y)
    wq = g.types[w].quant
    w_arr = g.constants[w].astype(np.int64)
    channels = w_arr.shape[0]
    s_w = np.broadcast_to(wq.scale.astype(np.float64), (channels,))
    s_acc = s_in if s_in > 0 else 1.0  # the accumulator's scale: the bias's (quantize.py), x is all zero
    mult, shift = _multipliers(_ratio(s_acc * s_w, s_out))
    bias = np.broadcast_to(g.constants[b].astype(np.int64), (channels,))
    k = int(np.prod(w_arr.shape[1:]))  # terms per output: KH*KW*C/g (at most, for ConvTranspose2D)
    bias_abs = int(np.abs(bias).max(initial=0))
    if not fixedpoint.accumulator_fits_int32(k, bias_abs=bias_abs):
        raise QcompError(f"node {n.name!r} ({n.kind}): its int32 accumulator could overflow ({k} terms "
                         f"of 127 * 255 plus a bias of {bias_abs}); keep it in float with --skip {n.name}")
    # ConvTranspose2D subtracts zp_in in its kernel (border outputs get fewer terms)
    bias_folded = bias if isinstance(n.op, ops.ConvTranspose2D) else \
        bias - zp_in * w_arr.reshape(channels, -1).sum(axis=1)
    qmin, qmax = _clamp_bounds(n.op, s_out, zp_out)
    consts = [out.add_constant(f"{b}_folded", bias_folded.astype(np.int32)),
              out.add_constant(f"{n.name}_multiplier", mult), out.add_constant(f"{n.name}_shift", shift)]
    common = dict(input_zero_point=zp_in, output_zero_point=zp_out, qmin=qmin, qmax=qmax)
    if isinstance(n.op, ops.Conv2D):
        op = qops.QConv2D(n.op.strides, n.op.pads, n.op.dilations, n.op.group, **common)
    elif isinstance(n.op, ops.ConvTranspose2D):
        op = qops.QConvTranspose2D(n.op.strides, n.op.pads, n.op.dilations, n.op.group, n.op.output_padding,
                                   **common)
    else:
        op = qops.QDense(**common)
    out.add_node(op, [x, w, *consts], n.name, outputs=[y], out_types=[g.types[y]])


def _matmul(g: Graph, out: Graph, n: Node) -> None:
    a, b = n.inputs
    (s_a, zp_a), (s_b, zp_b) = _qp(g, a), _qp(g, b)
    y = n.outputs[0]
    s_out, zp_out = _qp(g, y)
    k = g.types[a].shape[-1]
    if fixedpoint.max_abs_accumulator(k, w_max=255, x_span=255) > fixedpoint.INT32_MAX:
        raise QcompError(f"node {n.name!r} (MatMul): {k} products of two int8 activations could overflow "
                         f"int32; keep it in float with --skip {n.name}")
    m, s = fixedpoint.quantize_multiplier(float(_ratio(s_a * s_b, s_out)))
    qmin, qmax = _clamp_bounds(n.op, s_out, zp_out)
    op = qops.QMatMul(zp_a, zp_b, m, s, zp_out, qmin, qmax)
    out.add_node(op, [a, b], n.name, outputs=[y], out_types=[g.types[y]])


def _binary(g: Graph, out: Graph, n: Node) -> None:
    a, b = n.inputs
    (s_a, zp_a), (s_b, zp_b) = _qp(g, a), _qp(g, b)
    y = n.outputs[0]
    s_out, zp_out = _qp(g, y)
    qmin, qmax = _clamp_bounds(n.op, s_out, zp_out)
    if isinstance(n.op, ops.Mul):
        p = fixedpoint.mul_params(s_a, zp_a, s_b, zp_b, s_out, zp_out, qmin, qmax)
        op = qops.QMul(**vars(p))
    else:
        p = fixedpoint.add_params(s_a, zp_a, s_b, zp_b, s_out, zp_out, qmin, qmax)
        op = (qops.QAdd if isinstance(n.op, ops.Add) else qops.QSub)(**vars(p))
    out.add_node(op, [a, b], n.name, outputs=[y], out_types=[g.types[y]])


def _avgpool(g: Graph, out: Graph, n: Node) -> None:
    x, y = n.inputs[0], n.outputs[0]
    (s_in, zp_in), (s_out, zp_out) = _qp(g, x), _qp(g, y)
    o = n.op
    p = fixedpoint.avgpool_params(s_in, zp_in, s_out, zp_out, o.kernel[0] * o.kernel[1])
    op = qops.QAvgPool2D(o.kernel, o.strides, o.pads, o.ceil_mode, o.count_include_pad, o.dilations,
                         p.in_zero_point, tuple(int(v) for v in p.multipliers), tuple(int(v) for v in p.shifts),
                         p.out_zero_point, p.qmin, p.qmax)
    out.add_node(op, [x], n.name, outputs=[y], out_types=[g.types[y]])


def _mean(g: Graph, out: Graph, n: Node) -> None:
    x, y = n.inputs[0], n.outputs[0]
    (s_in, zp_in), (s_out, zp_out) = _qp(g, x), _qp(g, y)
    count = math.prod(g.types[x].shape[a] for a in n.op.axes)
    p = fixedpoint.mean_params(s_in, zp_in, s_out, zp_out, count)
    op = qops.QMean(n.op.axes, n.op.keepdims, **vars(p))
    out.add_node(op, [x], n.name, outputs=[y], out_types=[g.types[y]])


def _requantize(g: Graph, out: Graph, n: Node) -> None:
    x, y = n.inputs[0], n.outputs[0]
    (s_in, zp_in), (s_out, zp_out) = _qp(g, x), _qp(g, y)
    m, s = fixedpoint.quantize_multiplier(float(_ratio(s_in, s_out)))
    out.add_node(qops.QRequantize(zp_in, m, s, zp_out), [x], n.name, outputs=[y], out_types=[g.types[y]])


def _softmax(g: Graph, out: Graph, n: Node) -> None:
    x, y = n.inputs[0], n.outputs[0]
    (s_in, _), (s_out, zp_out) = _qp(g, x), _qp(g, y)
    depth = g.types[x].shape[n.op.axis]
    reason = fixedpoint.softmax_refusal(depth, 1.0, s_in)
    if reason is not None:
        raise QcompError(f"node {n.name!r} (Softmax): {reason}; keep it in float with --skip {n.name} "
                         f"(on a target with float math)")
    if (s_out, zp_out) != (fixedpoint.SOFTMAX_OUTPUT_SCALE, fixedpoint.SOFTMAX_OUTPUT_ZERO_POINT):
        raise QcompError(f"node {n.name!r} (Softmax): its int8 output has scale {s_out:g} and zero point "
                         f"{zp_out}; the integer Softmax writes scale 1/256, zero point -128")
    p = fixedpoint.softmax_params(1.0, s_in)
    op = qops.QSoftmax(n.op.axis, p.input_multiplier, p.input_left_shift, p.diff_min)
    out.add_node(op, [x], n.name, outputs=[y], out_types=[g.types[y]])


def _pad(g: Graph, out: Graph, n: Node) -> None:
    x, y = n.inputs[0], n.outputs[0]
    s, zp = _qp(g, x)
    value = float(fixedpoint.quantize(np.float32(n.op.value), s, zp))
    op = ops.Pad(n.op.pads, n.op.mode, value)
    out.add_node(op, [x], n.name, outputs=[y], out_types=[g.types[y]])


_LOWER = {
    ops.Conv2D: _weighted, ops.ConvTranspose2D: _weighted, ops.Dense: _weighted, ops.MatMul: _matmul,
    ops.Add: _binary, ops.Sub: _binary, ops.Mul: _binary, ops.AvgPool2D: _avgpool, ops.ReduceMean: _mean,
    ops.Requantize: _requantize, ops.Pad: _pad, ops.Softmax: _softmax,
}
_LOWER[ops.LayerNorm] = quantize_norm.lower   # QLayerNorm (quantize_norm.py)


def _is_int8(g: Graph, n: Node) -> bool:
    return any(g.types[v].dtype is DType.INT8 for v in n.outputs)


def lower_integer(g: Graph) -> Graph:
    if g.stage is not Stage.QUANTIZED:
        raise QcompError(f"lower_integer takes a QUANTIZED graph, got {g.stage.name}")
    out = Graph(name=g.name, stage=Stage.TARGET, inputs=list(g.inputs), outputs=list(g.outputs),
                meta=dict(g.meta))
    for i in g.inputs:
        out.types[i] = g.types[i]
    for c, arr in g.constants.items():
        out.constants[c] = arr
        out.types[c] = g.types[c]
    producers = g.producers()
    for n in each_node(g.nodes):
        rule = _LOWER.get(type(n.op))
        if lower_int_boundary.lower(g, out, n, producers):   # token ids / masks (lower_int_boundary.py)
            continue
        if (rule16 := lower_integer16.rule(g, n)) is not None:   # int16 values (A16W8): lower_integer16.py
            rule16(g, out, n)
        elif rule is not None and _is_int8(g, n) and not isinstance(n.op, ops.Quantize):
            rule(g, out, n)
        else:
            out.add_node(n.op, n.inputs, n.name, outputs=list(n.outputs),
                         out_types=[g.types[o] for o in n.outputs])
    out.prune()
    return out

