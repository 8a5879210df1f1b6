"""MaxPool2D, AvgPool2D, ReduceMean and ReduceMax against naive loops (tests/ref/naive.py)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from qcomp.ir import ops

from . import naive
from .util import close, run1


@dataclass(frozen=True)
class PoolCase:
    name: str
    x: tuple[int, int, int, int]
    kernel: tuple[int, int]
    strides: tuple[int, int] = (1, 1)
    pads: tuple[int, int, int, int] = (0, 0, 0, 0)
    dilations: tuple[int, int] = (1, 1)
    ceil_mode: bool = False


POOL_CASES = [
    PoolCase("2x2_s2_c5", (1, 8, 8, 5), (2, 2), (2, 2)),
    PoolCase("3x3_s2_pad1_odd_c13", (2, 13, 11, 13), (3, 3), (2, 2), (1, 1, 1, 1)),
    PoolCase("ceil_mode_odd", (1, 7, 9, 3), (2, 2), (2, 2), ceil_mode=True),
    PoolCase("ceil_mode_overhang_with_pads", (1, 10, 11, 3), (3, 3), (2, 2), (1, 1, 1, 1), ceil_mode=True),
    PoolCase("ceil_mode_asym_pads_s3", (1, 11, 8, 17), (3, 2), (3, 3), (0, 1, 1, 0), ceil_mode=True),
    PoolCase("dilated", (1, 12, 13, 5), (3, 3), (1, 2), (2, 2, 2, 2), dilations=(2, 2)),
    PoolCase("dilated_ceil", (1, 10, 9, 1), (2, 3), (2, 2), (1, 0, 0, 1), dilations=(3, 2), ceil_mode=True),
    PoolCase("asym_kernel_c33", (1, 6, 9, 33), (1, 3), (1, 2), (0, 1, 0, 1)),
    PoolCase("global_window", (1, 5, 7, 3), (5, 7)),
]


@pytest.mark.parametrize("case", POOL_CASES, ids=lambda c: c.name)
def test_max_pool_matches_naive_loops(case: PoolCase, rng):
    x = rng.normal(size=case.x).astype(np.float32) - 3.0  # mostly negative: a zero pad would win
    op = ops.MaxPool2D(kernel=case.kernel, strides=case.strides, pads=case.pads, dilations=case.dilations,
                       ceil_mode=case.ceil_mode)
    want = naive.pool2d(x, "max", case.kernel, case.strides, case.pads, case.dilations, case.ceil_mode)
    np.testing.assert_array_equal(run1(op, x), want.astype(np.float32))


@pytest.mark.parametrize("count_include_pad", [False, True])
@pytest.mark.parametrize("case", POOL_CASES, ids=lambda c: c.name)
def test_avg_pool_matches_naive_loops(case: PoolCase, count_include_pad: bool, rng):
    x = rng.normal(size=case.x).astype(np.float32) + 1.0
    op = ops.AvgPool2D(kernel=case.kernel, strides=case.strides, pads=case.pads, dilations=case.dilations,
                       ceil_mode=case.ceil_mode, count_include_pad=count_include_pad)
    want = naive.pool2d(x, "avg", case.kernel, case.strides, case.pads, case.dilations, case.ceil_mode,
                        count_include_pad)
    close(run1(op, x), want)


def test_avg_pool_count_include_pad_excludes_the_ceil_overhang():
    """H = 4, kernel 3, stride 2, pads 1, ceil_mode: the last window covers rows 3, 4(pad), 5(overhang)."""
    x = np.ones((1, 4, 1, 1), np.float32)
    op = ops.AvgPool2D(kernel=(3, 1), strides=(2, 1), pads=(1, 0, 1, 0), ceil_mode=True, count_include_pad=True)
    y = run1(op, x)[0, :, 0, 0]
    # windows: rows {-1,0,1} -> 2/3; {1,2,3} -> 3/3; {3,4} (5 is overhang) -> 1/2
    np.testing.assert_allclose(y, [2 / 3, 1.0, 1 / 2], rtol=1e-6)


def test_max_pool_of_int8_uses_the_dtype_minimum_as_padding():
    x = np.full((1, 3, 3, 2), -128, np.int8)
    y = run1(ops.MaxPool2D(kernel=(3, 3), pads=(1, 1, 1, 1)), x)
    assert y.dtype == np.int8 and np.all(y == -128)


@pytest.mark.parametrize("axes,keepdims", [((1, 2), True), ((1, 2), False), ((3,), True), ((0, 2, 3), False)])
def test_reduce_mean_and_max(axes, keepdims, rng):
    x = rng.normal(size=(2, 5, 7, 13)).astype(np.float32)
    mean = run1(ops.ReduceMean(axes=axes, keepdims=keepdims), x)
    mx = run1(ops.ReduceMax(axes=axes, keepdims=keepdims), x)
    x64 = x.astype(np.float64)
    count = int(np.prod([x.shape[a] for a in axes]))
    want_sum, want_max = np.zeros(mean.shape), np.full(mx.shape, -np.inf)
    for idx in np.ndindex(x.shape):
        out = tuple(0 if i in axes else v for i, v in enumerate(idx)) if keepdims else \
            tuple(v for i, v in enumerate(idx) if i not in axes)
        want_sum[out] += x64[idx]
        want_max[out] = max(want_max[out], x64[idx])
    close(mean, want_sum / count)
    np.testing.assert_array_equal(mx, want_max.astype(np.float32))


def test_reduce_with_no_axes_is_the_identity(rng):
    x = rng.normal(size=(2, 3)).astype(np.float32)
    np.testing.assert_array_equal(run1(ops.ReduceMean(axes=()), x), x)
