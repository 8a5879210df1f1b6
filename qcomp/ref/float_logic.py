"""Float reference kernels of the comparison, logic and selection ops and of the reductions of
qcomp/ir/ops_logic.py, as onnxruntime computes them:

    Compare       numpy ==, >, >=, <, <= (IEEE: NaN compares false; any dtype, int8 included)
    Not, Logical  numpy logical_not / and / or / xor on bool
    Where         numpy.where with broadcasting (any dtype)
    IsNaN, IsInf  numpy.isnan; isinf restricted to the signs asked for
    ReduceSum     in the input's dtype, one element at a time in C order of the reduced elements
    ReduceProd    (the order of every backend; onnxruntime's blocked float sums differ from it by
                  float32 rounding only);  ReduceMin: the minimum, NaN propagating (any dtype)
    ArgMax/ArgMin numpy.argmax / argmin (the first extreme; select_last_index: the last), int64;
                  a NaN counts as the extreme, as numpy (onnxruntime's Eigen argmax does the same)
    CumSum        numpy.cumsum along the axis in the input's dtype, in index order (as onnxruntime);
                  exclusive shifts by one (a leading 0), reverse runs from the end
An empty axes tuple reduces nothing (the frontend turns ONNX's "all axes" into an explicit tuple).
"""
from __future__ import annotations

import numpy as np

from ..ir.ops_logic import (ArgMax, ArgMin, Compare, CumSum, IsInf, IsNaN, Logical, Not, ReduceMin, ReduceProd,
                            ReduceSum, Where)

_COMPARE = {"eq": np.equal, "gt": np.greater, "ge": np.greater_equal, "lt": np.less, "le": np.less_equal}
_LOGICAL = {"and": np.logical_and, "or": np.logical_or, "xor": np.logical_xor}


def compare(op: Compare, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.asarray(_COMPARE[op.mode](a, b), dtype=np.bool_)


def is_inf(op: IsInf, x: np.ndarray) -> np.ndarray:
    return (op.detect_positive & (x == np.inf)) | (op.detect_negative & (x == -np.inf))


def _reduce(ufunc):
    """Reduce `axes` with `ufunc` one element at a time, in C order of the reduced elements
    (acc = x_0, acc = acc OP x_1, ...): the order every backend uses, so float sums and products
    are bit-exact across backends (numpy's pairwise sum would round differently)."""
    def kernel(op, x: np.ndarray) -> np.ndarray:
        if not op.axes:
            return x.copy()
        keep = [a for a in range(x.ndim) if a not in op.axes]
        rows = np.transpose(x, keep + list(op.axes)).reshape(-1, int(np.prod([x.shape[a] for a in op.axes])))
        acc = rows[:, 0].copy()
        for j in range(1, rows.shape[1]):
            acc = ufunc(acc, rows[:, j]).astype(x.dtype, copy=False)
        shape = tuple(1 if a in op.axes else d for a, d in enumerate(x.shape)) if op.keepdims \
            else tuple(x.shape[a] for a in keep)
        return acc.reshape(shape)
    return kernel


def arg_reduce(op: ArgMax | ArgMin, x: np.ndarray) -> np.ndarray:
    fn = np.argmax if isinstance(op, ArgMax) else np.argmin
    if op.select_last_index:
        flipped = np.flip(x, axis=op.axis)
        idx = x.shape[op.axis] - 1 - fn(flipped, axis=op.axis)
    else:
        idx = fn(x, axis=op.axis)
    idx = idx.astype(np.int64)
    return np.expand_dims(idx, op.axis) if op.keepdims else idx


def cumsum(op: CumSum, x: np.ndarray) -> np.ndarray:
    v = np.flip(x, op.axis) if op.reverse else x
    y = np.cumsum(v, axis=op.axis, dtype=x.dtype)
    if op.exclusive:   # y[i] = y_inclusive[i - 1], y[0] = 0
        shifted = np.zeros_like(y)
        dst, src = [slice(None)] * x.ndim, [slice(None)] * x.ndim
        dst[op.axis], src[op.axis] = slice(1, None), slice(0, -1)
        shifted[tuple(dst)] = y[tuple(src)]
        y = shifted
    return np.ascontiguousarray(np.flip(y, op.axis) if op.reverse else y)


TABLE = {
    Compare: compare, Not: lambda op, x: np.logical_not(x),
    Logical: lambda op, a, b: _LOGICAL[op.mode](a, b), Where: lambda op, c, x, y: np.where(c, x, y),
    IsNaN: lambda op, x: np.isnan(x), IsInf: is_inf,
    ReduceSum: _reduce(np.add), ReduceProd: _reduce(np.multiply), ReduceMin: _reduce(np.minimum),
    ArgMax: arg_reduce, ArgMin: arg_reduce, CumSum: cumsum,
}
