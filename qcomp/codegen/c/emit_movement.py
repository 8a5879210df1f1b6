"""Emitters of the type-generic data-movement ops and of the model boundary (Quantize, Dequantize).

Movement ops copy bytes, whatever the element type:
  Reshape                 one block copy (row-major order is unchanged)
  Concat / Split          qcomp_copy_blocks: rows = prod(shape[:axis]) blocks per input / output
  Transpose, Slice, Pad,  qcomp_gather_axes with one source-offset table per output axis:
  nearest Resize            Transpose  table_d[i] = i * stride_in[perm[d]]
                            Slice      table_d[i] = (start_d + i * step_d) * stride_in[d]
                            Pad        table_d[i] = np.pad(arange(n_d), mode)[i] * stride_in[d], with -1
                                       (padding, the int8 pad value) in constant mode
                            Resize     table_d[i] = nearest source index (qcomp/ir/resize.py) * stride_in[d]
The tables are computed here with numpy's own slice and pad semantics (those of the reference).

Quantize (float graph input -> int8) and Dequantize (int8 -> float graph output) are the only float
code; in raw mode (qcomp_run_raw, `--raw` outputs) they become byte copies of the int8 values.
"""
from __future__ import annotations

import math

import numpy as np

from ...ir import DType, Node, ops
from ...protocol import Emitter
from .program import C_TYPES, CArray, Call, Ctx, contiguous_strides
from ...ir.resize import nearest_source_index


def _copy(ctx: Ctx, node: Node, dst: str, dst_stride: int, src: str, src_stride: int, rows: int,
          chunk: int) -> Call:
    return Call(ctx.comment(node), "qcomp_copy_blocks", (dst, str(dst_stride), src, str(src_stride), str(rows),
                                                         str(chunk)))


def _bytes(ptr: str, const: bool) -> str:
    return f"(({'const ' if const else ''}uint8_t *){ptr})"


def reshape(node: Node, ctx: Ctx) -> None:
    x, y = node.inputs[0], node.outputs[0]
    ctx.calls += [_copy(ctx, node, ctx.ptr(y, False), 0, ctx.ptr(x, True), 0, 1, ctx.nbytes(x))]


def concat(node: Node, ctx: Ctx) -> None:
    y = node.outputs[0]
    axis, es = node.op.axis, ctx.elem_size(y)
    rows = math.prod(ctx.shape(y)[:axis])
    out_row = math.prod(ctx.shape(y)[axis:]) * es
    calls, offset = [], 0
    for x in node.inputs:
        chunk = math.prod(ctx.shape(x)[axis:]) * es
        dst = f"({_bytes(ctx.ptr(y, False), False)} + {offset})"
        calls.append(_copy(ctx, node, dst, out_row, ctx.ptr(x, True), chunk, rows, chunk))
        offset += chunk
    ctx.calls += calls


def split(node: Node, ctx: Ctx) -> None:
    x = node.inputs[0]
    axis, es = node.op.axis, ctx.elem_size(x)
    rows = math.prod(ctx.shape(x)[:axis])
    in_row = math.prod(ctx.shape(x)[axis:]) * es
    calls, offset = [], 0
    for y in node.outputs:
        chunk = math.prod(ctx.shape(y)[axis:]) * es
        src = f"({_bytes(ctx.ptr(x, True), True)} + {offset})"
        calls.append(_copy(ctx, node, ctx.ptr(y, False), chunk, src, in_row, rows, chunk))
        offset += chunk
    ctx.calls += calls


def _gather(ctx: Ctx, node: Node, tables: list[np.ndarray], pad_value: int | None,
            shape: tuple[int, ...] | None = None) -> None:
    """qcomp_gather_axes over `shape` (default: the output's; the same element count)."""
    x, y = node.inputs[0], node.outputs[0]
    shape = ctx.shape(y) if shape is None else shape
    if not shape:
        shape, tables = (1,), [np.zeros(1, np.int64)]
    if math.prod(shape) == 0:
        return
    arrays: list[CArray] = [ctx.array(node, "shape", shape), ctx.array(node, "tables", np.concatenate(tables))]
    pad = "(const void *)0"
    if pad_value is not None:
        arrays.append(ctx.array(node, "pad", [pad_value], C_TYPES[ctx.dtype(x)]))
        pad = arrays[-1].name
    args = (ctx.ptr(x, True), ctx.ptr(y, False), str(ctx.elem_size(x)), str(len(shape)), arrays[0].name,
            arrays[1].name, pad)
    ctx.calls += [Call(ctx.comment(node), "qcomp_gather_axes", args, arrays=tuple(arrays))]


def transpose(node: Node, ctx: Ctx) -> None:
    x, y = node.inputs[0], node.outputs[0]
    strides = contiguous_strides(ctx.shape(x))
    tables = [np.arange(n) * strides[p] for n, p in zip(ctx.shape(y), node.op.perm)]
    _gather(ctx, node, tables, None)


def slice_(node: Node, ctx: Ctx) -> None:
    x = node.inputs[0]
    op = node.op
    strides = contiguous_strides(ctx.shape(x))
    tables = [np.arange(n)[slice(s, e, st)] * stride
              for n, s, e, st, stride in zip(ctx.shape(x), op.starts, op.ends, op.steps, strides)]
    _gather(ctx, node, tables, None)


def pad(node: Node, ctx: Ctx) -> None:
    x = node.inputs[0]
    op = node.op
    shape = ctx.shape(x)
    r = len(shape)
    strides = contiguous_strides(shape)
    mode = {"constant": "constant", "reflect": "reflect", "edge": "edge"}[op.mode]
    tables = []
    for d, n in enumerate(shape):
        widths = (op.pads[d], op.pads[d + r])
        if mode == "constant":
            idx = np.pad(np.arange(n), widths, mode="constant", constant_values=-1)
        else:
            idx = np.pad(np.arange(n), widths, mode=mode)
        tables.append(np.where(idx < 0, -1, idx * strides[d]))
    value = int(op.value) if mode == "constant" else None
    _gather(ctx, node, tables, value)


def resize(node: Node, ctx: Ctx) -> None:
    x = node.inputs[0]
    op = node.op
    strides = contiguous_strides(ctx.shape(x))
    tables = []
    for n_in, n_out, scale, stride in zip(ctx.shape(x), op.sizes, op.scales, strides):
        idx = nearest_source_index(op.coordinate_transformation_mode, op.nearest_mode, n_in, n_out, scale)
        tables.append(idx * stride)
    _gather(ctx, node, tables, None)


def quantize(node: Node, ctx: Ctx) -> None:
    """Float32 graph input -> int8 (qcomp_quantize_f32) or int16 (qcomp_quantize16_f32,
    qcomp_boundary16.c). Raw inputs copy the caller's int8 / int16 values in instead."""
    x, y = node.inputs[0], node.outputs[0]
    q = ctx.graph.types[y].quant
    dtype = ctx.graph.types[y].dtype
    n = math.prod(ctx.shape(x))
    scale = _float_literal(q.scale[0])
    args = (ctx.ptr(x, True), ctx.ptr(y, False), str(n), scale, str(int(q.zero_point[0])))
    kernel = "qcomp_quantize16_f32" if dtype is DType.INT16 else "qcomp_quantize_f32"
    if dtype is DType.INT8:
        args += tuple(str(v) for v in DType.INT8.qrange)
    raw = (ctx.ptr(y, False), "0", f"inputs[{ctx.input_index[x]}]", "0", "1", str(n * dtype.itemsize))
    code = ctx.code_quant.get(id(node))   # the model's uint8 / int8 codes: y = x ^ mask (qcomp.ir.io_codes)
    codes = (ctx.ptr(y, False), f"inputs[{ctx.input_index[x]}]", str(n), str(code[1])) if code else ()
    ctx.calls += [Call(ctx.comment(node), kernel, args, raw_flag="in_raw", raw_kernel="qcomp_copy_blocks",
                       raw_args=raw, code_args=codes)]


def dequantize(node: Node, ctx: Ctx) -> None:
    """Int8 (qcomp_dequantize_f32) or int16 (qcomp_dequantize16_f32) -> float32 graph output. Raw
    outputs copy the int8 / int16 values out instead."""
    x, y = node.inputs[0], node.outputs[0]
    q = ctx.graph.types[x].quant
    dtype = ctx.graph.types[x].dtype
    n = math.prod(ctx.shape(x))
    args = (ctx.ptr(x, True), ctx.ptr(y, False), str(n), _float_literal(q.scale[0]), str(int(q.zero_point[0])))
    kernel = "qcomp_dequantize16_f32" if dtype is DType.INT16 else "qcomp_dequantize_f32"
    raw = (f"outputs[{ctx.output_index[y]}]", "0", ctx.ptr(x, True), "0", "1", str(n * dtype.itemsize))
    code = ctx.code_deq.get(id(node))
    codes = (f"outputs[{ctx.output_index[y]}]", ctx.ptr(x, True), str(n), str(code[1])) if code else ()
    ctx.calls += [Call(ctx.comment(node), kernel, args, raw_flag="out_raw",
                       raw_kernel="qcomp_copy_blocks", raw_args=raw, code_args=codes)]


def _float_literal(v) -> str:
    """A float32 value as a C literal that parses back to the same float32 (9 significant digits)."""
    f = float(np.float32(v))
    return f"{f:.9e}f"


def why_not_pad(node: Node, graph) -> str | None:
    """Constant padding of int8 or int16 values; reflect/edge padding of non-empty axes."""
    op, shape = node.op, graph.types[node.inputs[0]].shape
    if op.mode == "constant" and graph.types[node.inputs[0]].dtype not in (DType.INT8, DType.INT16):
        return "constant padding of a tensor neither int8 nor int16"
    if op.mode != "constant" and 0 in shape:
        return f"{op.mode} padding of an empty axis"
    return None


def why_not_resize(node: Node, graph) -> str | None:
    """Nearest mode only (int8 values move unchanged), the modes of qcomp/ir/resize.py."""
    op = node.op
    if op.mode != "nearest":
        return f"{op.mode} Resize (only nearest moves int8 values unchanged)"
    for n_in, n_out, scale in zip(graph.types[node.inputs[0]].shape, op.sizes, op.scales):
        if nearest_source_index(op.coordinate_transformation_mode, op.nearest_mode, n_in, n_out, scale) is None:
            return (f"coordinate_transformation_mode {op.coordinate_transformation_mode!r} / nearest_mode "
                    f"{op.nearest_mode!r}")
    return None


_BOUNDARY = (DType.INT8, DType.INT16)   # the integer side of a graph input's Quantize / output's Dequantize


def why_not_quantize(node: Node, graph) -> str | None:
    """Float32 graph input -> int8 or int16 (A16W8), per tensor (no float region inside the model)."""
    x, y = node.inputs[0], node.outputs[0]
    if x not in graph.inputs or graph.types[x].dtype is not DType.FLOAT32 or graph.types[y].dtype not in _BOUNDARY:
        return ("only a float32 graph input quantized to int8 or int16 is supported (float regions inside the model "
                "are not)")
    q = graph.types[y].quant
    return "per-channel quantization of an input" if q is None or q.per_channel else None


def why_not_dequantize(node: Node, graph) -> str | None:
    """Int8 or int16 -> float32 graph output, per tensor (no float region inside the model)."""
    x, y = node.inputs[0], node.outputs[0]
    if y not in graph.outputs or graph.types[x].dtype not in _BOUNDARY:
        return ("only an int8 or int16 value dequantized into a graph output is supported (float regions inside "
                "the model are not)")
    q = graph.types[x].quant
    return "per-channel dequantization of an output" if q is None or q.per_channel else None


TABLE = {
    ops.Reshape: reshape, ops.Concat: concat, ops.Split: split, ops.Transpose: transpose, ops.Slice: slice_,
    ops.Pad: Emitter(pad, why_not_pad), ops.Resize: Emitter(resize, why_not_resize),
    ops.Quantize: Emitter(quantize, why_not_quantize), ops.Dequantize: Emitter(dequantize, why_not_dequantize),
}
