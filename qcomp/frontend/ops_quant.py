"""Pre-quantized models: QDQ (QuantizeLinear/DequantizeLinear around float ops, as onnxruntime's
quantize_static writes them) and QOperator (QLinearConv, QLinearMatMul, QLinearAdd, ...).

Design: a pre-quantized model imports as the FLOAT graph it encodes plus its quantization
parameters (qcomp/ir/prequant.py), which the quantize pass uses instead of calibration:

  - an int8/uint8 ONNX tensor q = Q(x) is represented by the float IR value x it encodes, with
    params (s, zp) recorded on x: QuantizeLinear and DequantizeLinear of run-time values emit no
    IR node (DQ(Q(x)) = x on the reals Q can represent);
  - uint8 activations become int8 exactly: zp' = zp - 128, same scale (q_u8 - 128 is the int8
    code of the same real);
  - DequantizeLinear of a constant folds to float weights w = float32((q - zp) * s) (fold.py);
    each fold is remembered (`WeightRecord`), and after import the weight constant of every
    Conv2D / ConvTranspose2D / Dense is matched to the record it came from by value:
    w[o] == float32(n * s[o]) for integers n, with the same integers as the record. Its scales
    become the fixed per-channel weight params. With n = q - zp in [-127, 127] the int8
    symmetric weights round-trip exactly; otherwise (uint8 or asymmetric weights whose
    q - zp leaves [-127, 127]) no exact conversion exists and the import stops with an error
    naming the node;
  - QOperator nodes (qlinear_ops.py) become their float op on the values their int8 inputs encode,
    with the same records: x, w, y params of QLinearConv, and so on.
Activations quantized per channel have no per-tensor equivalent: an error names the node.

How the quantize pass (qcomp/passes/quantize.py) uses the table: the model's activation params
win over calibrated ranges, the model's weight scales over weight statistics. Without --calib, an
op whose operands or result the model leaves unquantized (onnxruntime keeps Tanh in float, for
example) stays in float in qcomp too; with --calib, qcomp calibrates those values and quantizes
them as well. Dropping a QDQ pair leaves the float graph without the pair's clipping, which the
quantized graph restores (its int8 values saturate where the model's do). onnxruntime removes a
Relu whose output range starts at 0 (zero point = qmin); the int8 clamp at the zero point does
the Relu in qcomp as well.
"""
from __future__ import annotations

import numpy as np
import onnx
from onnx import helper

from ..errors import UnsupportedModelError
from ..ir import Graph, QuantParams, ops
from ..ir.prequant import PreQuant
from . import int_io, ops_conv, ops_einsum, ops_logic, ops_math, ops_math_more, ops_norm, ops_reduce, ops_shape
from .context import Attrs, Const, Context, Unsupported, Value
from .quant_table import WeightRecord

QUANT_DTYPES = (np.dtype(np.int8), np.dtype(np.uint8))
FLOAT_CONVERTERS = {**ops_conv.CONVERTERS, **ops_math.CONVERTERS, **ops_math_more.CONVERTERS,
                    **ops_shape.CONVERTERS}
FLOAT_CONVERTERS.update({**ops_logic.CONVERTERS, **ops_reduce.CONVERTERS, **ops_norm.CONVERTERS,
                         **ops_einsum.CONVERTERS})


def int8_params(scale: np.ndarray, zero_point: np.ndarray | None, dtype: np.dtype, what: str) -> QuantParams:
    """Per-tensor int8 params of an activation quantized to `dtype` (uint8 zero points move by -128)."""
    s = np.asarray(scale, dtype=np.float32).reshape(-1)
    zp = np.zeros(1, np.int64) if zero_point is None else np.asarray(zero_point).reshape(-1)
    if s.size != 1 or zp.size != 1:
        if s.size > 1 or zp.size > 1:
            raise Unsupported(f"{what} is quantized per channel ({s.size} scales, {zp.size} zero points); qcomp "
                              f"quantizes activations per tensor")
        raise Unsupported(f"{what} has {s.size} scales and {zp.size} zero points; it needs one of each")
    dtype = np.dtype(dtype)
    if dtype not in QUANT_DTYPES:
        raise Unsupported(f"{what} is quantized to {dtype}; qcomp imports int8 and uint8 quantization")
    if not np.isfinite(s[0]) or s[0] < 0:
        raise Unsupported(f"{what} has scale {s[0]}; scales must be finite and non-negative")
    z = int(zp[0]) - (128 if dtype == np.uint8 else 0)
    return QuantParams(s, z)


def record_activation(ctx: Context, v: Value, qp: QuantParams, what: str) -> None:
    if isinstance(v, Const):
        return  # a constant activation: folded, its value is known exactly
    table = ctx.quant
    have = table.activations.get(v.name)
    if have is None:
        table.activations[v.name] = qp
    # a second, different quantization of the same value keeps the first: qcomp gives every value
    # one int8 version (consumers of the other one read it through a Requantize of qcomp's choosing)


def _scale_zp(ctx: Context, ins: list[Value | None], k: int, what: str) -> tuple[np.ndarray, np.ndarray | None]:
    scale = ctx.const(ins[k], f"{what} scale (input {k})")
    zp_v = ins[k + 1] if len(ins) > k + 1 else None
    zp = None if zp_v is None else ctx.const(zp_v, f"{what} zero point (input {k + 1})")
    return scale, zp


def _check_attrs(node: onnx.NodeProto) -> None:
    a = Attrs(node)
    if a.int("block_size", 0):
        raise Unsupported("blocked quantization (block_size) is not supported")
    if node.op_type == "QuantizeLinear" and a.has("output_dtype"):
        out = a.int("output_dtype", 0)
        if out not in (0, onnx.TensorProto.INT8, onnx.TensorProto.UINT8):
            raise Unsupported(f"output_dtype {onnx.TensorProto.DataType.Name(out)} is not int8 or uint8")


def quantize_linear(ctx: Context, node: onnx.NodeProto) -> list[Value]:
    """y = QuantizeLinear(x): y stands for x (the reals it encodes); x gets y's params."""
    _check_attrs(node)
    ins = ctx.inputs(node)
    x = ctx.val(ins[0])
    if not ctx.dtype(x).is_float:
        raise Unsupported(f"input is {ctx.dtype(x).value}; QuantizeLinear needs float")
    scale, zp = _scale_zp(ctx, ins, 1, "output")
    out_dtype = Attrs(node).int("output_dtype", 0)
    dtype = zp.dtype if zp is not None else (onnx.helper.tensor_dtype_to_np_dtype(out_dtype) if out_dtype
                                             else np.dtype(np.uint8))
    if int_io.wide_graph_output(ctx, node, dtype, scale, zp, ctx.shape(x)):   # per channel / int16
        ctx.quant.formats.add("QDQ")   # a model output: it stays the reals, qcomp.int_io quantizes them
        return [x]
    record_activation(ctx, x, int8_params(scale, zp, dtype, f"output {node.output[0]!r}"), node.output[0])
    int_io.quantized_graph_output(ctx, node.output[0], dtype, scale, zp, getattr(ctx, "onnx_outputs", set()))
    ctx.quant.formats.add("QDQ")
    return [x]


def dequantize_linear(ctx: Context, node: onnx.NodeProto) -> list[Value]:
    """x = DequantizeLinear(q) of a run-time q: q already stands for its reals."""
    _check_attrs(node)
    ins = ctx.inputs(node)
    q = ctx.val(ins[0])
    scale, zp = _scale_zp(ctx, ins, 1, "input")
    if not ctx.dtype(q).is_float and int_io.integer_graph_input(ctx, q, scale, zp):
        ctx.quant.formats.add("QDQ")
        return [q]
    if not ctx.dtype(q).is_float:
        raise Unsupported(f"input is a {ctx.dtype(q).value} tensor that no QuantizeLinear or QOperator node "
                          f"produced; qcomp takes integer tensors into DequantizeLinear from graph inputs")
    if zp is not None:  # without a zero point the input's type (int8 or uint8) is not known here
        record_activation(ctx, q, int8_params(scale, zp, zp.dtype, f"input {node.input[0]!r}"), node.input[0])
    ctx.quant.formats.add("QDQ")
    return [q]


def dequantized_weight(ctx: Context, name: str, q: np.ndarray, scale: np.ndarray, zero_point: np.ndarray | None,
                       axis: int) -> np.ndarray:
    """float32((q - zp) * scale) along `axis` (scale and zp of size 1 or q.shape[axis]); recorded."""
    if q.dtype not in QUANT_DTYPES and q.dtype != np.int32:
        raise Unsupported(f"{name!r} is {q.dtype}; qcomp imports int8, uint8 (and int32 bias) tensors")
    if zero_point is not None and not np.issubdtype(np.asarray(zero_point).dtype, np.integer):
        raise Unsupported(f"the zero point of {name!r} is {np.asarray(zero_point).dtype}; ONNX defines it as the "
                          f"integer type of the data")
    s = np.asarray(scale, np.float32).reshape(-1)
    zp = np.zeros(1, np.int64) if zero_point is None else np.asarray(zero_point).astype(np.int64).reshape(-1)
    if q.ndim and not 0 <= axis < q.ndim:
        raise Unsupported(f"axis {axis} is out of range for {name!r} of shape {q.shape}")
    channels = q.shape[axis] if q.ndim else 1
    if not np.all(np.isfinite(s)):
        raise Unsupported(f"the scale of {name!r} is not finite ({s[~np.isfinite(s)][0]})")
    for what, v in (("scale", s), ("zero point", zp)):
        if v.size not in (1, channels):
            raise Unsupported(f"the {what} of {name!r} has {v.size} values; {name!r} of shape {q.shape} needs 1 "
                              f"(per tensor) or {channels} (per channel along axis {axis})")
    shape = [1] * q.ndim
    if q.ndim and max(s.size, zp.size) > 1:
        shape[axis] = -1
    n = q.astype(np.int64) - (zp.reshape(shape) if zp.size > 1 else zp[0])
    real = (n.astype(np.float32) * (s.reshape(shape) if s.size > 1 else s[0])).astype(np.float32)
    ctx.quant.weights.append(WeightRecord(name, ctx.node_name, n, s, zp))
    return real


def record_folded_dequantize(ctx: Context, node: onnx.NodeProto, arrays: list[np.ndarray | None]) -> None:
    """Remember a DequantizeLinear of constants that fold.py evaluated (a weight or bias)."""
    q = arrays[0]
    if q is None or q.dtype not in QUANT_DTYPES:
        return
    axis = Attrs(node).int("axis", 1)
    axis = axis + q.ndim if axis < 0 else axis
    dequantized_weight(ctx, node.output[0], q, arrays[1], arrays[2] if len(arrays) > 2 else None, axis)
    ctx.quant.formats.add("QDQ")


def run_float(ctx: Context, node: onnx.NodeProto, op_type: str, inputs: list[Value | None],
              attrs: tuple[str, ...] = (), source: onnx.NodeProto | None = None) -> list[Value]:
    """Convert `op_type` on `inputs` with the float converter, as if the model had that node
    (same outputs and name as `node`, attributes `attrs` copied from `source`, default `node`)."""
    names, bound = [], []
    for k, v in enumerate(inputs):
        if v is None:
            names.append("")
            continue
        key = f"{node.output[0]}#{op_type}:{k}"
        while key in ctx.env:
            key += "'"
        ctx.env[key] = v
        names.append(key)
        bound.append(key)
    syn = helper.make_node(op_type, names, list(node.output), name=node.name)
    syn.attribute.extend(a for a in (source or node).attribute if a.name in attrs)
    saved = ctx.node
    ctx.node = syn
    try:
        if op_type in ("Conv", "AveragePool"):
            reasons = ops_conv.check_window(syn, ctx.opset)
            if reasons:
                raise Unsupported("; ".join(reasons))
        return FLOAT_CONVERTERS[op_type](ctx, syn)
    finally:
        ctx.node = saved
        for key in bound:
            del ctx.env[key]



# ---- after import: the table the quantize pass reads ------------------------------------------

_WEIGHTED = (ops.Conv2D, ops.ConvTranspose2D, ops.Dense)


def _match(arr: np.ndarray, rec: WeightRecord) -> np.ndarray | None:
    """Per-output-channel scales s with arr[o] == float32(n * s[o]) for the record's integers, or None."""
    if rec.n.size != arr.size:
        return None
    channels = arr.shape[0]
    if rec.scale.size == 1:
        s = np.full(channels, rec.scale[0], np.float32)
    elif rec.scale.size == channels:
        s = rec.scale
    else:
        return None
    if not np.all(np.isfinite(s)) or np.any(s <= 0):
        return None
    bshape = (-1,) + (1,) * (arr.ndim - 1)
    n = np.rint(arr.astype(np.float64) / s.reshape(bshape).astype(np.float64))
    if not np.array_equal((n.astype(np.float32) * s.reshape(bshape)).astype(np.float32), arr):
        return None
    if not np.array_equal(np.sort(n.reshape(-1)).astype(np.int64), np.sort(rec.n.reshape(-1))):
        return None
    return s


def prequant_table(ctx: Context, graph: Graph, source: str) -> PreQuant:
    """The PreQuant of an imported graph: activation params of the values still in it, and the
    weight params of every weighted node whose weights came from the model's quantized tensors."""
    table = ctx.quant
    if not table.activations and not table.weights:
        return PreQuant()
    acts = {k: v for k, v in table.activations.items() if k in graph.types and k not in graph.constants}
    weights: dict[str, QuantParams] = {}
    problems = []
    for n in graph.nodes:
        if not isinstance(n.op, _WEIGHTED) or n.inputs[1] not in graph.constants:
            continue
        arr = graph.constants[n.inputs[1]]
        for rec in table.weights:
            s = _match(arr, rec)
            if s is None:
                continue
            lo, hi = int(rec.n.min(initial=0)), int(rec.n.max(initial=0))
            if lo < -127 or hi > 127:
                zps = sorted(set(int(z) for z in rec.zero_point))
                problems.append(
                    f"node {n.name!r} ({n.kind}): weight {rec.name!r} (dequantized by node {rec.node!r}) has zero "
                    f"point{'s' if len(zps) > 1 else ''} {', '.join(map(str, zps[:4]))}; q - zero_point spans "
                    f"[{lo}, {hi}], outside qcomp's symmetric int8 weights [-127, 127], so it cannot be "
                    f"converted exactly. Quantize the model with symmetric int8 weights (onnxruntime: "
                    f"weight_type=QuantType.QInt8, the default symmetric weights) or import the float model "
                    f"and calibrate it with qcomp")
            else:
                weights[n.inputs[1]] = QuantParams(s, 0, axis=0)
            break
    if problems:
        raise UnsupportedModelError(f"{source}: the model's quantized weights do not fit qcomp's scheme:\n  "
                                    + "\n  ".join(problems))
    return PreQuant(acts, weights, "+".join(sorted(table.formats)))


CONVERTERS = {"QuantizeLinear": quantize_linear, "DequantizeLinear": dequantize_linear}
__all__ = ["CONVERTERS", "QUANT_DTYPES", "prequant_table", "record_folded_dequantize",
           "dequantized_weight", "int8_params", "record_activation", "run_float"]
