"""The addressing of the run-time index ops (qcomp/ir/ops_index.py) that every compiled backend
shares: one fact, one place. Each op walks R rows; row r holds K index values idx[r*K .. r*K+K-1]
and addresses I contiguous elements of the data (flat, row-major):

    off(r) = base[r] + sum_k wrap(idx[r*K + k], dims[k]) * strides[k]
    wrap(v, d) = v + (v < 0 ? d : 0), after checking -d <= v < d (else QCOMP_ERR_BAD_INPUT)

  gathers:   y[r*I + i] = data[off(r) + i]                              (i < I)
  scatters:  y = data; then for r = 0 .. R-1 in order, i < I:
             y[off(r) + i] = f(y[off(r) + i], updates[r*I + i])          (f: the reduction)

GatherElements / ScatterElements (axis a, indices shape S): R = size(S), K = 1, I = 1,
  base[r] = the offset of r's coordinates in S with coordinate a set to 0, dims = (D[a],),
  strides = (stride_D[a],).
GatherND (batch_dims b, K = S[-1]): R = prod(S[:-1]), I = prod(D[b+K:]),
  base[r] = (r // prod(S[b:-1])) * prod(D[b:]), dims = D[b:b+K], strides = stride_D[b:b+K].
ScatterND: GatherND's with b = 0 (base all 0).
`base` is a constant table of R int32 values (every offset of a tensor fits int32: qcomp refuses
tensors over 2 GiB); `constant_base` says it is all 0 (no table needed).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..ir import Graph, Node
from ..ir.ops_index import GatherElements, GatherND, ScatterElements, ScatterND


@dataclass(frozen=True)
class IndexPlan:
    rows: int
    inner: int
    dims: tuple[int, ...]
    strides: tuple[int, ...]
    base: np.ndarray          # int32[rows]
    scatter: bool
    reduction: str = "none"

    @property
    def k(self) -> int:
        return len(self.dims)

    @property
    def constant_base(self) -> bool:
        return not self.base.any()


def _strides(shape) -> list[int]:
    return [math.prod(shape[d + 1:]) for d in range(len(shape))]


def index_plan(node: Node, graph: Graph) -> IndexPlan:
    op = node.op
    d_shape = tuple(graph.types[node.inputs[0]].shape)
    s_shape = tuple(graph.types[node.inputs[1]].shape)
    strides = _strides(d_shape)
    scatter = isinstance(op, (ScatterElements, ScatterND))
    reduction = getattr(op, "reduction", "none")
    if isinstance(op, (GatherElements, ScatterElements)):
        coords = np.indices(s_shape).reshape(len(s_shape), -1)
        coords[op.axis] = 0
        base = (np.asarray(strides, np.int64)[:, None] * coords).sum(axis=0)
        return IndexPlan(math.prod(s_shape), 1, (d_shape[op.axis],), (strides[op.axis],),
                         base.astype(np.int32), scatter, reduction)
    b = op.batch_dims if isinstance(op, GatherND) else 0
    k = s_shape[-1]
    rows = math.prod(s_shape[:-1])
    per_batch = max(math.prod(s_shape[b:-1]), 1)
    base = (np.arange(rows, dtype=np.int64) // per_batch) * math.prod(d_shape[b:])
    return IndexPlan(rows, math.prod(d_shape[b + k:]), d_shape[b:b + k], tuple(strides[b:b + k]),
                     base.astype(np.int32), scatter, reduction)


INDEX_OPS = (GatherElements, GatherND, ScatterElements, ScatterND)
