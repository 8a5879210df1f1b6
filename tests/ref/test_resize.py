"""Resize against a per-element implementation of the ONNX formulas (tests/ref/naive.py)."""
from __future__ import annotations

import math

import numpy as np
import pytest

from qcomp.ir import ops

from . import naive
from .util import close, run1

# (name, input shape, output sizes, mode, coordinate_transformation_mode, nearest_mode); the scale of
# each axis is out / in, and every scale is exact in binary so that ties are ties in float32 too
CASES = [
    ("nearest_half_pixel_x2", (1, 5, 7, 3), (1, 10, 14, 3), "nearest", "half_pixel", "round_prefer_floor"),
    ("nearest_ties_prefer_floor", (1, 8, 8, 1), (1, 4, 4, 1), "nearest", "half_pixel", "round_prefer_floor"),
    ("nearest_ties_prefer_ceil", (1, 8, 8, 1), (1, 4, 4, 1), "nearest", "half_pixel", "round_prefer_ceil"),
    ("nearest_asymmetric_floor_x1.5", (1, 4, 6, 2), (1, 6, 9, 2), "nearest", "asymmetric", "floor"),
    ("nearest_asymmetric_ceil_down", (1, 8, 12, 2), (1, 6, 3, 2), "nearest", "asymmetric", "ceil"),
    ("nearest_align_corners", (1, 5, 5, 1), (1, 9, 3, 1), "nearest", "align_corners", "round_prefer_ceil"),
    ("nearest_pytorch_half_pixel", (1, 4, 6, 2), (1, 1, 9, 2), "nearest", "pytorch_half_pixel", "round_prefer_floor"),
    ("linear_half_pixel_x2", (1, 5, 7, 3), (1, 10, 14, 3), "linear", "half_pixel", ""),
    ("linear_half_pixel_down", (1, 8, 6, 13), (1, 4, 3, 13), "linear", "half_pixel", ""),
    ("linear_align_corners", (1, 4, 5, 2), (1, 7, 3, 2), "linear", "align_corners", ""),
    ("linear_asymmetric_x1.5", (1, 4, 4, 1), (1, 6, 6, 1), "linear", "asymmetric", ""),
    ("linear_pytorch_half_pixel", (1, 6, 5, 3), (1, 1, 10, 3), "linear", "pytorch_half_pixel", ""),
    ("trilinear_rank3", (3, 4, 5), (6, 2, 10), "linear", "half_pixel", ""),
]


@pytest.mark.parametrize("name,shape,sizes,mode,ctm,nearest_mode", CASES, ids=[c[0] for c in CASES])
def test_resize_matches_onnx_formulas(name, shape, sizes, mode, ctm, nearest_mode, rng):
    scales = tuple(o / i for o, i in zip(sizes, shape))
    x = rng.normal(size=shape).astype(np.float32)
    op = ops.Resize(sizes=sizes, scales=scales, mode=mode, coordinate_transformation_mode=ctm,
                    nearest_mode=nearest_mode or "round_prefer_floor")
    got = run1(op, x)
    want = naive.resize(x, sizes, scales, mode, ctm, nearest_mode)
    if mode == "nearest":
        np.testing.assert_array_equal(got, want.astype(np.float32))
    else:
        close(got, want)


def test_nearest_tie_breaking_picks_the_documented_neighbour():
    """Downsampling by 2 with half_pixel puts output x at 2x + 0.5: a tie between 2x and 2x + 1."""
    x = np.arange(8, dtype=np.float32).reshape(1, 8)
    kw = dict(sizes=(1, 4), scales=(1.0, 0.5), coordinate_transformation_mode="half_pixel")
    floor = run1(ops.Resize(nearest_mode="round_prefer_floor", **kw), x)
    ceil = run1(ops.Resize(nearest_mode="round_prefer_ceil", **kw), x)
    assert floor.tolist() == [[0, 2, 4, 6]] and ceil.tolist() == [[1, 3, 5, 7]]
    # upsampling by 2 with asymmetric puts output x at x / 2: ties at 0.5, 1.5, 2.5, 3.5 (odd floors too)
    x = np.arange(4, dtype=np.float32).reshape(1, 4)
    kw = dict(sizes=(1, 8), scales=(1.0, 2.0), coordinate_transformation_mode="asymmetric")
    floor = run1(ops.Resize(nearest_mode="round_prefer_floor", **kw), x)
    ceil = run1(ops.Resize(nearest_mode="round_prefer_ceil", **kw), x)
    assert floor.tolist() == [[0, 0, 1, 1, 2, 2, 3, 3]] and ceil.tolist() == [[0, 1, 1, 2, 2, 3, 3, 3]]


def test_nearest_resize_of_integers_moves_values():
    x = np.array([[1, -2, 3]], np.int8)
    y = run1(ops.Resize(sizes=(1, 6), scales=(1.0, 2.0), coordinate_transformation_mode="asymmetric",
                        nearest_mode="floor"), x)
    assert y.dtype == np.int8 and y.tolist() == [[1, 1, -2, -2, 3, 3]]


def test_linear_weights_sum_to_one():
    x = np.full((1, 7, 5, 1), 2.5, np.float32)
    y = run1(ops.Resize(sizes=(1, 11, 13, 1), scales=(1.0, 11 / 7, 13 / 5, 1.0), mode="linear"), x)
    assert np.all(np.abs(y - 2.5) <= 2.5 * 4 * np.finfo(np.float32).eps), float(np.max(np.abs(y - 2.5)))
    assert math.isclose(float(y.mean()), 2.5, rel_tol=1e-6)
