"""Concat, Reshape, Transpose, Pad, Slice, Split and Gather, against element-by-element indexing."""
from __future__ import annotations

import numpy as np
import pytest

from qcomp.errors import InputError
from qcomp.ir import ops

from .util import run1, run_op


def test_concat_along_each_axis(rng):
    a = rng.normal(size=(2, 3, 4)).astype(np.float32)
    b = rng.normal(size=(2, 5, 4)).astype(np.float32)
    y = run1(ops.Concat(axis=1), a, b, a)
    assert y.shape == (2, 11, 4)
    for i, j, k in np.ndindex(y.shape):
        src = a[i, j, k] if j < 3 else b[i, j - 3, k] if j < 8 else a[i, j - 8, k]
        assert y[i, j, k] == src


def test_reshape_is_row_major_and_transpose_permutes(rng):
    x = rng.normal(size=(2, 3, 4)).astype(np.float32)
    flat = list(x.reshape(-1))
    y = run1(ops.Reshape(shape=(4, 6)), x)
    assert [y[i, j] for i in range(4) for j in range(6)] == flat
    t = run1(ops.Transpose(perm=(2, 0, 1)), x)
    assert t.shape == (4, 2, 3) and t.flags.c_contiguous
    for i, j, k in np.ndindex(x.shape):
        assert t[k, i, j] == x[i, j, k]


def test_pad_modes():
    x = np.array([[1, 2, 3], [4, 5, 6]], np.float32)
    pads = (1, 2, 0, 1)  # begin axis 0, begin axis 1, end axis 0, end axis 1
    const = run1(ops.Pad(pads=pads, mode="constant", value=-1.5), x)
    np.testing.assert_array_equal(const, [[-1.5] * 6, [-1.5, -1.5, 1, 2, 3, -1.5], [-1.5, -1.5, 4, 5, 6, -1.5]])
    reflect = run1(ops.Pad(pads=pads, mode="reflect"), x)
    np.testing.assert_array_equal(reflect, [[6, 5, 4, 5, 6, 5], [3, 2, 1, 2, 3, 2], [6, 5, 4, 5, 6, 5]])
    edge = run1(ops.Pad(pads=pads, mode="edge"), x)
    np.testing.assert_array_equal(edge, [[1, 1, 1, 2, 3, 3], [1, 1, 1, 2, 3, 3], [4, 4, 4, 5, 6, 6]])


def test_pad_int8_with_a_constant():
    y = run1(ops.Pad(pads=(1, 0), mode="constant", value=-128.0), np.array([7], np.int8))
    assert y.dtype == np.int8 and y.tolist() == [-128, 7]


@pytest.mark.parametrize("starts,ends,steps", [
    ((0, 1, 0), (2, 4, 5), (1, 2, 1)),
    ((1, -1, 4), (None, None, None), (1, -1, -2)),   # negative steps run to the start
    ((5, -10, 2), (0, 10, -100), (-1, 1, -1)),       # out-of-range bounds clamp, empty is allowed
])
def test_slice_python_semantics(starts, ends, steps, rng):
    x = rng.normal(size=(3, 4, 5)).astype(np.float32)
    y = run1(ops.Slice(starts=starts, ends=ends, steps=steps), x)
    ranges = [list(range(*slice(s, e, st).indices(d))) for d, s, e, st in zip(x.shape, starts, ends, steps)]
    assert y.shape == tuple(len(r) for r in ranges)
    for out in np.ndindex(y.shape):
        assert y[out] == x[tuple(r[i] for r, i in zip(ranges, out))]


def test_split_into_sizes(rng):
    x = rng.normal(size=(2, 9, 3)).astype(np.float32)
    parts = run_op(ops.Split(axis=1, sizes=(2, 4, 3)), [x])
    assert [p.shape for p in parts] == [(2, 2, 3), (2, 4, 3), (2, 3, 3)]
    np.testing.assert_array_equal(np.concatenate(parts, axis=1), x)
    np.testing.assert_array_equal(parts[1], x[:, 2:6])


def test_gather_rows_with_negative_indices(rng):
    table = rng.normal(size=(10, 4)).astype(np.float32)
    ids = np.array([[3, -1], [0, 9]], np.int64)
    y = run1(ops.Gather(axis=0), table, ids, const=(0,))
    assert y.shape == (2, 2, 4)
    for i, j in np.ndindex(ids.shape):
        np.testing.assert_array_equal(y[i, j], table[ids[i, j] % 10])
    cols = run1(ops.Gather(axis=1), table, np.array([2, 0], np.int32), const=(0,))
    np.testing.assert_array_equal(cols, table[:, [2, 0]])


def test_gather_index_out_of_range_names_node_and_index():
    table = np.zeros((10, 4), np.float32)
    with pytest.raises(InputError, match=r"node 'node' \(Gather\): index 10 is out of range .* size 10"):
        run1(ops.Gather(axis=0), table, np.array([1, 10], np.int64), const=(0,))
