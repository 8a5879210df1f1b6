"""Reference kernels of the index ops with run-time indices (qcomp/ir/ops_index.py), written from
ONNX's definitions with numpy: any element type (float32, or int8 codes of one quant params).

Every index is checked first: one outside [-d, d) of its axis raises InputError naming the op, the
index and the axis (compiled targets return QCOMP_ERR_BAD_INPUT there). Negative indices count from
the end. Scatters apply their updates one at a time in row-major order of the indices, so repeated
indices combine (add, mul, max, min) or overwrite ("none": the last one wins) in that order.
"""
from __future__ import annotations

import numpy as np

from ..errors import InputError
from ..ir.ops_index import GatherElements, GatherND, ScatterElements, ScatterND

_COMBINE = {"none": lambda old, new: new, "add": np.add, "mul": np.multiply, "max": np.maximum, "min": np.minimum}


def _wrapped(kind: str, idx: np.ndarray, sizes) -> np.ndarray:
    """idx with negative entries counted from the end; sizes broadcasts against idx."""
    idx = idx.astype(np.int64)
    sizes = np.broadcast_to(np.asarray(sizes, np.int64), idx.shape)
    bad = (idx < -sizes) | (idx >= sizes)
    if bad.any():
        k = tuple(np.argwhere(bad)[0])
        raise InputError(f"{kind}: index {int(idx[k])} is out of range for an axis of size {int(sizes[k])} "
                         f"(valid: {-int(sizes[k])} to {int(sizes[k]) - 1}); check the indices given")
    return np.where(idx < 0, idx + sizes, idx)


def _element_coords(op, data: np.ndarray, idx: np.ndarray) -> tuple[np.ndarray, ...]:
    coords = list(np.indices(idx.shape))
    coords[op.axis] = _wrapped(op.kind, idx, data.shape[op.axis])
    return tuple(coords)


def gather_elements(op: GatherElements, data: np.ndarray, idx: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(data[_element_coords(op, data, idx)])


def _nd_rows(kind: str, data: np.ndarray, idx: np.ndarray, b: int):
    """(batch of each row, the K wrapped indices of each row), rows of idx in row-major order."""
    k = idx.shape[-1]
    rows = _wrapped(kind, idx, data.shape[b:b + k]).reshape(-1, k)
    per_batch = int(np.prod(idx.shape[b:-1], dtype=np.int64))
    return np.arange(rows.shape[0]) // max(per_batch, 1), rows


def gather_nd(op: GatherND, data: np.ndarray, idx: np.ndarray) -> np.ndarray:
    b = op.batch_dims
    batch, rows = _nd_rows(op.kind, data, idx, b)
    flat = data.reshape((-1,) + data.shape[b:])
    out = np.stack([flat[(i, *r)] for i, r in zip(batch, rows)]) if rows.size else flat[:0]
    return np.ascontiguousarray(out.reshape(idx.shape[:-1] + data.shape[b + idx.shape[-1]:]))


def scatter_elements(op: ScatterElements, data: np.ndarray, idx: np.ndarray, updates: np.ndarray) -> np.ndarray:
    y, combine = data.copy(), _COMBINE[op.reduction]
    coords = np.stack(_element_coords(op, data, idx), axis=-1).reshape(-1, data.ndim)
    for c, u in zip(coords, updates.reshape(-1)):
        y[tuple(c)] = combine(y[tuple(c)], u)
    return y


def scatter_nd(op: ScatterND, data: np.ndarray, idx: np.ndarray, updates: np.ndarray) -> np.ndarray:
    y, combine = data.copy(), _COMBINE[op.reduction]
    _, rows = _nd_rows(op.kind, data, idx, 0)
    slices = updates.reshape((rows.shape[0],) + data.shape[idx.shape[-1]:])
    for r, u in zip(rows, slices):
        y[tuple(r)] = combine(y[tuple(r)], u)
    return y


TABLE = {GatherElements: gather_elements, GatherND: gather_nd, ScatterElements: scatter_elements,
         ScatterND: scatter_nd}
