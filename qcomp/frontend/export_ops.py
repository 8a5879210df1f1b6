"""Float ONNX emitters of the IR ops, for the QDQ export (export_qdq.py).

Each emitter writes the float computation of one IR node in the IR's own layout: it reads float
tensors from `Writer.input` (dequantized when the IR value is int8) and writes the float tensors
`outs`; export_qdq.py quantizes them when the IR output is int8. Convolutions and pools are
channels-first in ONNX, so an NHWC op becomes

    Transpose(x, (0, 3, 1, 2)) -> Conv / ConvTranspose / MaxPool / AveragePool -> Transpose(y, (0, 2, 3, 1))

with OHWI weights stored as OIHW initializers: w[o, kh, kw, c] = W[o, c, kh, kw]. For ConvTranspose
W[g*Cg + c, o, kh, kw] = w[g*Og + o, kh, kw, c]. Pads (top, left, bottom, right) are ONNX's
(x1_begin, x2_begin, x1_end, x2_end) order already. A fused activation (act_min, act_max) becomes a
Relu or Clip after the op, before the output's QuantizeLinear. Dense x[..., K] w[N, K] is
Gemm(x, w, b, transB=1) for rank-2 x, else MatMul(x, w^T) + b.

Opset 20 of ai.onnx: axes of reductions, pads of Pad and sizes of Split are inputs.
"""
from __future__ import annotations

import numpy as np
import onnx

from ..ir import Node, ops
from .export_writer import ExportError, Writer

NCHW_OF_NHWC = (0, 3, 1, 2)
NHWC_OF_NCHW = (0, 2, 3, 1)
INT64_MAX = int(np.iinfo(np.int64).max)
INT64_MIN = int(np.iinfo(np.int64).min)


def activation(w: Writer, x: str, act_min: float | None, act_max: float | None, out: str | None) -> str:
    """x clamped to [act_min, act_max] (a fused activation), written to `out` (fresh when None)."""
    outs = [out] if out is not None else 1
    if act_min is None and act_max is None:
        return w.node("Identity", [x], outs)[0] if out is not None else x
    if act_min == 0.0 and act_max is None:
        return w.node("Relu", [x], outs)[0]
    lo = "" if act_min is None else w.scalar(act_min, "act_min")
    hi = "" if act_max is None else w.scalar(act_max, "act_max")
    return w.node("Clip", [x, lo, hi], outs)[0]


def _act_then(w: Writer, n: Node, y: str, out: str | None) -> str:
    return activation(w, y, getattr(n.op, "act_min", None), getattr(n.op, "act_max", None), out)


# ---- layout-sensitive ops ---------------------------------------------------------------------

def _nchw_back(w: Writer, y: str, out: str) -> None:
    w.node("Transpose", [y], [out], suffix="to_nhwc", perm=list(NHWC_OF_NCHW))


def conv2d(w: Writer, n: Node, outs: list[str]) -> None:
    op: ops.Conv2D = n.op
    x = w.input(n.inputs[0], NCHW_OF_NHWC)
    wt = w.input(n.inputs[1], NCHW_OF_NHWC)            # OHWI -> OIHW
    b = w.input(n.inputs[2])
    y = w.node("Conv", [x, wt, b], 1, strides=list(op.strides), pads=list(op.pads),
               dilations=list(op.dilations), group=op.group)[0]
    _nchw_back(w, _act_then(w, n, y, None), outs[0])


def conv_transpose2d(w: Writer, n: Node, outs: list[str]) -> None:
    op: ops.ConvTranspose2D = n.op
    g = op.group
    x = w.input(n.inputs[0], NCHW_OF_NHWC)
    wname = n.inputs[1]
    t = w.q.types[wname]
    o, kh, kw, cg = t.shape
    og = o // g
    if g == 1:
        wt = w.input(wname, (3, 0, 1, 2))              # w[o, kh, kw, c] -> W[c, o, kh, kw]
    elif wname in w.q.constants:
        # per-channel scales of o = g*Og + o' span two ONNX axes: store the dequantized float weights
        arr = w.q.constants[wname]
        real = arr.astype(np.float32)
        if t.quant is not None:
            shape = (-1, 1, 1, 1) if t.quant.axis is not None else ()
            real = (arr.astype(np.float32) - t.quant.zero_point.reshape(shape).astype(np.float32)) \
                * t.quant.scale.reshape(shape)
        wt = w.const(real.reshape(g, og, kh, kw, cg).transpose(0, 4, 1, 2, 3).reshape(g * cg, og, kh, kw),
                     f"{wname}_float")
    else:
        raise ExportError(f"node {n.name!r} (ConvTranspose2D): a grouped transposed convolution needs "
                          f"constant weights")
    b = w.input(n.inputs[2])
    y = w.node("ConvTranspose", [x, wt, b], 1, strides=list(op.strides), pads=list(op.pads),
               dilations=list(op.dilations), group=g, output_padding=list(op.output_padding))[0]
    _nchw_back(w, _act_then(w, n, y, None), outs[0])


def max_pool(w: Writer, n: Node, outs: list[str]) -> None:
    op: ops.MaxPool2D = n.op
    x = w.input(n.inputs[0], NCHW_OF_NHWC)
    y = w.node("MaxPool", [x], 1, kernel_shape=list(op.kernel), strides=list(op.strides), pads=list(op.pads),
               dilations=list(op.dilations), ceil_mode=int(op.ceil_mode))[0]
    _nchw_back(w, y, outs[0])


def avg_pool(w: Writer, n: Node, outs: list[str]) -> None:
    op: ops.AvgPool2D = n.op
    x = w.input(n.inputs[0], NCHW_OF_NHWC)
    y = w.node("AveragePool", [x], 1, kernel_shape=list(op.kernel), strides=list(op.strides),
               pads=list(op.pads), dilations=list(op.dilations), ceil_mode=int(op.ceil_mode),
               count_include_pad=int(op.count_include_pad))[0]
    _nchw_back(w, y, outs[0])


def batch_norm(w: Writer, n: Node, outs: list[str]) -> None:
    r = w.q.types[n.inputs[0]].rank
    first = (0, r - 1) + tuple(range(1, r - 1))       # channels-last -> channels-first
    last = (0,) + tuple(range(2, r)) + (1,)
    x = w.input(n.inputs[0], first)
    params = [w.input(p) for p in n.inputs[1:]]
    y = w.node("BatchNormalization", [x] + params, 1, epsilon=n.op.epsilon)[0]
    w.node("Transpose", [y], outs, suffix="to_channels_last", perm=list(last))


# ---- matrix products --------------------------------------------------------------------------

def dense(w: Writer, n: Node, outs: list[str]) -> None:
    x_t = w.q.types[n.inputs[0]]
    x = w.input(n.inputs[0])
    b = w.input(n.inputs[2])
    if x_t.rank == 2:
        y = w.node("Gemm", [x, w.input(n.inputs[1]), b], 1, transB=1)[0]
    else:
        y = w.node("MatMul", [x, w.input(n.inputs[1], (1, 0))], 1)[0]
        y = w.node("Add", [y, b], 1, suffix="bias")[0]
    _act_then(w, n, y, outs[0])


def matmul(w: Writer, n: Node, outs: list[str]) -> None:
    y = w.node("MatMul", [w.input(i) for i in n.inputs], 1)[0]
    _act_then(w, n, y, outs[0])


# ---- elementwise --------------------------------------------------------------------------------

def _simple(op_type: str, **attr_of):
    """An ONNX op of the same inputs; attr_of maps ONNX attribute -> IR attribute name."""
    def emit(w: Writer, n: Node, outs: list[str]) -> None:
        attrs = {k: getattr(n.op, v) for k, v in attr_of.items()}
        w.node(op_type, [w.input(i) for i in n.inputs], outs, **attrs)
    return emit


def add(w: Writer, n: Node, outs: list[str]) -> None:
    y = w.node("Add", [w.input(i) for i in n.inputs], 1)[0]
    _act_then(w, n, y, outs[0])


def clip(w: Writer, n: Node, outs: list[str]) -> None:
    activation(w, w.input(n.inputs[0]), n.op.min, n.op.max, outs[0])


def gelu(w: Writer, n: Node, outs: list[str]) -> None:
    w.node("Gelu", [w.input(n.inputs[0])], outs, approximate=n.op.approximate)


def cast(w: Writer, n: Node, outs: list[str]) -> None:
    to = onnx.helper.np_dtype_to_tensor_dtype(n.op.to.np)
    w.node("Cast", [w.input(n.inputs[0])], outs, to=to)


# ---- reductions, normalization ----------------------------------------------------------------

def _reduce(op_type: str):
    def emit(w: Writer, n: Node, outs: list[str]) -> None:
        axes = w.ints(list(n.op.axes), "axes")
        w.node(op_type, [w.input(n.inputs[0]), axes], outs, keepdims=int(n.op.keepdims))
    return emit


def layer_norm(w: Writer, n: Node, outs: list[str]) -> None:
    x_t = w.q.types[n.inputs[0]]
    norm = x_t.shape[n.op.axis:]
    params = []
    for p in n.inputs[1:]:
        if w.q.types[p].shape == norm:
            params.append(w.input(p))
        elif p in w.q.constants:
            params.append(w.const(np.broadcast_to(w.q.constants[p], norm).astype(np.float32), f"{p}_full"))
        else:
            params.append(w.node("Expand", [w.input(p), w.ints(list(norm), "shape")], 1)[0])
    w.node("LayerNormalization", [w.input(n.inputs[0])] + params, outs, axis=n.op.axis, epsilon=n.op.epsilon)


# ---- data movement ------------------------------------------------------------------------------

def reshape(w: Writer, n: Node, outs: list[str]) -> None:
    w.node("Reshape", [w.input(n.inputs[0]), w.ints(list(n.op.shape), "shape")], outs)


def transpose(w: Writer, n: Node, outs: list[str]) -> None:
    w.node("Transpose", [w.input(n.inputs[0])], outs, perm=list(n.op.perm))


def concat(w: Writer, n: Node, outs: list[str]) -> None:
    w.node("Concat", [w.input(i) for i in n.inputs], outs, axis=n.op.axis)


def split(w: Writer, n: Node, outs: list[str]) -> None:
    w.node("Split", [w.input(n.inputs[0]), w.ints(list(n.op.sizes), "split")], outs, axis=n.op.axis)


def slice_(w: Writer, n: Node, outs: list[str]) -> None:
    op: ops.Slice = n.op
    ends = [(INT64_MAX if st > 0 else INT64_MIN) if e is None else e for e, st in zip(op.ends, op.steps)]
    r = len(op.starts)
    w.node("Slice", [w.input(n.inputs[0]), w.ints(list(op.starts), "starts"), w.ints(ends, "ends"),
                     w.ints(list(range(r)), "axes"), w.ints(list(op.steps), "steps")], outs)


def pad(w: Writer, n: Node, outs: list[str]) -> None:
    op: ops.Pad = n.op
    ins = [w.input(n.inputs[0]), w.ints(list(op.pads), "pads")]
    if op.mode == "constant":
        ins.append(w.scalar(op.value, "pad_value"))
    w.node("Pad", ins, outs, mode=op.mode)


def resize(w: Writer, n: Node, outs: list[str]) -> None:
    op: ops.Resize = n.op
    x_shape = w.q.types[n.inputs[0]].shape
    scales = np.asarray(op.scales, dtype=np.float32)
    by_scales = all(int(np.floor(np.float32(d) * s)) == o for d, s, o in zip(x_shape, scales, op.sizes))
    roi = ""
    if by_scales:
        ins = [w.input(n.inputs[0]), roi, w.const(scales, "scales")]
    else:
        ins = [w.input(n.inputs[0]), roi, "", w.ints(list(op.sizes), "sizes")]
    w.node("Resize", ins, outs, mode=op.mode, coordinate_transformation_mode=op.coordinate_transformation_mode,
           nearest_mode=op.nearest_mode if op.mode == "nearest" else None)


def gather(w: Writer, n: Node, outs: list[str]) -> None:
    w.node("Gather", [w.input(n.inputs[0]), w.raw(n.inputs[1])], outs, axis=n.op.axis)


def top_k(w: Writer, n: Node, outs: list[str]) -> None:
    w.node("TopK", [w.input(n.inputs[0]), w.ints([n.op.k], "k")], outs, axis=n.op.axis, largest=int(n.op.largest))


EMITTERS = {
    ops.Conv2D: conv2d, ops.ConvTranspose2D: conv_transpose2d, ops.Dense: dense, ops.MatMul: matmul,
    ops.BatchNorm: batch_norm, ops.MaxPool2D: max_pool, ops.AvgPool2D: avg_pool,
    ops.Relu: _simple("Relu"), ops.Clip: clip, ops.LeakyRelu: _simple("LeakyRelu", alpha="alpha"),
    ops.Sigmoid: _simple("Sigmoid"), ops.Tanh: _simple("Tanh"),
    ops.HardSigmoid: _simple("HardSigmoid", alpha="alpha", beta="beta"), ops.HardSwish: _simple("HardSwish"),
    ops.Erf: _simple("Erf"), ops.Gelu: gelu, ops.Sqrt: _simple("Sqrt"), ops.Exp: _simple("Exp"),
    ops.Cast: cast, ops.Add: add, ops.Sub: _simple("Sub"), ops.Mul: _simple("Mul"), ops.Div: _simple("Div"),
    ops.Pow: _simple("Pow"), ops.PRelu: _simple("PRelu"),
    ops.ReduceMean: _reduce("ReduceMean"), ops.ReduceMax: _reduce("ReduceMax"),
    ops.Softmax: _simple("Softmax", axis="axis"), ops.LayerNorm: layer_norm,
    ops.Concat: concat, ops.Reshape: reshape, ops.Transpose: transpose, ops.Pad: pad, ops.Slice: slice_,
    ops.Split: split, ops.Resize: resize, ops.Gather: gather,
    ops.Elu: _simple("Elu", alpha="alpha"), ops.Selu: _simple("Selu", alpha="alpha", gamma="gamma"),
    ops.Celu: _simple("Celu", alpha="alpha"), ops.ThresholdedRelu: _simple("ThresholdedRelu", alpha="alpha"),
    ops.Shrink: _simple("Shrink", bias="bias", lambd="lambd"), ops.Mod: _simple("Mod", fmod="fmod"),
    **{cls: _simple(cls.__name__) for cls in (ops.Softplus, ops.Softsign, ops.Mish, ops.Log, ops.Abs, ops.Floor,
                                              ops.Ceil, ops.Round, ops.Sign, ops.Sin, ops.Cos, ops.Min, ops.Max)},
}
EMITTERS[ops.TopK] = top_k

# comparison, logic, selection, more reductions and the index ops (qcomp/ir/ops_logic.py): an int8
# operand is dequantized, which keeps every comparison and extreme (dequantization is increasing)
_COMPARE = {"eq": "Equal", "gt": "Greater", "ge": "GreaterOrEqual", "lt": "Less", "le": "LessOrEqual"}


def _by_mode(names: dict[str, str]):
    def emit(w: Writer, n: Node, outs: list[str]) -> None:
        w.node(names[n.op.mode], [w.input(i) for i in n.inputs], outs)
    return emit


def _arg(op_type: str):
    def emit(w: Writer, n: Node, outs: list[str]) -> None:
        w.node(op_type, [w.input(n.inputs[0])], outs, axis=n.op.axis, keepdims=int(n.op.keepdims),
               select_last_index=int(n.op.select_last_index))
    return emit


def cumsum(w: Writer, n: Node, outs: list[str]) -> None:
    w.node("CumSum", [w.input(n.inputs[0]), w.const(np.asarray(n.op.axis, np.int64), "axis")], outs,
           exclusive=int(n.op.exclusive),
           reverse=int(n.op.reverse))


def is_inf(w: Writer, n: Node, outs: list[str]) -> None:
    w.node("IsInf", [w.input(n.inputs[0])], outs, detect_positive=int(n.op.detect_positive),
           detect_negative=int(n.op.detect_negative))


EMITTERS.update({
    ops.Compare: _by_mode(_COMPARE), ops.Logical: _by_mode({"and": "And", "or": "Or", "xor": "Xor"}),
    ops.Not: _simple("Not"), ops.Where: _simple("Where"), ops.IsNaN: _simple("IsNaN"), ops.IsInf: is_inf,
    ops.ReduceSum: _reduce("ReduceSum"), ops.ReduceMin: _reduce("ReduceMin"), ops.ReduceProd: _reduce("ReduceProd"),
    ops.ArgMax: _arg("ArgMax"), ops.ArgMin: _arg("ArgMin"), ops.CumSum: cumsum,
})

# the float ops a Lut may stand for (its `source`), with a scalar operand for binary ones
LUT_UNARY = (ops.Relu, ops.Clip, ops.LeakyRelu, ops.Sigmoid, ops.Tanh, ops.HardSigmoid, ops.HardSwish,
             ops.Erf, ops.Gelu, ops.Sqrt, ops.Exp, ops.Elu, ops.Selu, ops.Celu, ops.Softplus, ops.Softsign,
             ops.Mish, ops.Log, ops.Abs, ops.Floor, ops.Ceil, ops.Round, ops.Sign, ops.Sin, ops.Cos,
             ops.ThresholdedRelu, ops.Shrink)
LUT_BINARY = {ops.Add: "Add", ops.Sub: "Sub", ops.Mul: "Mul", ops.Div: "Div", ops.Pow: "Pow",
              ops.PRelu: "PRelu"}

__all__ = ["EMITTERS", "LUT_UNARY", "LUT_BINARY", "activation"]
