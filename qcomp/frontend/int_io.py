"""Integer model inputs and outputs: a uint8/int8 graph input read by DequantizeLinear, and a graph
output written by QuantizeLinear.

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
