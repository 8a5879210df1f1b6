"""Integer model inputs and outputs: a uint8/int8 graph input read by DequantizeLinear (or by a QLinear
op, which dequantizes its inputs with its own params), and a graph output written by QuantizeLinear
(or by a QLinear op).

qcomp's IR keeps graph inputs and outputs as the reals they encode (ops_quant.py: a QDQ tensor is
the float value it stands for). For such a model the integer codes of the ONNX tensor are exactly
the int8 form of that IR value (qcomp.ir.io_quant), because the model's own params become the
value's quant params (the prequant table wins over calibration):

    input  q (uint8, scale s, zero point z):  int8 code c = q - 128, zero point z - 128, scale s
    input  q (int8,  scale s, zero point z):  c = q, zero point z, scale s
    output y = QuantizeLinear(x, s, z):       y = c + 128 (uint8) or c (int8), c the int8 form of x

The frontend records each such tensor in graph.meta["int_io"] (JSON: name -> {"dtype", "scale",
"zero_point"}, the ONNX tensor's own dtype and params); the builder copies it into the manifest
("int_dtype", "int_quant"), and qcomp.int_io maps integer feeds and outputs through the artifact's
int8 forms with the table above (a shift of 128 or nothing: no float step, exact).
"""
from __future__ import annotations

import json

import numpy as np

from ..ir import DType, TensorType
from ..ir.graph import Graph
from .context import Context, Unsupported, Val

META_KEY = "int_io"
INT_DTYPES = (DType.INT8, DType.UINT8)
# ops that read an integer input as the reals (q - z) * s of their own params (qlinear_ops.py)
DEQUANTIZING_READERS = frozenset({"DequantizeLinear", "QLinearConv", "QLinearMatMul", "QLinearAdd", "QLinearMul",
                                  "QLinearGlobalAveragePool", "QLinearAveragePool", "QLinearSigmoid",
                                  "QLinearLeakyRelu", "QLinearConcat", "QGemm"})


def read(g: Graph) -> dict[str, dict]:
    """The integer I/O table of a graph (empty for a float model)."""
    return json.loads(g.meta.get(META_KEY, "{}"))


def _record(g: Graph, name: str, dtype: DType, scale: np.ndarray, zp: np.ndarray | None) -> None:
    table = read(g)
    table[name] = {"dtype": str(dtype.np), "scale": float(np.asarray(scale, np.float32).reshape(-1)[0]),
                   "zero_point": 0 if zp is None else int(np.asarray(zp).reshape(-1)[0])}
    g.meta[META_KEY] = json.dumps(table, sort_keys=True)


def integer_graph_input(ctx: Context, q: Val, scale: np.ndarray, zp: np.ndarray | None) -> bool:
    """DequantizeLinear of an int8/uint8 graph input: the input becomes the float value it encodes,
    with the model's params as its quant params; its integer dtype is recorded. False: not a graph
    input (the caller reports the integer tensor)."""
    g = ctx.graph
    if q.name not in g.inputs:
        return False
    if g.types[q.name].dtype in INT_DTYPES + WIDE_DTYPES and _wide(g.types[q.name].dtype, scale, zp):
        return _wide_input(ctx, q, scale, zp)
    if g.types[q.name].dtype not in INT_DTYPES:
        raise Unsupported(f"input {q.name!r} is {g.types[q.name].dtype.np}; qcomp takes uint8 and int8 "
                          f"integer model inputs into DequantizeLinear")
    t = g.types[q.name]
    if zp is not None and np.asarray(zp).dtype != t.dtype.np:
        raise Unsupported(f"input {q.name!r} is {t.dtype.value} but the zero point is {np.asarray(zp).dtype}; "
                          f"the model is invalid")
    have = read(g).get(q.name)
    if have is not None:   # a second DequantizeLinear of the same input must agree
        if have["scale"] != float(np.asarray(scale, np.float32).reshape(-1)[0]) or \
                have["zero_point"] != (0 if zp is None else int(np.asarray(zp).reshape(-1)[0])):
            raise Unsupported(f"input {q.name!r} is dequantized with two different scales or zero points; "
                              f"qcomp gives an integer input one set of params")
        return True
    others = sorted({n.op_type for n in getattr(ctx, "onnx_nodes", ()) if q.name in n.input
                     and n.op_type not in DEQUANTIZING_READERS})
    if others:
        raise Unsupported(f"input {q.name!r} ({t.dtype.np}) is read by DequantizeLinear or a QLinear op and also "
                          f"by {', '.join(others)}; qcomp takes an integer input through those only")
    from .ops_quant import int8_params, record_activation
    qp = int8_params(scale, zp, t.dtype.np, f"input {q.name!r}")
    g.types[q.name] = TensorType(t.shape, DType.FLOAT32)
    record_activation(ctx, q, qp, q.name)
    _record(g, q.name, t.dtype, scale, zp)
    return True


def quantized_graph_output(ctx: Context, name: str, dtype: np.dtype, scale: np.ndarray, zp: np.ndarray | None,
                           graph_outputs: set[str]) -> None:
    """QuantizeLinear writing graph output `name`: record its integer dtype and params."""
    if name in graph_outputs:
        _record(ctx.graph, name, DType.from_numpy(np.dtype(dtype)), scale, zp)


def cast_graph_input(ctx: Context, node) -> bool:
    """Cast(uint8/int8 graph input -> float32), when every node that reads the input is such a Cast:
    the input becomes the float value it equals, the integer q itself, with params scale 1 and zero
    point 0 (uint8: int8 code q - 128, zero point -128). The arithmetic after it (x / 255, - mean,
    / std) is calibrated and quantized like any float op, starting from these exact codes.
    False: not that pattern (the caller emits an ordinary Cast)."""
    from onnx import TensorProto
    g = ctx.graph
    name = node.input[0] if node.input else ""
    to = next((a.i for a in node.attribute if a.name == "to"), None)
    if to != TensorProto.FLOAT or name not in g.inputs:
        return False
    have = read(g).get(name)
    if have is not None:   # a second Cast of an input already taken as integer: the same q
        if have["scale"] == 1.0 and have["zero_point"] == 0:
            return True
        raise Unsupported(f"input {name!r} is read both by DequantizeLinear and by a Cast to float; qcomp "
                          f"takes an integer input through one of them")
    t = g.types[name]
    readers = [n for n in getattr(ctx, "onnx_nodes", ()) if name in n.input]
    if t.dtype not in INT_DTYPES or any(n.op_type != "Cast" or n.input[0] != name
                                        or next((a.i for a in n.attribute if a.name == "to"), None) != to
                                        for n in readers):
        return False
    from .ops_quant import int8_params, record_activation
    one, zero = np.ones(1, np.float32), np.zeros(1, t.dtype.np)
    g.types[name] = TensorType(t.shape, DType.FLOAT32)
    record_activation(ctx, ctx.val(ctx.inputs(node)[0]), int8_params(one, zero, t.dtype.np, f"input {name!r}"), name)
    _record(g, name, t.dtype, one, zero)
    return True


def reciprocal_divisors(g: Graph) -> None:
    """Div(x, c) by a constant tensor c (a per-channel std) on the elementwise path from an integer
    Cast input becomes Mul(x, float32(1 / c)), which qcomp quantizes (QMul with an int8 constant)
    where a Div by a tensor would stay a float region; x * float32(1/c) is within 2 ulps of x / c.
    A Div by a scalar is left alone (it becomes an exact Lut). So `(q / 255 - mean) / std`, the usual
    image normalization, runs in integers on every target."""
    from ..ir import ops
    reach = {n for n, t in read(g).items() if t["scale"] == 1.0 and t["zero_point"] == 0}
    for n in g.nodes:   # in topological order
        if not isinstance(n.op, (ops.Add, ops.Sub, ops.Mul, ops.Div)):
            continue
        var = [i for i in n.inputs if i not in g.constants]
        if len(var) != 1 or var[0] not in reach:
            continue
        reach.update(n.outputs)
        c = g.constants.get(n.inputs[1])
        if not isinstance(n.op, ops.Div) or c is None or c.size == 1 or c.dtype != np.float32 or (c == 0).any():
            continue
        if np.broadcast_shapes(c.shape, g.types[n.inputs[0]].shape) != g.types[n.inputs[0]].shape:
            continue
        r = g.add_constant(f"{n.inputs[1]}_reciprocal", (1.0 / c.astype(np.float64)).astype(np.float32))
        n.op, n.inputs = ops.Mul(), (n.inputs[0], r)


# Per-channel (axis) and int16 model inputs and outputs: the model's codes have no int8 form with the
# model's own params (qcomp quantizes activations per tensor, int16 ones symmetric), so the tensor is
# carried as the reals it encodes, calibrated like any float input / output, and its table row gains
# "axis" (None: per tensor), "scales" and "zero_points". qcomp.int_io maps codes <-> reals with them:
# x = (q - z[c]) * s[c] in, y = saturate(round_half_even(x / s[c]) + z[c]) out (c: the index along axis).
WIDE_DTYPES = (DType.INT16,)


def _wide(dtype: DType, scale: np.ndarray, zp: np.ndarray | None) -> bool:
    return dtype in WIDE_DTYPES or np.asarray(scale).size > 1 or (zp is not None and np.asarray(zp).size > 1)


def _record_wide(g: Graph, name: str, dtype: DType, scale: np.ndarray, zp: np.ndarray | None, axis: int,
                 shape: tuple[int, ...]) -> None:
    s = np.asarray(scale, np.float32).reshape(-1)
    z = np.zeros(s.size, np.int64) if zp is None else np.asarray(zp).astype(np.int64).reshape(-1)
    n = max(s.size, z.size)
    per_channel = n > 1
    if per_channel:
        axis = axis + len(shape) if axis < 0 else axis
        if not 0 <= axis < len(shape) or shape[axis] != n or s.size not in (1, n) or z.size not in (1, n):
            raise Unsupported(f"{name!r}: {s.size} scales and {z.size} zero points along axis {axis} of shape "
                              f"{list(shape)}; the model is invalid")
    if not np.isfinite(s).all() or (s <= 0).any():
        raise Unsupported(f"{name!r} has scales {s.tolist()}; scales must be finite and positive")
    table = read(g)
    table[name] = {"dtype": str(dtype.np), "scale": float(s[0]), "zero_point": int(z[0]),
                   "axis": axis if per_channel else None, "scales": np.broadcast_to(s, n).tolist(),
                   "zero_points": np.broadcast_to(z, n).tolist()}
    g.meta[META_KEY] = json.dumps(table, sort_keys=True)


def _wide_input(ctx: Context, q: Val, scale: np.ndarray, zp: np.ndarray | None) -> bool:
    """A per-channel or int16 DequantizeLinear of a graph input: the input becomes its reals."""
    g, t = ctx.graph, ctx.graph.types[q.name]
    readers = [n for n in getattr(ctx, "onnx_nodes", ()) if q.name in n.input]
    others = sorted({n.op_type for n in readers if n.op_type != "DequantizeLinear"})
    if others:
        raise Unsupported(f"input {q.name!r} ({t.dtype.np}) is read by DequantizeLinear and also by "
                          f"{', '.join(others)}; qcomp takes an integer input through DequantizeLinear only")
    if zp is not None and np.asarray(zp).dtype != t.dtype.np:
        raise Unsupported(f"input {q.name!r} is {t.dtype.value} but the zero point is {np.asarray(zp).dtype}; "
                          f"the model is invalid")
    axis = next((a.i for n in readers for a in n.attribute if a.name == "axis"), 1)
    have = read(g).get(q.name)
    _record_wide(g, q.name, t.dtype, scale, zp, axis, t.shape)
    if have is not None and have != read(g)[q.name]:
        raise Unsupported(f"input {q.name!r} is dequantized with two different scales or zero points; "
                          f"qcomp gives an integer input one set of params")
    g.types[q.name] = TensorType(t.shape, DType.FLOAT32)
    return True


def wide_graph_output(ctx: Context, node, dtype: np.dtype, scale: np.ndarray, zp: np.ndarray | None,
                      shape: tuple[int, ...]) -> bool:
    """QuantizeLinear per channel or to int16 writing a graph output: recorded (the output stays the
    reals; qcomp.int_io quantizes them as ONNX does). False: not that case (the caller goes on)."""
    name = node.output[0]
    dt = DType.from_numpy(np.dtype(dtype))
    if name not in getattr(ctx, "onnx_outputs", set()) or dt not in INT_DTYPES + WIDE_DTYPES \
            or not _wide(dt, scale, zp):
        return False
    axis = next((a.i for a in node.attribute if a.name == "axis"), 1)
    _record_wide(ctx.graph, name, dt, scale, zp, axis, shape)
    return True
