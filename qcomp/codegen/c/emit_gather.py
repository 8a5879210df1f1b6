"""C emitter of Gather with constant indices: qcomp_gather_axes with one table per output axis.

The output of Gather(x, idx, axis a) is row-major over x.shape[:a] + idx.shape + x.shape[a+1:],
which is the same memory as x.shape[:a] + (idx.size,) + x.shape[a+1:]: so the idx axes flatten to
one axis and every output axis gets a source-offset table (emit_movement.py's scheme):
    table_d[i] = i * stride_in[d]                    (d != a)
    table_a[i] = (idx[i] + (x.shape[a] if idx[i] < 0 else 0)) * stride_in[a]
Bytes move whatever the element type: int8 (GatherElements / GatherND / Scatter* of int8 data,
frontend/ops_gather.py), or any other. Indices computed at run time (token ids) are refused: the C
kernels check no index at run time.
"""
from __future__ import annotations

import numpy as np

from ...ir import Graph, Node, ops
from ...protocol import Emitter
from .emit_movement import _gather
from .program import Ctx, contiguous_strides


def _indices(node: Node, graph: Graph) -> np.ndarray:
    d = graph.types[node.inputs[0]].shape[node.op.axis]
    idx = graph.constants[node.inputs[1]].astype(np.int64).reshape(-1)
    return np.where(idx < 0, idx + d, idx)


def why_not_gather(node: Node, graph: Graph) -> str | None:
    if node.inputs[1] not in graph.constants:
        return ("Gather with indices computed at run time (token ids): the C backend gathers with constant "
                "indices only; use an llvm or cuda target")
    d = graph.types[node.inputs[0]].shape[node.op.axis]
    idx = _indices(node, graph)
    if idx.size and (idx.min() < 0 or idx.max() >= d):
        return f"constant Gather indices out of range for axis size {d}"
    return None


def gather(node: Node, ctx: Ctx) -> None:
    x, a = node.inputs[0], node.op.axis
    shape = ctx.shape(x)
    strides = contiguous_strides(shape)
    idx = _indices(node, ctx.graph)
    tables = ([np.arange(n) * strides[d] for d, n in enumerate(shape[:a])] + [idx * strides[a]]
              + [np.arange(n) * strides[d] for d, n in enumerate(shape) if d > a])
    _gather(ctx, node, tables, None, shape=shape[:a] + (idx.size,) + shape[a + 1:])


TABLE = {ops.Gather: Emitter(gather, why_not_gather)}
