"""Emitters of the data-movement kernels: Reshape, Transpose, Slice, Split, Pad, Concat.

All are one strided copy (copy.cu.j2): for every index i of a shape,
    dst[dst_base + sum i_d * dst_stride_d] = src[src_base + sum i_d * src_stride_d]
(Pad: the pad value where i_d is outside [lo_d, hi_d)). Element strides, any dtype.
Transpose: source strides permuted; Slice: start offset and step-scaled strides; Split: one
slice per output; Concat: one copy per input into its place along the axis.
"""
from __future__ import annotations

import numpy as np

from ...ir import Node, ops
from ...ir.resize import nearest_source_index
from ...protocol import Emitter
from .context import BLOCK, Context, ctype_of, grid_1d
from .emit_elementwise import _strides


def _copy(ctx: Context, node: Node, src: str, dst: str, dims, src_strides, dst_strides, src_base=0,
          dst_base=0, what="copy", pad=None, suffix="") -> None:
    g = ctx.graph
    total = int(np.prod(dims)) if dims else 1
    name = ctx.kernel_name(node, suffix)
    lo, hi, value = pad if pad is not None else ([], [], 0)
    src_text = ctx.env.get_template("copy.cu.j2").render(
        name=name, node=ctx.comment(node), what=what, total=total, dims=list(dims) or [1],
        src_strides=list(src_strides) or [0], dst_strides=list(dst_strides) or [0], src_base=src_base,
        dst_base=dst_base, pad=pad is not None, lo=lo, hi=hi, pad_value=value, ctype=ctype_of(g.types[src].dtype))
    ctx.add(node, name, src_text, grid_1d(total), (BLOCK, 1, 1), [ctx.value(src), ctx.value(dst)])


def reshape(node: Node, ctx: Context) -> None:
    t = ctx.graph.types[node.outputs[0]]
    _copy(ctx, node, node.inputs[0], node.outputs[0], [t.size], [1], [1], what="Reshape (a contiguous copy)")


def transpose(node: Node, ctx: Context) -> None:
    g = ctx.graph
    x = g.types[node.inputs[0]]
    y = g.types[node.outputs[0]]
    s = _strides(x.shape)
    _copy(ctx, node, node.inputs[0], node.outputs[0], y.shape, [s[p] for p in node.op.perm], _strides(y.shape),
          what=f"Transpose perm {node.op.perm}")


def _slice_of(x_shape, op: ops.Slice):
    """(starts, steps) per dimension of x, as numpy slicing resolves them."""
    starts, steps = [0] * len(x_shape), [1] * len(x_shape)
    axes = range(len(op.starts))
    for a, st, en, sp in zip(axes, op.starts, op.ends, op.steps or (1,) * len(op.starts)):
        r = range(x_shape[a])[slice(st, en, sp)]
        starts[a], steps[a] = (r.start if len(r) else 0), sp
    return starts, steps


def slice_(node: Node, ctx: Context) -> None:
    g = ctx.graph
    x, y = g.types[node.inputs[0]], g.types[node.outputs[0]]
    starts, steps = _slice_of(x.shape, node.op)
    s = _strides(x.shape)
    _copy(ctx, node, node.inputs[0], node.outputs[0], y.shape, [sp * st for sp, st in zip(steps, s)],
          _strides(y.shape), src_base=sum(a * b for a, b in zip(starts, s)), what="Slice")


def split(node: Node, ctx: Context) -> None:
    g = ctx.graph
    x = g.types[node.inputs[0]]
    axis = node.op.axis % x.rank
    s = _strides(x.shape)
    start = 0
    for i, out in enumerate(node.outputs):
        y = g.types[out]
        _copy(ctx, node, node.inputs[0], out, y.shape, s, _strides(y.shape), src_base=start * s[axis],
              what=f"Split part {i}", suffix=f"_{i}")
        start += y.shape[axis]


def concat(node: Node, ctx: Context) -> None:
    g = ctx.graph
    y = g.types[node.outputs[0]]
    axis = node.op.axis % y.rank
    ys = _strides(y.shape)
    start = 0
    for i, src in enumerate(node.inputs):
        x = g.types[src]
        _copy(ctx, node, src, node.outputs[0], x.shape, _strides(x.shape), ys, dst_base=start * ys[axis],
              what=f"Concat part {i}", suffix=f"_{i}")
        start += x.shape[axis]


def pad(node: Node, ctx: Context) -> None:
    g = ctx.graph
    op: ops.Pad = node.op
    x, y = g.types[node.inputs[0]], g.types[node.outputs[0]]
    r = x.rank
    before = op.pads[:r]
    s = _strides(x.shape)
    lo = list(before)
    hi = [b + d for b, d in zip(before, x.shape)]
    value = int(op.value) if x.dtype.value != "f32" else f"{float(np.float32(op.value)):.9e}f"
    _copy(ctx, node, node.inputs[0], node.outputs[0], y.shape, s, _strides(y.shape),
          src_base=-sum(b * st for b, st in zip(before, s)), what="Pad", pad=(lo, hi, value))


def why_not_slice(node: Node, graph) -> str | None:
    """No explicit axes."""
    return "it has explicit axes" if getattr(node.op, "axes", None) else None


def why_not_pad(node: Node, graph) -> str | None:
    """Constant padding only."""
    return f"it pads in mode {node.op.mode!r} (only constant)" if node.op.mode != "constant" else None


def why_not_resize(node: Node, graph) -> str | None:
    """Nearest mode only, the modes of qcomp/ir/resize.py."""
    op = node.op
    if op.mode != "nearest":
        return f"it is a {op.mode} Resize (only nearest)"
    for n_in, n_out, scale in zip(graph.types[node.inputs[0]].shape, op.sizes, op.scales):
        if not (n_in == n_out and scale == 1.0) and nearest_source_index(
                op.coordinate_transformation_mode, op.nearest_mode, n_in, n_out, scale) is None:
            return f"it uses Resize mode {op.coordinate_transformation_mode!r} / {op.nearest_mode!r}"
    return None


EMITTERS = {ops.Reshape: reshape, ops.Transpose: transpose, ops.Slice: Emitter(slice_, why_not_slice), ops.Split: split,
            ops.Concat: concat, ops.Pad: Emitter(pad, why_not_pad)}



def resize(node: Node, ctx: Context) -> None:
    """Nearest Resize: one int32 index table per axis (identity where the axis is unchanged)."""
    g = ctx.graph
    op: ops.Resize = node.op
    x, y = g.types[node.inputs[0]], g.types[node.outputs[0]]
    tables, offsets = [], []
    for n_in, n_out, scale in zip(x.shape, op.sizes, op.scales):
        offsets.append(sum(t.size for t in tables))
        if n_in == n_out and scale == 1.0:
            tables.append(np.arange(n_in, dtype=np.int32))
            continue
        idx = nearest_source_index(op.coordinate_transformation_mode, op.nearest_mode, n_in, n_out, scale)
        tables.append(idx.astype(np.int32))
    table = ctx.add_weight(np.concatenate(tables))
    name = ctx.kernel_name(node)
    src = ctx.env.get_template("resize.cu.j2").render(
        name=name, node=ctx.comment(node), dims=list(y.shape), table_offsets=offsets, in_strides=_strides(x.shape),
        total=y.size, ctype=ctype_of(x.dtype), transform=op.coordinate_transformation_mode, nearest=op.nearest_mode)
    ctx.add(node, name, src, grid_1d(y.size), (BLOCK, 1, 1), [ctx.value(node.inputs[0]), table, ctx.value(node.outputs[0])])


EMITTERS[ops.Resize] = Emitter(resize, why_not_resize)
