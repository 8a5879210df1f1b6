"""Resize on cuda: nearest (any dtype) through emit_movement.resize, linear on float32 here
(templates/float_resize.cu.j2), as qcomp/ref/float_resize.py computes it.

Linear, per resized axis (L_in -> L_out, an axis with L_out == L_in and scale 1 is left alone), for
output index j, in float32 with qcomp/ir/resize.py's original coordinate x_orig(j):

    c = clamp(x_orig(j), 0, L_in - 1);  i0 = floor(c);  i1 = min(i0 + 1, L_in - 1);  f = c - i0
    y[.., j, ..] = x[.., i0, ..] * (1 - f) + x[.., i1, ..] * f

one 1-D pass per resized axis in axis order. The tables (i0, i1) and (1 - f, f) are computed here at
build time with the reference's float32 numpy operations; the kernel evaluates the passes per
output element from the 2^K input values they read (K resized axes), in the passes' order, each
product and sum one float32 rounding: the reference's values exactly.
"""
from __future__ import annotations

import numpy as np

from ...ir import DType, Node, ops
from ...ir.resize import original_coords
from ...protocol import Emitter
from . import emit_movement
from .context import BLOCK, Context, grid_1d
from .emit_elementwise import _strides

_F = np.float32


def _resized(shape, op) -> list[int]:
    return [d for d, (n_in, n_out, scale) in enumerate(zip(shape, op.sizes, op.scales))
            if not (n_in == n_out and scale == 1.0)]


def why_not_resize(node: Node, graph) -> str | None:
    """Nearest (any dtype, emit_movement's modes) or linear (float32, qcomp/ir/resize.py's coordinate modes)."""
    op = node.op
    if op.mode != "linear":
        return emit_movement.why_not_resize(node, graph)
    x = graph.types[node.inputs[0]]
    if x.dtype is not DType.FLOAT32 or graph.types[node.outputs[0]].dtype is not DType.FLOAT32:
        return "the cuda backend runs linear Resize on float32 values only"
    if any(original_coords(op.coordinate_transformation_mode, x.shape[d], op.sizes[d], op.scales[d]) is None
           for d in _resized(x.shape, op)):
        return f"coordinate_transformation_mode {op.coordinate_transformation_mode!r} is not supported"
    return None


def resize(node: Node, ctx: Context) -> None:
    op: ops.Resize = node.op
    if op.mode != "linear":
        return emit_movement.resize(node, ctx)
    g = ctx.graph
    x, y = g.types[node.inputs[0]], g.types[node.outputs[0]]
    axes = _resized(x.shape, op)   # none: the identity, a copy through the same kernel (v[0] = x)
    index, weight, offsets = [], [], []
    for d in axes:
        n_in = x.shape[d]
        coords = original_coords(op.coordinate_transformation_mode, n_in, op.sizes[d], op.scales[d])
        c = np.clip(coords, _F(0), _F(n_in - 1)).astype(_F)
        i0 = np.floor(c).astype(np.int64)
        f = (c - i0.astype(_F)).astype(_F)
        offsets.append(2 * sum(len(t) for t in index))
        index.append(np.stack([i0, np.minimum(i0 + 1, n_in - 1)], 1).astype(np.int32))
        weight.append(np.stack([_F(1) - f, f], 1).astype(_F))
    index_arg = ctx.add_weight(np.concatenate(index).ravel() if index else np.zeros(2, np.int32))
    weight_arg = ctx.add_weight(np.concatenate(weight).ravel() if weight else np.zeros(2, _F))
    name = ctx.kernel_name(node)
    src = ctx.env.get_template("float_resize.cu.j2").render(
        name=name, node=ctx.comment(node), dims=list(y.shape), axes=axes, corners=2 ** len(axes),
        table_offsets=offsets, in_strides=_strides(x.shape), total=y.size)
    ctx.add(node, name, src, grid_1d(y.size), (BLOCK, 1, 1),
            [ctx.value(node.inputs[0]), index_arg, weight_arg, ctx.value(node.outputs[0])])


EMITTERS = {ops.Resize: Emitter(resize, why_not_resize)}
