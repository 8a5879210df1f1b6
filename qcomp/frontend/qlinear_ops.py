"""QOperator nodes of pre-quantized models, imported as their float op (ops_quant.py's design).

Each QLinear node computes a float op on the reals its int8/uint8 inputs encode and quantizes the
result. It becomes that float op, run by the ordinary converter on a synthetic node, with the
params of every run-time input and of the output recorded (ops_quant.record_activation), and
constant operands dequantized (weights recorded, so their scales are kept):

  QLinearConv(x, sx, zx, w, sw, zw, sy, zy, B)  -> Conv(x, (w - zw) * sw, B * sx * sw)   y: (sy, zy)
  QLinearMatMul(a, sa, za, b, sb, zb, sy, zy)   -> MatMul(a, b)  (a constant b: (b - zb) * sb; a Dense weight
                                                   where b - zb fits [-127, 127], else a tensor operand)
  QLinearAdd / QLinearMul (com.microsoft)       -> Add / Mul
  QLinearGlobalAveragePool, QLinearAveragePool  -> GlobalAveragePool, AveragePool (channels_last too)
  QLinearSigmoid, QLinearLeakyRelu              -> Sigmoid, LeakyRelu
  QLinearConcat(sy, zy, (x, sx, zx)...)         -> Concat
  QGemm(a, sa, za, b, sb, zb, C, sy, zy)        -> Gemm(a, (b - zb) * sb, C * sa * sb)  (alpha 1)

An int8/uint8 graph input read by a QLinear op is an integer model input with that op's params, and
a QLinear op writing a graph output makes it an integer model output (int_io.py): the standalone
QLinearMatMul / QLinearConv of a model with integer I/O is the DQ -> MatMul / Conv -> Q form.

The bias of QLinearConv is int32 at scale sx * sw[o]: its real value, computed in float64 and
stored as float32, quantizes back to the same integers in qcomp's quantize pass (up to 1 unit for
|B| above 2^22, where float32 cannot hold every integer multiple).

Dynamic quantization (DynamicQuantizeLinear -> ConvInteger / MatMulInteger -> Cast -> Mul by the
scales -> Add bias, as onnxruntime's quantize_dynamic writes it) is in dynamic_ops.py.
"""
from __future__ import annotations

import numpy as np
import onnx

from ..ir import ops as irops
from . import int_io, layout
from .context import Attrs, Const, Context, Unsupported, Val, Value
from .ops_math import matmul_values
from .ops_quant import dequantized_weight, int8_params, record_activation, run_float

MS = "com.microsoft"


def _params(ctx: Context, ins: list[Value | None], k: int, what: str):
    """(scale, zero point array or None) of the triple whose scale is input k."""
    scale = ctx.const(ins[k], f"{what} scale (input {k})")
    zp_v = ins[k + 1] if len(ins) > k + 1 else None
    return scale, (None if zp_v is None else ctx.const(zp_v, f"{what} zero point (input {k + 1})"))


def _activation_in(ctx: Context, ins: list[Value | None], k: int, what: str) -> Value:
    """Input k (a quantized run-time tensor, or a constant) as the reals it encodes; its params
    (inputs k+1, k+2) are recorded on the run-time value."""
    v = ins[k]
    scale, zp = _params(ctx, ins, k + 1, what)
    if np.asarray(scale).size != 1 or (zp is not None and zp.size != 1):
        raise Unsupported(f"{what} has {np.asarray(scale).size} scale(s) and {1 if zp is None else zp.size} "
                          f"zero point(s); qcomp imports activations quantized per tensor (one of each)")
    if isinstance(v, Const):
        q = v.array
        zp_arr = np.zeros(1, np.int64) if zp is None else zp.astype(np.int64)
        real = ((q.astype(np.int64) - zp_arr.reshape(-1)[0]).astype(np.float32)
                * np.float32(np.asarray(scale).reshape(-1)[0]))
        return Const(real.astype(np.float32), v.name)
    v = ctx.val(v, f"input {k}")
    if not ctx.dtype(v).is_float and int_io.integer_graph_input(ctx, v, scale, zp):
        return v   # an integer model input: now the reals it encodes, with these params (int_io.py)
    if not ctx.dtype(v).is_float:   # its quantized values, not the reals they encode: no float op takes them
        raise Unsupported(f"{what} is a {ctx.dtype(v).value} tensor that no QuantizeLinear or QOperator node "
                          f"produced (an integer model input?); qcomp's model inputs are float")
    dtype = zp.dtype if zp is not None else np.dtype(np.uint8)
    record_activation(ctx, v, int8_params(scale, zp, dtype, what), what)
    return v


def _record_output(ctx: Context, node: onnx.NodeProto, outs: list[Value], ins: list[Value | None], k: int) -> None:
    scale, zp = _params(ctx, ins, k, "output")
    dtype = zp.dtype if zp is not None else np.dtype(np.uint8)
    record_activation(ctx, outs[0], int8_params(scale, zp, dtype, f"output {node.output[0]!r}"), node.output[0])
    int_io.quantized_graph_output(ctx, node.output[0], dtype, scale, zp, getattr(ctx, "onnx_outputs", set()))
    ctx.quant.formats.add("QOperator")


_CONV_ATTRS = ("auto_pad", "dilations", "group", "kernel_shape", "pads", "strides")


def qlinear_conv(ctx: Context, node: onnx.NodeProto) -> list[Value]:
    ins = ctx.inputs(node) + [None] * 9
    x = _activation_in(ctx, ins, 0, f"input {node.input[0]!r}")
    x_scale = np.float64(np.asarray(ctx.const(ins[1], "x_scale (input 1)")).reshape(-1)[0])
    w = ctx.const(ins[3], "weight (input 3)")
    w_scale, w_zp = _params(ctx, ins, 4, "weight")
    real_w = Const(dequantized_weight(ctx, node.input[3], w, w_scale, w_zp, axis=0), node.input[3])
    b = None
    if ins[8] is not None:
        bias = ctx.const(ins[8], "bias (input 8)")
        s_b = x_scale * np.broadcast_to(np.asarray(w_scale, np.float64).reshape(-1), bias.shape)
        b = Const((bias.astype(np.float64) * s_b).astype(np.float32), node.input[8])
    outs = run_float(ctx, node, "Conv", [x, real_w, b], _CONV_ATTRS)
    _record_output(ctx, node, outs, ins, 6)
    return outs


def qlinear_matmul(ctx: Context, node: onnx.NodeProto) -> list[Value]:
    ins = ctx.inputs(node)
    a = _activation_in(ctx, ins, 0, f"input {node.input[0]!r}")
    if isinstance(ins[3], Const):
        q = ins[3].array
        scale, zp = _params(ctx, ins, 4, "b")
        if q.ndim == 2 and not _symmetric_int8(q, zp):
            return _matmul_by_tensor(ctx, node, ins, a, q, scale, zp)
        b: Value = Const(dequantized_weight(ctx, node.input[3], q, scale, zp, axis=q.ndim - 1), node.input[3])
    else:
        b = _activation_in(ctx, ins, 3, f"input {node.input[3]!r}")
    outs = run_float(ctx, node, "MatMul", [a, b])
    _record_output(ctx, node, outs, ins, 6)
    return outs


def _symmetric_int8(q: np.ndarray, zp: np.ndarray | None) -> bool:
    """Whether q - zp (zp per tensor or per column) lies in qcomp's symmetric weight range [-127, 127]."""
    z = np.zeros(1, np.int64) if zp is None else np.asarray(zp).astype(np.int64).reshape(-1)
    if z.size not in (1, q.shape[-1]):
        return True   # dequantized_weight names the mismatch
    n = q.astype(np.int64) - z
    return bool(n.size == 0 or (n.min() >= -127 and n.max() <= 127))


def _matmul_by_tensor(ctx: Context, node: onnx.NodeProto, ins: list[Value | None], a: Value, q: np.ndarray,
                      scale: np.ndarray, zp: np.ndarray | None) -> list[Value]:
    """A 2-D constant B whose q - zp leaves [-127, 127] (asymmetric uint8/int8 weights, as ONNX's own
    QLinearMatMul examples have): not a Dense weight (qcomp's weights are symmetric int8), but the
    second operand of a MatMul, B = float32((q - zp) * s) exactly, which the quantize pass gives int8
    params of its own (an asymmetric zero point is allowed there) like any MatMul of two tensors."""
    s = np.asarray(scale, np.float32).reshape(-1)
    z = np.zeros(1, np.int64) if zp is None else np.asarray(zp).astype(np.int64).reshape(-1)
    if s.size not in (1, q.shape[-1]) or not np.all(np.isfinite(s)):
        raise Unsupported(f"b_scale has {s.size} values; B of shape {q.shape} needs 1 or {q.shape[-1]} finite ones")
    real = ((q.astype(np.int64) - z).astype(np.float32) * s).astype(np.float32)
    b = Val(ctx.constant(real, node.input[3]), layout.identity(2))
    outs = [matmul_values(ctx, a, b, ctx.out_name())]
    _record_output(ctx, node, outs, ins, 6)
    return outs


def qgemm(ctx: Context, node: onnx.NodeProto) -> list[Value]:
    """QGemm (com.microsoft): Y = A' B' + C, C int32 at scale sa * sb[n]; a float Y without y_scale."""
    ins = ctx.inputs(node) + [None] * 9
    a = Attrs(node)
    if a.float("alpha", 1.0) != 1.0 or a.int("transA", 0):
        raise Unsupported("QGemm with alpha != 1 or transA is not supported")
    x = _activation_in(ctx, ins, 0, f"input {node.input[0]!r}")
    a_scale = np.float64(np.asarray(ctx.const(ins[1], "a_scale (input 1)")).reshape(-1)[0])
    q = ctx.const(ins[3], "B (input 3)")
    b_scale, b_zp = _params(ctx, ins, 4, "B")
    trans_b = a.int("transB", 0)
    real_b = Const(dequantized_weight(ctx, node.input[3], q, b_scale, b_zp, axis=0 if trans_b else 1), node.input[3])
    c = None
    if ins[6] is not None:
        bias = ctx.const(ins[6], "C (input 6)")
        c = Const((bias.astype(np.float64) * a_scale * np.asarray(b_scale, np.float64).reshape(-1)).astype(np.float32),
                  node.input[6])
    outs = run_float(ctx, node, "Gemm", [x, real_b, c], ("transB",))
    if ins[7] is not None:
        _record_output(ctx, node, outs, ins, 7)
    return outs


def _qlinear_binary(op_type: str):
    def convert(ctx: Context, node: onnx.NodeProto) -> list[Value]:
        ins = ctx.inputs(node) + [None] * 8
        a = _activation_in(ctx, ins, 0, f"input {node.input[0]!r}")
        b = _activation_in(ctx, ins, 3, f"input {node.input[3]!r}")
        outs = run_float(ctx, node, op_type, [a, b])
        _record_output(ctx, node, outs, ins, 6)
        return outs
    return convert


def _qlinear_unary(op_type: str, attrs: tuple[str, ...] = ()):
    def convert(ctx: Context, node: onnx.NodeProto) -> list[Value]:
        ins = ctx.inputs(node) + [None] * 5
        x = _activation_in(ctx, ins, 0, f"input {node.input[0]!r}")
        if Attrs(node).int("channels_last", 0):
            if op_type != "GlobalAveragePool":
                raise Unsupported(f"channels_last=1 is supported for QLinearGlobalAveragePool only")
            outs = [_global_average_channels_last(ctx, x)]
        else:
            outs = run_float(ctx, node, op_type, [x], attrs)
        _record_output(ctx, node, outs, ins, 3)
        return outs
    return convert


def _global_average_channels_last(ctx: Context, x: Value) -> Value:
    """Mean over the spatial axes 1..r-2 of an ONNX tensor already in channels-last order."""
    x = ctx.val(x)
    r = ctx.rank(x)
    axes = tuple(sorted(layout.ir_axis(a, x.perm) for a in range(1, r - 1)))
    return Val(ctx.emit(irops.ReduceMean(axes, True), [x.name], out=ctx.out_name())[0], x.perm)


def qlinear_concat(ctx: Context, node: onnx.NodeProto) -> list[Value]:
    ins = ctx.inputs(node)
    if (len(ins) - 2) % 3 or len(ins) < 5:
        raise Unsupported(f"QLinearConcat needs Y_scale, Y_zero_point and triples (X, X_scale, X_zero_point), "
                          f"got {len(ins)} inputs")
    xs = [_activation_in(ctx, ins, k, f"input {node.input[k]!r}") for k in range(2, len(ins), 3)]
    outs = run_float(ctx, node, "Concat", xs, ("axis",))
    _record_output(ctx, node, outs, ins, 0)
    return outs


CONVERTERS = {
    "QLinearConv": qlinear_conv, "QLinearMatMul": qlinear_matmul,
    "QLinearAdd": _qlinear_binary("Add"), "QLinearMul": _qlinear_binary("Mul"),
    "QLinearGlobalAveragePool": _qlinear_unary("GlobalAveragePool"),
    "QLinearAveragePool": _qlinear_unary("AveragePool", ("auto_pad", "ceil_mode", "count_include_pad",
                                                         "kernel_shape", "pads", "strides", "dilations")),
    "QLinearSigmoid": _qlinear_unary("Sigmoid"), "QLinearLeakyRelu": _qlinear_unary("LeakyRelu", ("alpha",)),
    "QLinearConcat": qlinear_concat, "QGemm": qgemm,
}
CHECKS: dict = {}
# ops of the com.microsoft domain qcomp imports; they never fold (onnx.reference does not know them)
DOMAIN_OPS = frozenset((MS, op) for op in ("QLinearAdd", "QLinearMul", "QLinearGlobalAveragePool",
                                           "QLinearAveragePool", "QLinearSigmoid", "QLinearLeakyRelu",
                                           "QLinearConcat", "QGemm"))
NOT_FOLDED = frozenset(op for _, op in DOMAIN_OPS)
# (min, max) input counts of those ops (onnxruntime's contrib op schemas; each makes one output)
ARITY = {"QLinearAdd": (7, 8), "QLinearMul": (7, 8), "QLinearGlobalAveragePool": (5, 5),
         "QLinearAveragePool": (4, 5), "QLinearSigmoid": (4, 5), "QLinearLeakyRelu": (4, 5),
         "QLinearConcat": (5, 2 + 3 * 2 ** 16), "QGemm": (6, 9)}
