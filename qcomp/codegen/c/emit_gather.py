"""C emitters of Gather and IntLut.

Gather with constant indices: qcomp_gather_axes with one table per output axis. The output of
Gather(x, idx, axis a) is row-major over x.shape[:a] + idx.shape + x.shape[a+1:], which is the same
memory as x.shape[:a] + (idx.size,) + x.shape[a+1:]: so the idx axes flatten to one axis and every
output axis gets a source-offset table (emit_movement.py's scheme):
    table_d[i] = i * stride_in[d]                    (d != a)
    table_a[i] = (idx[i] + (x.shape[a] if idx[i] < 0 else 0)) * stride_in[a]
Gather with indices computed at run time (int32 / int64 token ids): qcomp_gather_i32 / _i64
(templates/qcomp_kernels_index.c) copy rows of prod(x.shape[a+1:]) elements,
    y[p, j, :] = x[p, idx[j] + (idx[j] < 0 ? d : 0), :]       p < prod(x.shape[:a]), j < idx.size
after checking every index: one outside [-d, d) ends qcomp_run with QCOMP_ERR_BAD_INPUT (as the
reference's InputError and the llvm kernel's status). Bytes move whatever the element type: int8
(an embedding table quantized by passes/lower_int_boundary.py), or any other.
IntLut (qcomp/ir/qops_intlut.py): qcomp_int_lut_i64 / _i32 / _u8 (bool), its table an int8 weight.
"""
from __future__ import annotations

import math

import numpy as np

from ...ir import DType, Graph, Node, ops
from ...ir.qops_intlut import IntLut
from ...protocol import Emitter
from .emit_movement import _gather
from .program import Call, Ctx, contiguous_strides


def _indices(node: Node, graph: Graph) -> np.ndarray:
    d = graph.types[node.inputs[0]].shape[node.op.axis]
    idx = graph.constants[node.inputs[1]].astype(np.int64).reshape(-1)
    return np.where(idx < 0, idx + d, idx)


def why_not_gather(node: Node, graph: Graph) -> str | None:
    """Constant indices inside the axis, or run-time int32 / int64 indices (checked when it runs)."""
    if node.inputs[1] not in graph.constants:
        if graph.types[node.inputs[1]].dtype not in (DType.INT32, DType.INT64):
            return "Gather indices must be int32 or int64"
        return None
    d = graph.types[node.inputs[0]].shape[node.op.axis]
    idx = _indices(node, graph)
    if idx.size and (idx.min() < 0 or idx.max() >= d):
        return f"constant Gather indices out of range for axis size {d}"
    return None


def _run_time_gather(node: Node, ctx: Ctx) -> None:
    x, idx, y = node.inputs[0], node.inputs[1], node.outputs[0]
    a, shape = node.op.axis, ctx.shape(x)
    if ctx.graph.types[y].size == 0:
        return
    it = "i64" if ctx.dtype(idx) is DType.INT64 else "i32"
    args = (f"((uint8_t *){ctx.ptr(y, False)})", f"((const uint8_t *){ctx.ptr(x, True)})", ctx.ptr(idx, True),
            str(math.prod(ctx.shape(idx))), str(math.prod(shape[:a])), str(shape[a]),
            str(math.prod(shape[a + 1:]) * ctx.elem_size(x)))
    ctx.calls += [Call(ctx.comment(node), f"qcomp_gather_{it}", args, checked=True)]


def gather(node: Node, ctx: Ctx) -> None:
    if node.inputs[1] not in ctx.graph.constants:
        _run_time_gather(node, ctx)
        return
    x, a = node.inputs[0], node.op.axis
    shape = ctx.shape(x)
    strides = contiguous_strides(shape)
    idx = _indices(node, ctx.graph)
    tables = ([np.arange(n) * strides[d] for d, n in enumerate(shape[:a])] + [idx * strides[a]]
              + [np.arange(n) * strides[d] for d, n in enumerate(shape) if d > a])
    _gather(ctx, node, tables, None, shape=shape[:a] + (idx.size,) + shape[a + 1:])


_INT_LUT_KERNEL = {DType.INT64: "qcomp_int_lut_i64", DType.INT32: "qcomp_int_lut_i32", DType.BOOL: "qcomp_int_lut_u8"}


def why_not_int_lut(node: Node, graph: Graph) -> str | None:
    """A constant table."""
    return None if node.inputs[1] in graph.constants else "the IntLut table must be a constant"


def int_lut(node: Node, ctx: Ctx) -> None:
    x, table, y = node.inputs[0], node.inputs[1], node.outputs[0]
    args = (ctx.ptr(x, True), ctx.ptr(y, False), str(math.prod(ctx.shape(x))), f"INT64_C({node.op.low})",
            ctx.ptr(table, True), str(ctx.shape(table)[0]))
    ctx.calls += [Call(ctx.comment(node), _INT_LUT_KERNEL[ctx.dtype(x)], args)]


TABLE = {ops.Gather: Emitter(gather, why_not_gather), IntLut: Emitter(int_lut, why_not_int_lut)}
