"""Add / Sub / Mul / average pooling / mean: exact against the slow transcription (slow.py), and
within the documented error bound of the exact rational result of the real-number formula."""
from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from qcomp import fixedpoint as fp

from . import slow
from .strategies import SETTINGS, clamp_bounds, scales, seeds, zero_points

HALF = Fraction(1, 2)


def _int8_pairs(seed: int, zp_a: int, zp_b: int) -> tuple[np.ndarray, np.ndarray]:
    """64 random int8 pairs plus the extremes and the zero points."""
    rng = np.random.default_rng(seed)
    edges = np.array([-128, 127, zp_a, zp_b, 0, -1])
    a = np.concatenate([rng.integers(-128, 128, 64), np.repeat(edges, len(edges))])
    b = np.concatenate([rng.integers(-128, 128, 64), np.tile(edges, len(edges))])
    return a.astype(np.int8), b.astype(np.int8)


def _clamp(x: Fraction, qmin: int, qmax: int) -> Fraction:
    return min(max(x, Fraction(qmin)), Fraction(qmax))


# ---- Add / Sub -------------------------------------------------------------------------------

@SETTINGS
@given(scales(-12, 2), zero_points, scales(-12, 2), zero_points, scales(-12, 2), zero_points,
       clamp_bounds(), seeds, st.sampled_from([1, -1]))
def test_add_and_sub(s_a, zp_a, s_b, zp_b, s_out, zp_out, bounds, seed, sign):
    p = fp.add_params(s_a, zp_a, s_b, zp_b, s_out, zp_out, *bounds)
    a, b = _int8_pairs(seed, zp_a, zp_b)
    got = (fp.add_int8 if sign == 1 else fp.sub_int8)(a, b, p)
    assert got.dtype == np.int8 and got.shape == a.shape
    np.testing.assert_array_equal(got, [slow.add(int(x), int(y), p, sign) for x, y in zip(a, b)])
    twice_max = 2 * Fraction(max(s_a, s_b))
    out_real = twice_max / (2**20 * Fraction(s_out))
    # add_int8's documented bound: two input rescales off by <= 5/8 of 2^-20 * twice_max each,
    # the output rounding, and the multiplier errors
    for x, y, o in zip(a.tolist(), b.tolist(), got.tolist()):
        exact_delta = (Fraction(s_a) * (x - zp_a) + sign * Fraction(s_b) * (y - zp_b)) / Fraction(s_out)
        bound = HALF + Fraction(5, 4) * out_real + abs(exact_delta) * Fraction(2) ** -30
        assert abs(o - _clamp(exact_delta + zp_out, *bounds)) <= bound, (x, y, o)
        assert bound < 1   # for these scales (ratios up to 2^14) the result is within 1 LSB


def test_add_params_follow_tflite():
    p = fp.add_params(0.5, 3, 0.25, -4, 0.125, 7, -100, 100)
    assert (p.a_multiplier, p.a_shift) == (1 << 30, 0)       # 0.5 / (2 * 0.5) = 1/2
    assert (p.b_multiplier, p.b_shift) == (1 << 30, -1)      # 0.25 / 1 = 1/4
    assert (p.out_multiplier, p.out_shift) == (1 << 30, -16)  # 1 / (2^20 * 0.125) = 2^-17
    assert (p.a_zero_point, p.b_zero_point, p.out_zero_point, p.left_shift) == (3, -4, 7, 20)
    assert (p.qmin, p.qmax) == (-100, 100)


def test_add_broadcasts_and_handles_zero_scales():
    p = fp.add_params(0.1, 0, 0.1, 0, 0.2, 0)
    a = np.arange(-2, 2, dtype=np.int8).reshape(4, 1)
    b = np.arange(-2, 3, dtype=np.int8).reshape(1, 5)
    np.testing.assert_array_equal(fp.add_int8(a, b, p), slow_grid(a, b, p))
    zero = fp.add_params(0.0, 3, 0.0, 4, 0.1, -7)
    assert fp.add_int8(np.int8(100), np.int8(-100), zero) == -7
    assert fp.sub_int8(np.int8(100), np.int8(-100), fp.add_params(0.1, 0, 0.1, 0, 0.0, 9)) == 9


def slow_grid(a, b, p):
    aa, bb = np.broadcast_arrays(a, b)
    return np.array([slow.add(int(x), int(y), p) for x, y in zip(aa.ravel(), bb.ravel())]).reshape(aa.shape)


def test_add_extreme_scale_ratio_still_fits_int32():
    # the larger input at 2^20 times the smaller: the small one contributes only its rounding
    p = fp.add_params(2.0**10, -128, 2.0**-10, 127, 2.0**10, 0)
    a, b = _int8_pairs(0, -128, 127)
    np.testing.assert_array_equal(fp.add_int8(a, b, p), [slow.add(int(x), int(y), p) for x, y in zip(a, b)])


# ---- Mul -------------------------------------------------------------------------------------

@SETTINGS
@given(scales(-20, 6), zero_points, scales(-20, 6), zero_points, scales(-20, 6), zero_points,
       clamp_bounds(), seeds)
def test_mul(s_a, zp_a, s_b, zp_b, s_out, zp_out, bounds, seed):
    p = fp.mul_params(s_a, zp_a, s_b, zp_b, s_out, zp_out, *bounds)
    a, b = _int8_pairs(seed, zp_a, zp_b)
    got = fp.mul_int8(a, b, p)
    np.testing.assert_array_equal(got, [slow.mul(int(x), int(y), p) for x, y in zip(a, b)])
    real = Fraction(s_a) * Fraction(s_b) / Fraction(s_out)
    err = abs(slow.as_real(p.multiplier, p.shift) - real)
    assert err <= real * Fraction(2) ** -30 or real < Fraction(2) ** -32
    for x, y, o in zip(a.tolist(), b.tolist(), got.tolist()):
        acc = (x - zp_a) * (y - zp_b)
        assert abs(o - _clamp(acc * real + zp_out, *bounds)) <= HALF + abs(acc) * err


def test_mul_zero_output_scale_is_the_zero_point():
    assert fp.mul_int8(np.int8(5), np.int8(5), fp.mul_params(1.0, 0, 1.0, 0, 0.0, -3)) == -3


# ---- average pooling and mean ------------------------------------------------------------------

def _windows(seed: int, count: int, n: int = 48) -> np.ndarray:
    """n random window sums of `count` int8 values; the first and last are the extreme sums."""
    rng = np.random.default_rng(seed)
    x = rng.integers(-128, 128, size=(n, count))
    x[0], x[-1] = -128, 127
    return x.sum(axis=1)


@SETTINGS
@given(scales(-12, 2), zero_points, scales(-12, 2), zero_points, st.integers(1, 64), clamp_bounds(), seeds)
def test_avgpool(s_in, zp_in, s_out, zp_out, max_count, bounds, seed):
    p = fp.avgpool_params(s_in, zp_in, s_out, zp_out, max_count, *bounds)
    rng = np.random.default_rng(seed)
    counts = rng.integers(1, max_count + 1, size=32)
    counts[0] = max_count
    sums = np.array([rng.integers(-128, 128, size=int(c)).sum() for c in counts])
    sums[0], sums[1] = -128 * counts[0], 127 * counts[1]
    got = fp.avg_int8(sums, counts, p)
    np.testing.assert_array_equal(got, [slow.avg(int(s), int(c), p) for s, c in zip(sums, counts)])
    for s, c, o in zip(sums.tolist(), counts.tolist(), got.tolist()):
        real = Fraction(s_in) / (Fraction(s_out) * c)
        exact = (s - c * zp_in) * real + zp_out
        assert abs(o - _clamp(exact, *bounds)) <= HALF + abs(exact - zp_out) * Fraction(2) ** -30


@SETTINGS
@given(scales(-12, 2), zero_points, scales(-12, 2), zero_points,
       st.sampled_from([1, 2, 4, 7, 49, 64, 3136]), clamp_bounds(), seeds)
def test_mean(s_in, zp_in, s_out, zp_out, count, bounds, seed):
    p = fp.mean_params(s_in, zp_in, s_out, zp_out, count, *bounds)
    sums = _windows(seed, count)
    got = fp.mean_int8(sums, count, p)
    np.testing.assert_array_equal(got, [slow.mean(int(s), p) for s in sums])
    for s, o in zip(sums.tolist(), got.tolist()):
        exact = (s - count * zp_in) * Fraction(s_in) / (Fraction(s_out) * count) + zp_out
        assert abs(o - _clamp(exact, *bounds)) <= HALF + abs(exact - zp_out) * Fraction(2) ** -30


def test_mean_equals_avgpool_of_the_same_count():
    mp = fp.mean_params(0.02, -5, 0.03, 4, 49)
    ap = fp.avgpool_params(0.02, -5, 0.03, 4, 49)
    sums = _windows(1, 49)
    np.testing.assert_array_equal(fp.mean_int8(sums, 49, mp), fp.avg_int8(sums, 49, ap))


def test_average_of_equal_values_is_that_value():
    # same quantization in and out: the average of `count` copies of q is q for every q and count
    p = fp.avgpool_params(0.05, -3, 0.05, -3, 9)
    q = np.arange(-128, 128)
    for count in range(1, 10):
        np.testing.assert_array_equal(fp.avg_int8(q * count, count, p), q)


def test_avgpool_ties_with_an_exact_multiplier_go_toward_plus_infinity():
    p = fp.avgpool_params(1.0, 0, 1.0, 0, 4)       # count 2 and 4: exact power-of-two multipliers
    assert fp.avg_int8(np.array([1, -1, 3, -3, 2, -2]), np.array([2, 2, 2, 2, 4, 4]), p).tolist() == \
        [1, 0, 2, -1, 1, 0]


@pytest.mark.parametrize("call, match", [
    (lambda: fp.avgpool_params(1.0, 0, 1.0, 0, 0), "window count"),
    (lambda: fp.mean_params(1.0, 0, 1.0, 0, fp.MAX_WINDOW_COUNT + 1), "window count"),
    (lambda: fp.avg_int8(np.array([0]), np.array([5]), fp.avgpool_params(1.0, 0, 1.0, 0, 4)), "count"),
    (lambda: fp.mean_int8(np.array([128 * 4]), 4, fp.mean_params(1.0, 0, 1.0, 0, 4)), "window_sum"),
    (lambda: fp.mean_int8(np.array([0]), 5, fp.mean_params(1.0, 0, 1.0, 0, 4)), "count 5 differs"),
    (lambda: fp.avg_int8(np.array([-129, 0]), np.array([1, 2]), fp.avgpool_params(1.0, 0, 1.0, 0, 4)),
     "window_sum"),
    (lambda: fp.add_int8(np.array([128]), np.array([0]), fp.add_params(1.0, 0, 1.0, 0, 1.0, 0)), "int8"),
    (lambda: fp.mul_int8(np.array([0.5]), np.array([0]), fp.mul_params(1.0, 0, 1.0, 0, 1.0, 0)), "integers"),
    (lambda: fp.add_params(1.0, 200, 1.0, 0, 1.0, 0), "zp_a"),
    (lambda: fp.mul_params(-1.0, 0, 1.0, 0, 1.0, 0), "s_a"),
    (lambda: fp.mean_params(1.0, 0, float("nan"), 0, 4), "s_out"),
])
def test_kernels_reject_out_of_range_parameters(call, match):
    with pytest.raises(fp.FixedPointError, match=match):
        call()
