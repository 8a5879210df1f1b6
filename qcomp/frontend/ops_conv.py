"""Layout-sensitive ops: convolutions, pools, global pools, BatchNormalization.

They read channels-last input (NHWC for 2-D; (N, L, C) for 1-D) and produce channels-last output.
A 1-D op (input N, C, L) runs as the 2-D op on (N, 1, L, C): that reshape of the channels-last
value is free, and the result is reshaped back to (N, L', C') with layout (0, 2, 1).

Weights: ONNX Conv W[O, C/g, KH, KW] becomes OHWI  w[o, kh, kw, c] = W[o, c, kh, kw].
ConvTranspose W[C, O/g, KH, KW] becomes           w[g*Og + o, kh, kw, c] = W[g*Cg + c, o, kh, kw].
A missing bias is a zero constant.

auto_pad (ONNX): VALID = no pads; SAME_* pads a total of
    total = max((ceil(in / s) - 1) * s + (k - 1) * d + 1 - in, 0)
with the odd pixel at the end (SAME_UPPER) or at the start (SAME_LOWER). For ConvTranspose, an
`output_shape` (or SAME_*, whose output is in * s) fixes the total crop
    total = s * (in - 1) + output_padding + (k - 1) * d + 1 - out
split begin = total - total // 2, end = total // 2 (SAME_UPPER: begin = total // 2), as
onnxruntime does; a negative total grows output_padding instead.
"""
from __future__ import annotations

import numpy as np
import onnx

from ..ir import DType
from ..ir import ops as irops
from . import layout
from .context import Attrs, Const, Context, Unsupported, Val, Value

AUTO_PADS = ("NOTSET", "SAME_UPPER", "SAME_LOWER", "VALID")


def check_window(node: onnx.NodeProto, opset: int) -> list[str]:
    a = Attrs(node)
    errs = []
    mode = a.str("auto_pad", "NOTSET")
    if mode not in AUTO_PADS:
        errs.append(f"auto_pad {mode!r} is not one of {', '.join(AUTO_PADS)}")
    kernel = a.ints("kernel_shape")
    if kernel is not None and len(kernel) not in (1, 2):
        errs.append(f"{len(kernel)}-D windows are not supported (1-D and 2-D)")
    if node.op_type == "MaxPool" and len(node.output) > 1 and node.output[1]:
        errs.append("the Indices output of MaxPool is not supported")
    return errs


def _check_window(kernel, strides, dilations, pads) -> None:
    """ONNX's ranges: kernel, strides and dilations positive, pads non-negative."""
    for what, values, low in (("kernel_shape", kernel, 1), ("strides", strides, 1), ("dilations", dilations, 1),
                              ("pads", pads, 0)):
        if any(v < low for v in values):
            raise Unsupported(f"{what} {tuple(values)} must be {'positive' if low else 'non-negative'}")


def _auto_pads(mode: str, sizes, kernel, strides, dilations) -> tuple[list[int], list[int]]:
    begin, end = [], []
    for n, k, s, d in zip(sizes, kernel, strides, dilations):
        total = 0 if mode == "VALID" else max((-(-n // s) - 1) * s + (k - 1) * d + 1 - n, 0)
        lo = total // 2 if mode == "SAME_UPPER" else total - total // 2
        begin.append(lo)
        end.append(total - lo)
    return begin, end


def _window(a: Attrs, sizes: tuple[int, ...], kernel: tuple[int, ...]):
    """(strides, pads (top, left, bottom, right), dilations) as 2-D tuples for ONNX attributes."""
    nd = len(kernel)
    strides = a.ints("strides", (1,) * nd, length=nd)
    dilations = a.ints("dilations", (1,) * nd, length=nd)
    mode = a.str("auto_pad", "NOTSET")
    if mode == "NOTSET":
        pads = a.ints("pads", (0,) * (2 * nd), length=2 * nd)
        begin, end = list(pads[:nd]), list(pads[nd:])
    else:
        _check_window(kernel, strides, dilations, ())
        begin, end = _auto_pads(mode, sizes, kernel, strides, dilations)
    _check_window(kernel, strides, dilations, begin + end)
    if nd == 1:
        return (1, strides[0]), (0, begin[0], 0, end[0]), (1, dilations[0])
    return tuple(strides), (begin[0], begin[1], end[0], end[1]), tuple(dilations)


def _spatial_in(ctx: Context, x: Value, what: str) -> tuple[str, int]:
    """x as a 4-D NHWC IR value, and its number of spatial dims (1 or 2)."""
    r = ctx.rank(x)
    if r not in (3, 4):
        raise Unsupported(f"{what} input has rank {r}; only 1-D and 2-D (rank 3 and 4) are supported")
    if ctx.dtype(x) is not DType.FLOAT32:
        raise Unsupported(f"{what} input is {ctx.dtype(x).value}; only float32 is supported")
    name = ctx.nhwc(x)
    if r == 3:
        n, length, c = ctx.graph.types[name].shape
        name = ctx.emit(irops.Reshape((n, 1, length, c)), [name], suffix="to_2d")[0]
    return name, r - 2


def _spatial_out(ctx: Context, op: irops.Op, inputs: list[str], nd: int) -> Value:
    if nd == 2:
        return Val(ctx.emit(op, inputs, out=ctx.out_name())[0], layout.NHWC)
    y = ctx.emit(op, inputs, suffix="2d")[0]
    n, _, length, c = ctx.graph.types[y].shape
    return Val(ctx.emit(irops.Reshape((n, length, c)), [y], out=ctx.out_name(), suffix="to_1d")[0], (0, 2, 1))


def _weight(ctx: Context, w: Value | None, what: str) -> np.ndarray:
    arr = ctx.const(w, what)
    if arr.dtype != np.float32:
        raise Unsupported(f"{what} is {arr.dtype}; only float32 weights are supported")
    if arr.ndim not in (3, 4):
        raise Unsupported(f"{what} has shape {arr.shape}; only 1-D and 2-D convolutions are supported")
    return arr if arr.ndim == 4 else arr[:, :, None, :]


def _bias(ctx: Context, b: Value | None, channels: int) -> str:
    if b is None:
        return ctx.constant(np.zeros(channels, np.float32), f"{ctx.node_name}/zero_bias")
    arr = ctx.const(b, "bias (input 2)").astype(np.float32).reshape(-1)
    if arr.shape != (channels,):
        raise Unsupported(f"bias has shape {arr.shape}, expected ({channels},)")
    return ctx.constant(arr, b.name if isinstance(b, Const) else f"{ctx.node_name}/bias")


def _spatial_sizes(ctx: Context, x: Value) -> tuple[int, ...]:
    return ctx.shape(x)[2:]


def conv(ctx: Context, node: onnx.NodeProto) -> list[Value]:
    x, w, *rest = ctx.inputs(node)
    a = Attrs(node)
    w4 = _weight(ctx, w, "Conv weight (input 1)")
    kernel = w4.shape[2:] if ctx.rank(x) == 4 else (w4.shape[3],)
    strides, pads, dilations = _window(a, _spatial_sizes(ctx, x), kernel)
    xin, nd = _spatial_in(ctx, x, "Conv")
    op = irops.Conv2D(strides, pads, dilations, a.int("group", 1))
    wname = ctx.constant(np.transpose(w4, (0, 2, 3, 1)), w.name if isinstance(w, Const) else "weight")
    return [_spatial_out(ctx, op, [xin, wname, _bias(ctx, rest[0] if rest else None, w4.shape[0])], nd)]


def conv_transpose(ctx: Context, node: onnx.NodeProto) -> list[Value]:
    x, w, *rest = ctx.inputs(node)
    a = Attrs(node)
    w4 = _weight(ctx, w, "ConvTranspose weight (input 1)")
    g = a.int("group", 1)
    c, og, kh, kw = w4.shape
    if g < 1:
        raise Unsupported(f"group {g} must be positive")
    if c % g:
        raise Unsupported(f"weight has {c} input channels, not divisible by group {g}")
    nd = ctx.rank(x) - 2
    if nd not in (1, 2):
        raise Unsupported(f"ConvTranspose input has rank {ctx.rank(x)}; only 1-D and 2-D (rank 3 and 4) are supported")
    kernel = (kh, kw) if nd == 2 else (kw,)
    sizes = _spatial_sizes(ctx, x)
    strides = a.ints("strides", (1,) * nd, length=nd)
    dilations = a.ints("dilations", (1,) * nd, length=nd)
    out_pad = list(a.ints("output_padding", (0,) * nd, length=nd))
    _check_window(kernel, strides, dilations, out_pad)
    mode = a.str("auto_pad", "NOTSET")
    out_shape = a.ints("output_shape")
    if out_shape is not None and len(out_shape) > nd:
        out_shape = out_shape[-nd:]  # an output_shape with N, C is allowed; the last nd are spatial
    if out_shape is not None and len(out_shape) != nd:
        raise Unsupported(f"output_shape {out_shape} does not give the {nd} spatial sizes")
    if out_shape is None and mode in ("SAME_UPPER", "SAME_LOWER"):
        out_shape = tuple(n * s for n, s in zip(sizes, strides))
    if out_shape is not None:
        begin, end = [], []
        for i, (n, k, s, d, o) in enumerate(zip(sizes, kernel, strides, dilations, out_shape)):
            total = s * (n - 1) + out_pad[i] + (k - 1) * d + 1 - o
            if total < 0:
                out_pad[i] -= total
                total = 0
            lo = total // 2 if mode == "SAME_UPPER" else total - total // 2
            begin.append(lo)
            end.append(total - lo)
    elif mode == "VALID":
        begin, end = [0] * nd, [0] * nd
    else:
        pads = a.ints("pads", (0,) * (2 * nd), length=2 * nd)
        begin, end = list(pads[:nd]), list(pads[nd:])
    _check_window(kernel, strides, dilations, begin + end)
    if nd == 1:
        strides, dilations, out_pad = (1, strides[0]), (1, dilations[0]), [0, out_pad[0]]
        pads4 = (0, begin[0], 0, end[0])
    else:
        pads4 = (begin[0], begin[1], end[0], end[1])
    # W[g*Cg + c, o, kh, kw] -> w[g*Og + o, kh, kw, c]
    wi = w4.reshape(g, c // g, og, kh, kw).transpose(0, 2, 3, 4, 1).reshape(g * og, kh, kw, c // g)
    xin, nd = _spatial_in(ctx, x, "ConvTranspose")
    op = irops.ConvTranspose2D(tuple(strides), pads4, tuple(dilations), g, tuple(out_pad))
    wname = ctx.constant(wi, w.name if isinstance(w, Const) else "weight")
    return [_spatial_out(ctx, op, [xin, wname, _bias(ctx, rest[0] if rest else None, g * og)], nd)]


def _pool(ctx: Context, node: onnx.NodeProto, average: bool) -> list[Value]:
    x = ctx.inputs(node)[0]
    a = Attrs(node)
    kernel = a.ints("kernel_shape")
    if kernel is None:
        raise Unsupported("kernel_shape is missing")
    if len(kernel) != ctx.rank(x) - 2:
        raise Unsupported(f"kernel_shape {kernel} does not match input rank {ctx.rank(x)}")
    strides, pads, dilations = _window(a, _spatial_sizes(ctx, x), kernel)
    k2 = tuple(kernel) if len(kernel) == 2 else (1, kernel[0])
    ceil = bool(a.int("ceil_mode", 0))
    xin, nd = _spatial_in(ctx, x, node.op_type)
    if average:
        op: irops.Op = irops.AvgPool2D(k2, strides, pads, ceil, bool(a.int("count_include_pad", 0)), dilations)
    else:
        op = irops.MaxPool2D(k2, strides, pads, dilations, ceil)
    return [_spatial_out(ctx, op, [xin], nd)]


def max_pool(ctx: Context, node: onnx.NodeProto) -> list[Value]:
    return _pool(ctx, node, average=False)


def average_pool(ctx: Context, node: onnx.NodeProto) -> list[Value]:
    return _pool(ctx, node, average=True)


def _global_pool(ctx: Context, node: onnx.NodeProto, op_cls) -> list[Value]:
    x = ctx.inputs(node)[0]
    r = ctx.rank(x)
    if r < 3:
        raise Unsupported(f"input has rank {r}; a global pool needs N, C and spatial dims")
    op = op_cls(tuple(range(1, r - 1)), True)  # the spatial axes of the channels-last value
    return [Val(ctx.emit(op, [ctx.nhwc(x)], out=ctx.out_name())[0], layout.channels_last(r))]


def global_average_pool(ctx: Context, node: onnx.NodeProto) -> list[Value]:
    return _global_pool(ctx, node, irops.ReduceMean)


def global_max_pool(ctx: Context, node: onnx.NodeProto) -> list[Value]:
    return _global_pool(ctx, node, irops.ReduceMax)


def check_batch_norm(node: onnx.NodeProto, opset: int) -> list[str]:
    if Attrs(node).int("training_mode", 0) or any(node.output[1:]):
        return ["training mode (running statistics outputs) is not supported; export the model in eval mode"]
    return []


def batch_norm(ctx: Context, node: onnx.NodeProto) -> list[Value]:
    x, *params = ctx.inputs(node)
    r = ctx.rank(x)
    if r < 2:
        raise Unsupported(f"input has rank {r}; BatchNormalization needs N and C")
    cl = layout.channels_last(r)
    names = [ctx.ir(p) if p is not None else "" for p in params]
    if "" in names or len(names) != 4:
        raise Unsupported("BatchNormalization needs scale, B, mean and var")
    op = irops.BatchNorm(Attrs(node).float("epsilon", 1e-5))
    return [Val(ctx.emit(op, [ctx.ir(x, cl)] + names, out=ctx.out_name())[0], cl)]


CONVERTERS = {
    "Conv": conv, "ConvTranspose": conv_transpose, "MaxPool": max_pool, "AveragePool": average_pool,
    "GlobalAveragePool": global_average_pool, "GlobalMaxPool": global_max_pool,
    "BatchNormalization": batch_norm,
}
CHECKS = {"Conv": check_window, "ConvTranspose": check_window, "MaxPool": check_window,
          "AveragePool": check_window, "BatchNormalization": check_batch_norm}
