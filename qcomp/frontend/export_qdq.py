"""`export_qdq`: a QUANTIZED graph as a QDQ ONNX model that onnxruntime runs.

Every int8 value v of the IR, with qcomp's (scale, zero_point), becomes the int8 ONNX tensor v
written by QuantizeLinear and read through DequantizeLinear:

    x_q -> DequantizeLinear(s_x, zp_x) -> float op -> QuantizeLinear(s_y, zp_y) -> y_q

so onnxruntime computes (q - zp) * s exactly, runs the op in float32 (or fuses the pattern into its
integer kernels: QLinearConv, QLinearMatMul, ...), and rounds back with ties to even. Weights are
int8 initializers behind a per-channel DequantizeLinear (their output-channel axis), biases int32
initializers with scale s_in * s_w[c]; Quantize / Dequantize / Requantize nodes become
QuantizeLinear / DequantizeLinear / DequantizeLinear + QuantizeLinear. A Lut node is exported as
the float op it replaces (`Lut.source`, with its scalar operand): DQ -> op -> Q, which is the
table's definition evaluated in float32 instead of float64. A Lut without a source is exported
exactly as its table: Gather(table, Cast(x, int32) + 128).

Layout: the export writes the IR as it is (NHWC activations inside, the model's own layout at the
graph's inputs and outputs, where the frontend put Transpose/Reshape nodes). ONNX convolutions and
pools are channels-first, so each one sits between Transpose nodes (export_ops.py); onnxruntime's
layout optimizer cancels the pairs. Value names are the IR's, so `qcomp inspect` and the export
name the same tensors.

Agreement with qcomp's integer reference: bit-exact for ops that move values and for Q/DQ; within
1 LSB per rescaling op (onnxruntime rounds a float product with ties to even where qcomp's
requantize rounds a Q31 fixed-point product with ties up, and Lut sources run in float32). Errors
can compound along a deep chain, so compare final outputs with a tolerance of one or two LSB.

`--quant weight` graphs (Dequantize of int8 weight constants, float compute) and `--quant dynamic`
graphs (DynamicDense / DynamicMatMul: DynamicQuantizeLinear + MatMulInteger, uint8 activations
whose zero point is qcomp's + 128) export too.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import onnx
from onnx import helper

from ..ir import DType, Graph, Node, Stage, ops, qops
from .export_ops import EMITTERS, LUT_BINARY, LUT_UNARY, activation
from .export_writer import ExportError, Writer, value_info

OPSET = 20
IR_VERSION = 10


def export_qdq(q: Graph, opset: int = OPSET, producer_version: str = "") -> onnx.ModelProto:
    """Write a QUANTIZED-stage graph as a QDQ ONNX model (see the module docstring)."""
    if q.stage is not Stage.QUANTIZED:
        raise ExportError(f"export_qdq takes a QUANTIZED graph (qcomp.builder.quantize_model), got a "
                          f"{q.stage.name} graph")
    w = Writer(q)
    for n in q.nodes:
        w.node_base = n.name
        _export_node(w, n)
    outputs = []
    for o in q.outputs:
        if o in q.constants or o in q.inputs:  # an output that is a constant or an input: copy it
            w.node_base = o
            name = w.fresh(f"{o}_out")
            w.node("Identity", [w.input(o) if o in q.constants else o], [name])
            outputs.append(value_info(name, q.types[o]))
        else:
            outputs.append(value_info(o, q.types[o]))
    graph = helper.make_graph(w.nodes, q.name, [value_info(i, q.types[i]) for i in q.inputs], outputs,
                              w.initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=IR_VERSION,
                              producer_name="qcomp", producer_version=producer_version)
    model.doc_string = ("qcomp's quantization as QuantizeLinear/DequantizeLinear pairs; activations are "
                        "NHWC inside (Transpose around each Conv and pool), inputs and outputs keep the "
                        "source model's layout")
    helper.set_model_props(model, {"qcomp.layout": "NHWC inside, source layout at inputs/outputs",
                                   **{f"qcomp.{k}": v for k, v in q.meta.items() if k in ("source_sha256", "opset")}})
    onnx.checker.check_model(model)
    return model


def write_qdq(q: Graph, path: str | os.PathLike, producer_version: str = "") -> Path:
    """Export `q` (export_qdq) and save it as an ONNX file at `path`; returns the path."""
    p = Path(path)
    if p.suffix != ".onnx":
        raise ExportError(f"-o {str(p)!r}: the QDQ model is an ONNX file; give a path ending in .onnx")
    wide = sorted(v for v, t in q.types.items() if t.dtype is DType.INT16)
    if wide:   # A16W8 (--precision NAME=int16): int64 biases have no DequantizeLinear form
        raise ExportError(f"qcomp quantize exports int8 models only; value {wide[0]!r} is int16 "
                          f"(--precision ...=int16 or --recurrent-state int16): drop the int16 entries (or "
                          f"give --recurrent-state int8) to export QDQ")
    model = export_qdq(q, producer_version=producer_version)
    p.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, os.fspath(p))
    return p


def _export_node(w: Writer, n: Node) -> None:
    op = n.op
    if isinstance(op, ops.Quantize):
        w.quantize_to(w.input(n.inputs[0]), n.outputs[0])
    elif isinstance(op, ops.Dequantize):
        t = w.q.types[n.inputs[0]]
        x = w.raw(n.inputs[0])
        scale, zp, axis = w.qparams(t.quant, t.dtype.np)
        w.node("DequantizeLinear", [x, scale, zp], [n.outputs[0]], axis=axis)
    elif isinstance(op, ops.Requantize):
        w.quantize_to(w.input(n.inputs[0]), n.outputs[0])
    elif isinstance(op, qops.Lut):
        _lut(w, n)
    elif isinstance(op, qops.DynamicDense):
        _dynamic_dense(w, n)
    elif isinstance(op, qops.DynamicMatMul):
        _dynamic_matmul(w, n)
    elif type(op) in EMITTERS:
        outs = _float_outputs(w, n)
        EMITTERS[type(op)](w, n, outs)
        _quantize_outputs(w, n, outs)
    else:
        raise ExportError(f"node {n.name!r}: the QDQ export has no rule for op {n.kind} (a TARGET-stage op? "
                          f"export the QUANTIZED graph, before lower_integer)")


def _float_outputs(w: Writer, n: Node) -> list[str]:
    """Where the float emitter writes: the IR name for float outputs, a fresh name for int8 ones."""
    return [w.fresh(f"{o}_float") if w.q.types[o].quant is not None else o for o in n.outputs]


def _quantize_outputs(w: Writer, n: Node, outs: list[str]) -> None:
    for o, f in zip(n.outputs, outs):
        if f != o:
            w.quantize_to(f, o)


def _lut(w: Writer, n: Node) -> None:
    op: qops.Lut = n.op
    x, table = n.inputs
    out = n.outputs[0]
    src = op.source
    if src is None:  # no float op recorded: the table itself, exactly
        idx = w.node("Cast", [x], 1, to=onnx.TensorProto.INT32)[0]
        idx = w.node("Add", [idx, w.const(np.array(128, np.int32), "table_offset")], 1, suffix="offset")[0]
        w.node("Gather", [w.raw(table), idx], [out], axis=0)
        return
    f = w.fresh(f"{out}_float")
    if isinstance(src, LUT_UNARY):
        EMITTERS[type(src)](w, Node(n.name, src, (x,), (out,)), [f])
    elif type(src) in LUT_BINARY and op.scalar is not None:
        xf = w.input(x)
        c = w.scalar(op.scalar, "scalar")
        w.node(LUT_BINARY[type(src)], [c, xf] if op.scalar_first else [xf, c], [f])
    else:
        raise ExportError(f"node {n.name!r}: a Lut standing for {src.kind} has no float ONNX form")
    w.quantize_to(f, out)


def _dynamic_quantize(w: Writer, x: str) -> tuple[str, str, str]:
    """DynamicQuantizeLinear: uint8 q = int8 q + 128, zero point + 128, same scale as
    fixedpoint.dynamic_quant_params."""
    return tuple(w.node("DynamicQuantizeLinear", [w.input(x)], 3))


def _scaled(w: Writer, n: Node, acc: str, scale: str, bias: str | None) -> None:
    y = w.node("Cast", [acc], 1, to=onnx.TensorProto.FLOAT)[0]
    y = w.node("Mul", [y, scale], 1, suffix="rescale")[0]
    if bias is not None:
        y = w.node("Add", [y, bias], 1, suffix="bias")[0]
    activation(w, y, n.op.act_min, n.op.act_max, n.outputs[0])


def _dynamic_dense(w: Writer, n: Node) -> None:
    x, wq, b, w_scale = n.inputs
    t = w.q.types[wq]
    if t.quant is None or np.any(t.quant.zero_point != 0):
        raise ExportError(f"node {n.name!r} (DynamicDense): weights must be int8 with zero point 0")
    xq, xs, xzp = _dynamic_quantize(w, x)
    wt = w.const(np.ascontiguousarray(w.q.constants[wq].T), f"{wq}_T")
    acc = w.node("MatMulInteger", [xq, wt, xzp], 1)[0]
    scale = w.node("Mul", [xs, w.input(w_scale)], 1, suffix="scales")[0]
    _scaled(w, n, acc, scale, w.input(b))


def _dynamic_matmul(w: Writer, n: Node) -> None:
    aq, a_s, azp = _dynamic_quantize(w, n.inputs[0])
    bq, b_s, bzp = _dynamic_quantize(w, n.inputs[1])
    acc = w.node("MatMulInteger", [aq, bq, azp, bzp], 1)[0]
    scale = w.node("Mul", [a_s, b_s], 1, suffix="scales")[0]
    _scaled(w, n, acc, scale, None)


__all__ = ["export_qdq", "write_qdq", "ExportError", "OPSET"]
