"""Selection ops on the integer codes of an int8/uint8 graph input (Clip, MaxPool, Relu).

ONNX defines Clip, MaxPool and Relu on int8/uint8 tensors too: they select or clamp the codes. qcomp
imports such a node as its float op on integer model I/O of scale 1 and zero point 0, the same
form int_io.py gives a `Cast(q -> float)` input:

    input  q (uint8 or int8):  the IR value is the real x = q (exact in float32), with the int8
                               form c = q - 128, zero point -128 (uint8) or c = q, zero point 0 (int8)
    y = op(q)                  the float op on x: max and clamp of integers are integers, so y = op(x)
                               exactly; its bounds (Clip's min and max) are codes, integers on the grid
    output y (same dtype):     recorded as an integer model output of scale 1, zero point 0: the
                               artifact returns c_y + 128 / c_y, and run_float rint(y / 1) + 0 = y

Quantized, the int8 forms keep those params (MaxPool moves codes; Clip and Relu become a clamp or a
Lut of integers on the grid, both exact), so every target returns op(q) bit for bit, with no float step.

A code value may be read by further code ops (Clip(MaxPool(q))), or be a graph output; a reader of
any other kind would see reals where ONNX has codes of a wrapping integer type, so it is refused.
(Abs is not among them: ONNX's int8 |-128| wraps to -128.)
"""
from __future__ import annotations

import numpy as np
import onnx

from ..ir import DType, TensorType
from . import int_io, ops_conv, ops_math
from .context import Context, Unsupported, Val, Value
from .ops_quant import int8_params, record_activation

CODE_OPS = {"Clip": ops_math.clip, "MaxPool": ops_conv.max_pool, "Relu": ops_math.UNARY["Relu"]}
_NAMES = ", ".join(CODE_OPS)
_ONE = np.ones(1, np.float32)


def _codes(ctx: Context) -> dict[str, DType]:
    """Values holding codes as their reals: name -> the ONNX integer dtype."""
    if not hasattr(ctx, "code_values"):
        ctx.code_values = {}
    return ctx.code_values


def _code_input(ctx: Context, node: onnx.NodeProto, x: Val) -> DType:
    """Take input 0 (an int8/uint8 graph input, or a code op's output) as its codes' reals."""
    g, codes = ctx.graph, _codes(ctx)
    if x.name in codes:
        return codes[x.name]
    name, t = node.input[0], g.types[x.name]
    if name not in g.inputs or t.dtype not in int_io.INT_DTYPES:
        raise Unsupported(f"{node.op_type} of a {t.dtype.value} tensor that is not a graph input; qcomp runs "
                          f"{node.op_type} on the codes of an int8/uint8 model input")
    others = sorted({n.op_type for n in getattr(ctx, "onnx_nodes", ()) if name in n.input
                     and n.op_type not in CODE_OPS})
    if others:
        raise Unsupported(f"input {name!r} ({t.dtype.np}) is read by {node.op_type} and also by "
                          f"{', '.join(others)}; qcomp takes an integer input into {_NAMES} only where every "
                          f"reader is one of them")
    zero = np.zeros(1, t.dtype.np)
    g.types[x.name] = TensorType(t.shape, DType.FLOAT32)
    record_activation(ctx, x, int8_params(_ONE, zero, t.dtype.np, f"input {name!r}"), name)
    int_io._record(g, name, t.dtype, _ONE, zero)
    codes[x.name] = t.dtype
    return t.dtype


def _code_outputs(ctx: Context, node: onnx.NodeProto, outs: list[Value], dtype: DType) -> None:
    """Outputs of a code op: graph outputs of the input's dtype, or read by code ops only."""
    graph_outputs = getattr(ctx, "onnx_outputs", set())
    for name, v in zip(node.output, outs):
        if not name:
            continue
        others = sorted({n.op_type for n in getattr(ctx, "onnx_nodes", ()) if name in n.input
                         and n.op_type not in CODE_OPS})
        if others:
            raise Unsupported(f"output {name!r} ({dtype.np}) of {node.op_type} on integer codes is read by "
                              f"{', '.join(others)}; qcomp runs {_NAMES} on integer codes only where their "
                              f"results are model outputs or read by one of them")
        zero = np.zeros(1, dtype.np)
        record_activation(ctx, v, int8_params(_ONE, zero, dtype.np, f"output {name!r}"), name)
        if name in graph_outputs:
            int_io._record(ctx.graph, name, dtype, _ONE, zero)
        _codes(ctx)[v.name] = dtype


def _on_codes(op_type: str):
    float_convert = CODE_OPS[op_type]

    def convert(ctx: Context, node: onnx.NodeProto) -> list[Value]:
        x = ctx.inputs(node)[0]
        if not isinstance(x, Val) or (ctx.dtype(x).is_float and x.name not in _codes(ctx)):
            return float_convert(ctx, node)
        dtype = _code_input(ctx, node, x)
        outs = float_convert(ctx, node)
        _code_outputs(ctx, node, outs, dtype)
        return outs
    return convert


CONVERTERS = {op: _on_codes(op) for op in CODE_OPS}
