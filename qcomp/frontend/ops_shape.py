"""Data movement: Reshape, Flatten, Squeeze, Unsqueeze, Transpose, Concat, Split, Slice, Pad,
Gather, Resize, Cast, and the inference no-ops Identity and Dropout.

Reshape, Flatten, Squeeze and Unsqueeze work on ONNX row-major order, so their input is brought to
ONNX layout first (free when the layout only moves size-1 dims: one Reshape does both). A
Transpose emits no node: its output is the same IR value with the layout q[i] = inverse(t)[p[i]]
(p the input's layout, t the Transpose's perm). Concat, Split, Slice and Pad remap their axes
through the layout (ONNX axis a is IR axis perm.index(a)). Resize of a rank-4 tensor runs on NHWC.

Slice follows ONNX clamping: start += dim if negative, end likewise; for step > 0 both clamp to
[0, dim]; for step < 0 start clamps to [0, dim-1] and end to [-1, dim-1], where -1 means "through
index 0" (an end of None in the IR). Negative Pad pads crop (a Slice before the Pad).
"""
from __future__ import annotations

import numpy as np
import onnx

from ..ir import ops as irops
from . import layout
from .context import Attrs, Const, Context, Unsupported, Val, Value, onnx_dtype


def _ints(ctx: Context, v: Value | None, what: str) -> tuple[int, ...] | None:
    return None if v is None else tuple(int(x) for x in _int_array(ctx, v, what))


def _int_array(ctx: Context, v: Value | None, what: str) -> np.ndarray:
    arr = ctx.const(v, what)
    if not np.issubdtype(arr.dtype, np.integer):
        raise Unsupported(f"{what} is {arr.dtype}; ONNX defines it as int64")
    return arr.reshape(-1).astype(np.int64)


def _axes(ctx: Context, node: onnx.NodeProto, input_index: int, since: int) -> tuple[int, ...] | None:
    """An `axes` list that moved from attribute to input at opset `since`."""
    if ctx.opset >= since:
        ins = ctx.inputs(node)
        return _ints(ctx, ins[input_index] if len(ins) > input_index else None, f"axes (input {input_index})")
    return Attrs(node).ints("axes")


# ---- reshapes -------------------------------------------------------------------------------

def _reshape_to(ctx: Context, x: Value, shape: tuple[int, ...]) -> list[Value]:
    if int(np.prod(shape, dtype=np.int64)) != int(np.prod(ctx.shape(x), dtype=np.int64)):
        raise Unsupported(f"cannot reshape {ctx.shape(x)} to {shape}")
    return [Val(ctx.reshaped(x, shape, out=ctx.out_name(), suffix=None), layout.identity(len(shape)))]


def reshape(ctx: Context, node: onnx.NodeProto) -> list[Value]:
    x, s = ctx.inputs(node)
    target = list(_int_array(ctx, s, "shape (input 1)"))
    src = ctx.shape(x)
    if not Attrs(node).int("allowzero", 0):
        target = [src[i] if d == 0 and i < len(src) else int(d) for i, d in enumerate(target)]
    if target.count(-1) > 1:
        raise Unsupported(f"shape {target} has more than one -1")
    if -1 in target:
        known = int(np.prod([d for d in target if d != -1], dtype=np.int64))
        total = int(np.prod(src, dtype=np.int64))
        if known == 0 or total % known:
            raise Unsupported(f"cannot reshape {src} to {target}")
        target[target.index(-1)] = total // known
    return _reshape_to(ctx, x, tuple(int(d) for d in target))


def flatten(ctx: Context, node: onnx.NodeProto) -> list[Value]:
    x = ctx.inputs(node)[0]
    src = ctx.shape(x)
    axis = Attrs(node).int("axis", 1)
    axis = axis + len(src) if axis < 0 else axis
    if not 0 <= axis <= len(src):
        raise Unsupported(f"axis {axis} is out of range for rank {len(src)}")
    shape = (int(np.prod(src[:axis], dtype=np.int64)), int(np.prod(src[axis:], dtype=np.int64)))
    return _reshape_to(ctx, x, shape)


def squeeze(ctx: Context, node: onnx.NodeProto) -> list[Value]:
    x = ctx.inputs(node)[0]
    src = ctx.shape(x)
    axes = _axes(ctx, node, 1, 13)
    drop = {ctx.axis(a, len(src)) for a in axes} if axes else {i for i, d in enumerate(src) if d == 1}
    if any(src[a] != 1 for a in drop):
        raise Unsupported(f"cannot squeeze axes {sorted(drop)} of shape {src}")
    return _reshape_to(ctx, x, tuple(d for i, d in enumerate(src) if i not in drop))


def unsqueeze(ctx: Context, node: onnx.NodeProto) -> list[Value]:
    x = ctx.inputs(node)[0]
    src = ctx.shape(x)
    axes = _axes(ctx, node, 1, 13)
    if not axes:
        raise Unsupported("axes are missing")
    r = len(src) + len(axes)
    new = {ctx.axis(a, r) for a in axes}
    if len(new) != len(axes):
        raise Unsupported(f"axes {axes} name an axis twice")
    it = iter(src)
    return _reshape_to(ctx, x, tuple(1 if i in new else next(it) for i in range(r)))


def transpose(ctx: Context, node: onnx.NodeProto) -> list[Value]:
    x = ctx.val(ctx.inputs(node)[0])
    r = ctx.rank(x)
    t = Attrs(node).ints("perm", tuple(reversed(range(r))))
    if sorted(t) != list(range(r)):
        raise Unsupported(f"perm {t} is not a permutation of rank {r}")
    inv = layout.inverse(t)
    return [Val(x.name, tuple(inv[p] for p in x.perm))]


# ---- axis ops -------------------------------------------------------------------------------

def _common_perm(ctx: Context, values: list[Value], rank: int) -> layout.Perm:
    return next((v.perm for v in values if isinstance(v, Val) and len(v.perm) == rank), layout.identity(rank))


def concat(ctx: Context, node: onnx.NodeProto) -> list[Value]:
    ins = [v for v in ctx.inputs(node) if v is not None]
    r = ctx.rank(ins[0])
    axis = ctx.axis(Attrs(node).int("axis", 0), r)
    shapes = [ctx.shape(v) for v in ins]
    if any(len(s) != r or s[:axis] + s[axis + 1:] != shapes[0][:axis] + shapes[0][axis + 1:] for s in shapes):
        raise Unsupported(f"the input shapes {shapes} differ outside axis {axis}")
    perm = _common_perm(ctx, ins, r)
    nonempty = [v for v in ins if ctx.shape(v)[axis] > 0] or ins[:1]
    names = [ctx.ir(v, perm) for v in nonempty]
    if len(names) == 1:
        return [Val(names[0], perm)]
    return [Val(ctx.emit(irops.Concat(perm.index(axis)), names, out=ctx.out_name())[0], perm)]


def split(ctx: Context, node: onnx.NodeProto) -> list[Value]:
    ins = ctx.inputs(node)
    a = Attrs(node)
    shape = ctx.shape(ins[0])
    axis = ctx.axis(a.int("axis", 0), len(shape))
    n_out = len(node.output)
    sizes = _ints(ctx, ins[1] if len(ins) > 1 else None, "split (input 1)") if ctx.opset >= 13 else a.ints("split")
    if not sizes:
        n = a.int("num_outputs", n_out)
        chunk = -(-shape[axis] // n)
        sizes = tuple(min(chunk, shape[axis] - k * chunk) for k in range(n))
    if sum(sizes) != shape[axis] or len(sizes) != n_out or min(sizes) < 0:
        raise Unsupported(f"split sizes {sizes} do not cover axis {axis} of {shape} with {n_out} outputs")
    x = ctx.val(ins[0])
    outs = [o if o else ctx.fresh(f"{ctx.node_name}:{k}") for k, o in enumerate(node.output)]
    outs = [o if o not in ctx.graph.types else ctx.fresh(o) for o in outs]
    names = ctx.emit(irops.Split(x.perm.index(axis), tuple(sizes)), [x.name], out=outs)
    return [Val(n, x.perm) for n in names]


def _slice_bounds(start: int, end: int, step: int, dim: int) -> tuple[int, int | None, int]:
    start = start + dim if start < 0 else start
    end = end + dim if end < 0 else end
    if step > 0:
        return min(max(start, 0), dim), min(max(end, 0), dim), step
    start, end = min(max(start, 0), dim - 1), min(max(end, -1), dim - 1)
    return start, (None if end < 0 else end), step


def slice_(ctx: Context, node: onnx.NodeProto) -> list[Value]:
    ins = ctx.inputs(node) + [None] * 5
    shape = ctx.shape(ins[0])
    r = len(shape)
    starts = _ints(ctx, ins[1], "starts (input 1)")
    ends = _ints(ctx, ins[2], "ends (input 2)")
    axes = _ints(ctx, ins[3], "axes (input 3)") or tuple(range(len(starts)))
    steps = _ints(ctx, ins[4], "steps (input 4)") or (1,) * len(starts)
    spec = [(0, d, 1) for d in shape]
    for s, e, ax, st in zip(starts, ends, axes, steps):
        if st == 0:
            raise Unsupported("a slice step of 0")
        a = ctx.axis(ax, r)
        spec[a] = _slice_bounds(s, e, st, shape[a])
    return [_slice_ir(ctx, ctx.val(ins[0]), spec, ctx.out_name())]


def _slice_ir(ctx: Context, x: Val, spec: list[tuple[int, int | None, int]], out: str | None,
              suffix: str | None = None) -> Val:
    shape = ctx.shape(x)
    if all(s == (0, d, 1) for s, d in zip(spec, shape)):
        return x
    ir_spec = [spec[p] for p in x.perm]
    op = irops.Slice(tuple(s[0] for s in ir_spec), tuple(s[1] for s in ir_spec), tuple(s[2] for s in ir_spec))
    return Val(ctx.emit(op, [x.name], out=out, suffix=suffix)[0], x.perm)


def check_pad(node: onnx.NodeProto, opset: int) -> list[str]:
    mode = Attrs(node).str("mode", "constant")
    return [] if mode in ("constant", "reflect", "edge") else [f"mode {mode!r} is not one of constant, reflect, edge"]


def pad(ctx: Context, node: onnx.NodeProto) -> list[Value]:
    ins = ctx.inputs(node) + [None] * 3
    a = Attrs(node)
    shape = ctx.shape(ins[0])
    r = len(shape)
    pads = _ints(ctx, ins[1], "pads (input 1)")
    value_arr = None if ins[2] is None else ctx.const(ins[2], "constant_value (input 2)")
    value = 0.0 if value_arr is None or value_arr.size == 0 else float(value_arr.reshape(-1)[0])
    axes = _ints(ctx, ins[3], "axes (input 3)") if ctx.opset >= 18 else None
    axes = tuple(ctx.axis(ax, r) for ax in axes) if axes else tuple(range(r))
    if pads is None or len(pads) != 2 * len(axes):
        raise Unsupported(f"pads {pads} do not match {len(axes)} axes")
    x = ctx.val(ins[0])
    begin, end = [0] * r, [0] * r
    for k, ax in enumerate(axes):
        begin[ax], end[ax] = pads[k], pads[k + len(axes)]
    if any(d + min(b, 0) + min(e, 0) < 0 for d, b, e in zip(shape, begin, end)):
        raise Unsupported(f"pads {pads} crop more than the shape {shape} holds")
    if min(begin + end) < 0:  # crop first: x[-b : dim + e] on the negative sides
        spec = [(max(-b, 0), d + min(e, 0), 1) for b, e, d in zip(begin, end, shape)]
        x = _slice_ir(ctx, x, spec, None, "crop")
        begin, end = [max(b, 0) for b in begin], [max(e, 0) for e in end]
    if not any(begin + end):
        return [x]
    ir_pads = tuple(begin[p] for p in x.perm) + tuple(end[p] for p in x.perm)
    op = irops.Pad(ir_pads, a.str("mode", "constant"), value)
    return [Val(ctx.emit(op, [x.name], out=ctx.out_name())[0], x.perm)]


# ---- gather, cast, no-ops -------------------------------------------------------------------

def gather(ctx: Context, node: onnx.NodeProto) -> list[Value]:
    data, idx = ctx.inputs(node)
    r = ctx.rank(data)
    axis = ctx.axis(Attrs(node).int("axis", 0), r)
    if isinstance(idx, Const):
        arr = idx.array.astype(np.int64)
        idx = Const(np.where(arr < 0, arr + ctx.shape(data)[axis], arr), idx.name)
    names = [ctx.plain(data), ctx.plain(idx)]
    y = ctx.emit(irops.Gather(axis), names, out=ctx.out_name())[0]
    return [Val(y, layout.identity(len(ctx.graph.types[y].shape)))]


def cast(ctx: Context, node: onnx.NodeProto) -> list[Value]:
    from . import int_io   # Cast(uint8/int8 graph input -> float): an integer model input
    if int_io.cast_graph_input(ctx, node):
        return [ctx.val(ctx.inputs(node)[0])]
    x = ctx.val(ctx.inputs(node)[0])
    to = onnx_dtype(Attrs(node).int("to", onnx.TensorProto.FLOAT))
    if to is ctx.dtype(x):
        return [x]
    return [Val(ctx.emit(irops.Cast(to), [x.name], out=ctx.out_name())[0], x.perm)]


def identity(ctx: Context, node: onnx.NodeProto) -> list[Value]:
    return [ctx.inputs(node)[0]]


def check_dropout(node: onnx.NodeProto, opset: int) -> list[str]:
    return ["the mask output of Dropout is not supported"] if any(node.output[1:]) else []


def dropout(ctx: Context, node: onnx.NodeProto) -> list[Value]:
    ins = ctx.inputs(node)
    if len(ins) > 2 and ins[2] is not None and bool(ctx.const(ins[2], "training_mode (input 2)").reshape(-1)[0]):
        raise Unsupported("Dropout in training mode; export the model in eval mode")
    return [ins[0]]


# ---- resize ---------------------------------------------------------------------------------

RESIZE_MODES = ("nearest", "linear")
COORD_MODES = ("half_pixel", "asymmetric", "align_corners", "pytorch_half_pixel")
NEAREST_MODES = ("round_prefer_floor", "round_prefer_ceil", "floor", "ceil")


def check_resize(node: onnx.NodeProto, opset: int) -> list[str]:
    a = Attrs(node)
    errs = []
    for key, default, allowed in [("mode", "nearest", RESIZE_MODES),
                                  ("coordinate_transformation_mode", "half_pixel", COORD_MODES),
                                  ("nearest_mode", "round_prefer_floor", NEAREST_MODES),
                                  ("keep_aspect_ratio_policy", "stretch", ("stretch",))]:
        v = a.str(key, default)
        if v not in allowed:
            errs.append(f"{key} {v!r} is not supported ({', '.join(allowed)})")
    if a.int("antialias", 0):
        errs.append("antialias=1 is not supported")
    return errs


def resize(ctx: Context, node: onnx.NodeProto) -> list[Value]:
    ins = ctx.inputs(node) + [None] * 4
    scales_v, sizes_v = ins[2], ins[3]
    a = Attrs(node)
    shape = ctx.shape(ins[0])
    r = len(shape)
    axes = tuple(ctx.axis(ax, r) for ax in a.ints("axes", tuple(range(r))))
    scales_arr = None if scales_v is None else ctx.const(scales_v, "scales (input 2)").reshape(-1)
    sizes_arr = None if sizes_v is None else ctx.const(sizes_v, "sizes (input 3)").reshape(-1)
    scales, sizes = [1.0] * r, list(shape)
    given = sizes_arr if sizes_arr is not None and sizes_arr.size else scales_arr
    if given is not None and given.size and given.size != len(axes):
        raise Unsupported(f"scales/sizes {given.tolist()} do not have one entry per axis {axes}")
    if sizes_arr is not None and sizes_arr.size:
        if not np.issubdtype(sizes_arr.dtype, np.integer) or np.any(sizes_arr <= 0):
            raise Unsupported(f"sizes {sizes_arr.tolist()} must be positive int64 values")
        for ax, s in zip(axes, sizes_arr):
            sizes[ax] = int(s)
            scales[ax] = float(np.float32(s) / np.float32(shape[ax]))
    elif scales_arr is not None and scales_arr.size:
        if not np.all(np.isfinite(scales_arr)) or np.any(scales_arr <= 0):
            raise Unsupported(f"scales {scales_arr.tolist()} must be finite and positive")
        for ax, s in zip(axes, scales_arr.astype(np.float32)):
            scales[ax] = float(s)
            sizes[ax] = int(np.floor(np.float32(shape[ax]) * s))
    else:
        raise Unsupported("Resize needs scales or sizes")
    x = ctx.val(ins[0])
    perm = layout.NHWC if r == 4 else x.perm
    op = irops.Resize(tuple(sizes[p] for p in perm), tuple(scales[p] for p in perm), a.str("mode", "nearest"),
                      a.str("coordinate_transformation_mode", "half_pixel"),
                      a.str("nearest_mode", "round_prefer_floor"))
    return [Val(ctx.emit(op, [ctx.ir(x, perm)], out=ctx.out_name())[0], perm)]


CONVERTERS = {
    "Reshape": reshape, "Flatten": flatten, "Squeeze": squeeze, "Unsqueeze": unsqueeze,
    "Transpose": transpose, "Concat": concat, "Split": split, "Slice": slice_, "Pad": pad,
    "Gather": gather, "Cast": cast, "Identity": identity, "Dropout": dropout, "Resize": resize,
}
CHECKS = {"Pad": check_pad, "Dropout": check_dropout, "Resize": check_resize}
