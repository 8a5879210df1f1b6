"""naive.py's comparison, selection and index kernels: Min, Max, Compare, Not / And / Or / Xor,
Where, ArgMax / ArgMin, ReduceMin, Gather, TopK, IntLut, GatherElements, GatherND,
ScatterElements, ScatterND, each written from its op's docstring on the integer codes.

These ops compute no rescale: on codes that share quant params they are exact on the integers
(min, max and comparisons are monotonic in q = rint(x / s) + zp), and the index ops only move
values (negative indices wrap by + d, as ONNX says). Independent of qcomp.ref (like naive.py).
"""
from __future__ import annotations

import itertools

import numpy as np

from qcomp.ir import Graph, Node, ops


def minimum(g: Graph, node: Node, a, b):
    """Min of int8 values that share the output's quant params: the smaller integer."""
    return np.minimum(a, b)


def maximum(g: Graph, node: Node, a, b):
    return np.maximum(a, b)


def compare(g: Graph, node: Node, a, b):
    """Compare of int8 codes sharing quant params (or a code against a threshold code): the integers."""
    fn = {"eq": np.equal, "gt": np.greater, "ge": np.greater_equal, "lt": np.less, "le": np.less_equal}
    return fn[node.op.mode](a.astype(np.int64), b.astype(np.int64))


def logical(g: Graph, node: Node, a, b=None):
    """Not, And, Or, Xor on bools."""
    if isinstance(node.op, ops.Not):
        return ~a.astype(bool)
    return {"and": np.logical_and, "or": np.logical_or, "xor": np.logical_xor}[node.op.mode](a, b)


def where(g: Graph, node: Node, cond, a, b):
    return np.where(cond, a, b)


def arg_extreme(g: Graph, node: Node, x):
    """The index of the first (select_last_index: last) largest (ArgMax) or smallest code along the axis."""
    op = node.op
    moved = np.moveaxis(x.astype(np.int64), op.axis, -1)
    out = np.zeros(moved.shape[:-1], np.int64)
    for pos in itertools.product(*(range(d) for d in moved.shape[:-1])):
        row = moved[pos].tolist()
        best = max(row) if isinstance(op, ops.ArgMax) else min(row)
        hits = [i for i, v in enumerate(row) if v == best]
        out[pos] = hits[-1] if op.select_last_index else hits[0]
    return np.expand_dims(out, op.axis) if op.keepdims else out


def reduce_min(g: Graph, node: Node, x):
    return np.min(x, axis=node.op.axes, keepdims=node.op.keepdims) if node.op.axes else x
def gather(g: Graph, node: Node, x, idx):
    """y[outer, i..., inner] = x[outer, idx[i...] (+ d if negative), inner] along the op's axis."""
    axis = node.op.axis
    d = x.shape[axis]
    flat = [int(i) + d if i < 0 else int(i) for i in idx.reshape(-1)]
    moved = np.moveaxis(x, axis, 0)
    picked = np.stack([moved[i] for i in flat])                 # (len(flat), other axes...)
    out = np.moveaxis(picked, 0, axis)
    return out.reshape(x.shape[:axis] + idx.shape + x.shape[axis + 1:]).copy()


def top_k(g: Graph, node: Node, x):
    """Each row along the axis sorted by value (descending if largest, else ascending), equal values by
    position; the first k of them and their positions."""
    op = node.op
    moved = np.moveaxis(x, op.axis, -1)
    values, indices = np.empty(moved.shape[:-1] + (op.k,), x.dtype), np.empty(moved.shape[:-1] + (op.k,), np.int64)
    for pos in np.ndindex(moved.shape[:-1]):
        row = [(int(v), i) for i, v in enumerate(moved[pos])]
        ranked = sorted(row, key=lambda p: ((-p[0] if op.largest else p[0]), p[1]))[:op.k]
        values[pos] = [v for v, _ in ranked]
        indices[pos] = [i for _, i in ranked]
    return [np.moveaxis(values, -1, op.axis).copy(), np.moveaxis(indices, -1, op.axis).copy()]


def int_lut(g: Graph, node: Node, x, table):
    """y = table[clamp(x, low, low + n - 1) - low], element by element."""
    low, n = node.op.low, len(table)
    out = [table[min(max(int(v), low), low + n - 1) - low] for v in x.reshape(-1)]
    return np.array(out, dtype=np.int8).reshape(x.shape)


def _wrap(v, d: int) -> int:
    v = int(v)
    assert -d <= v < d, f"index {v} outside axis of size {d}"
    return v + d if v < 0 else v


def gather_elements(g: Graph, node: Node, x, idx):
    out = np.empty(idx.shape, x.dtype)
    for c in np.ndindex(idx.shape):
        src = list(c)
        src[node.op.axis] = _wrap(idx[c], x.shape[node.op.axis])
        out[c] = x[tuple(src)]
    return out


def gather_nd(g: Graph, node: Node, x, idx):
    b, k = node.op.batch_dims, idx.shape[-1]
    out = np.empty(idx.shape[:-1] + x.shape[b + k:], x.dtype)
    for c in np.ndindex(idx.shape[:-1]):
        at = tuple(c[:b]) + tuple(_wrap(v, x.shape[b + j]) for j, v in enumerate(idx[c]))
        out[c] = x[at]
    return out


def _combine(reduction: str, old, new):
    return {"none": new, "max": max(int(old), int(new)), "min": min(int(old), int(new))}[reduction]


def scatter_elements(g: Graph, node: Node, x, idx, updates):
    y = x.copy()
    for c in np.ndindex(idx.shape):
        dst = list(c)
        dst[node.op.axis] = _wrap(idx[c], x.shape[node.op.axis])
        y[tuple(dst)] = _combine(node.op.reduction, y[tuple(dst)], updates[c])
    return y


def scatter_nd(g: Graph, node: Node, x, idx, updates):
    y, k = x.copy(), idx.shape[-1]
    for c in np.ndindex(idx.shape[:-1]):
        at = tuple(_wrap(v, x.shape[j]) for j, v in enumerate(idx[c]))
        for inner in np.ndindex(x.shape[k:]):
            y[at + inner] = _combine(node.op.reduction, y[at + inner], updates[c + inner])
    return y
