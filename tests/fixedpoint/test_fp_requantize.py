"""multiply_by_quantized_multiplier and requantize against exact rationals, ranges and edges."""
from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from qcomp import fixedpoint as fp

from . import slow
from .strategies import INT32_MAX, INT32_MIN, SETTINGS, clamp_bounds, int32s, seeds, zero_points

multipliers = st.one_of(st.integers(1 << 30, INT32_MAX), st.sampled_from([0, 1 << 30, INT32_MAX]))
shifts = st.one_of(st.integers(fp.MIN_SHIFT, fp.MAX_SHIFT), st.sampled_from([fp.MIN_SHIFT, 0, fp.MAX_SHIFT]))


@SETTINGS
@given(int32s, multipliers, shifts)
def test_mbqm_is_the_exact_product_rounded_half_up(acc, multiplier, shift):
    got = fp.multiply_by_quantized_multiplier(acc, multiplier, shift)
    assert got == slow.round_half_up(acc * slow.as_real(multiplier, shift))
    assert isinstance(got, np.int64)


@SETTINGS
@given(int32s, multipliers, shifts, zero_points, clamp_bounds())
def test_requantize_is_exact_round_half_up_plus_zero_point_clamped(acc, multiplier, shift, zp, bounds):
    qmin, qmax = bounds
    exact = slow.round_half_up(acc * slow.as_real(multiplier, shift)) + zp
    got = fp.requantize(acc, multiplier, shift, zp, qmin, qmax)
    assert got == min(max(exact, qmin), qmax) and got.dtype == np.int8


@SETTINGS
@given(int32s, st.floats(1e-9, 1e3), zero_points)
def test_requantize_of_a_real_multiplier_is_within_half_an_lsb(acc, real, zp):
    """Tiny and huge scales: the only errors are the final rounding and the 2^-31 multiplier error."""
    multiplier, shift = fp.quantize_multiplier(real)
    exact = acc * Fraction(real) + zp
    bound = Fraction(1, 2) + abs(acc) * abs(slow.as_real(multiplier, shift) - Fraction(real))
    assert bound <= Fraction(1, 2) + abs(acc * Fraction(real)) * Fraction(2) ** -31 + Fraction(1, 2) ** 32
    got = int(fp.requantize(acc, multiplier, shift, zp, INT32_MIN, INT32_MAX))
    clamped = min(max(exact, INT32_MIN), INT32_MAX)
    assert abs(got - clamped) <= bound


@pytest.mark.parametrize("acc, multiplier, shift, expected", [
    (3, 1 << 30, 0, 2), (-3, 1 << 30, 0, -1),          # 1.5 -> 2, -1.5 -> -1: ties toward +inf
    (5, 1 << 30, 0, 3), (-5, 1 << 30, 0, -2),
    (-1, 1 << 30, 0, 0), (1, 1 << 30, 0, 1),            # +-0.5
    (INT32_MIN, fp.INT32_MAX, 30, -(2**61 - 2**30)),   # total 1: the largest magnitude, int64
    (INT32_MAX, fp.INT32_MAX, 30, (INT32_MAX * fp.INT32_MAX + 1) >> 1),
    (INT32_MIN, fp.INT32_MAX, -31, -1),                 # total 62: -2^31 * (2^31 - 1) / 2^62 = -0.49999...
    (INT32_MIN, 1 << 30, -31, 0),                       # exactly -1/2 -> 0
    (INT32_MAX, fp.INT32_MAX, -31, 1),                  # (2^31 - 1)^2 / 2^62 = 0.99999...
    (INT32_MIN, 0, 0, 0),
])
def test_mbqm_edges(acc, multiplier, shift, expected):
    assert fp.multiply_by_quantized_multiplier(acc, multiplier, shift) == expected


def test_requantize_clamps_in_int64_without_wrapping():
    # the shifted value is 2^61-ish; truncating it to int32 first would wrap to a small number
    assert fp.requantize(INT32_MAX, fp.INT32_MAX, 30, 0) == 127
    assert fp.requantize(INT32_MIN, fp.INT32_MAX, 30, 127) == -128
    assert fp.requantize(1 << 16, 1 << 30, 18, -128, INT32_MIN, INT32_MAX) == INT32_MAX  # 2^33 - 128


@pytest.mark.parametrize("zp, qmin, qmax, acc, expected", [
    (-128, -128, 127, -1000, -128), (-128, -128, 127, 1000, 127), (127, -128, 127, 1, 127),
    (127, -128, 127, -255, -128), (-128, -128, -123, 30, -123),   # ReLU6-like upper bound
])
def test_zero_point_extremes(zp, qmin, qmax, acc, expected):
    assert fp.requantize(acc, 1 << 30, 1, zp, qmin, qmax) == expected   # real multiplier 1.0


@SETTINGS
@given(seeds, st.integers(0, 3))
def test_per_channel_axis_matches_a_loop(seed, axis):
    rng = np.random.default_rng(seed)
    acc = rng.integers(INT32_MIN, INT32_MAX, size=(2, 3, 4, 5), endpoint=True)
    c = acc.shape[axis]
    multiplier = rng.integers(1 << 30, INT32_MAX, size=c, endpoint=True)
    shift = rng.integers(-31, 0, size=c, endpoint=True)
    zp = rng.integers(-128, 127, size=c, endpoint=True)
    got = fp.requantize(acc, multiplier, shift, zp, -128, 127, axis=axis)
    assert got.shape == acc.shape and got.dtype == np.int8
    for ch in range(c):
        sl = np.take(acc, ch, axis=axis)
        want = [slow.requantize(int(v), int(multiplier[ch]), int(shift[ch]), int(zp[ch]), -128, 127)
                for v in sl.ravel()]
        np.testing.assert_array_equal(np.take(got, ch, axis=axis).ravel(), want)
    np.testing.assert_array_equal(got, fp.requantize(acc, multiplier, shift, zp, axis=axis - 4))


@pytest.mark.parametrize("qmin, qmax, dtype", [
    (-128, 127, np.int8), (0, 255, np.uint8), (0, 127, np.int8), (-32768, 32767, np.int16),
    (-200, 100, np.int16), (INT32_MIN, INT32_MAX, np.int32), (0, 256, np.int16),
])
def test_output_dtype_is_the_smallest_that_holds_the_bounds(qmin, qmax, dtype):
    assert fp.requantize(np.array([0, 1]), 1 << 30, 1, 0, qmin, qmax).dtype == dtype


@pytest.mark.parametrize("kwargs, match", [
    (dict(acc=0, multiplier=1 << 30, shift=31), r"shift .* \[-31, 30\]"),     # total 0
    (dict(acc=0, multiplier=1 << 30, shift=-32), r"shift .* \[-31, 30\]"),    # total 63
    (dict(acc=1 << 31, multiplier=1 << 30, shift=0), r"acc must be in"),
    (dict(acc=INT32_MIN - 1, multiplier=1 << 30, shift=0), r"acc must be in"),
    (dict(acc=0, multiplier=-1, shift=0), r"multiplier must be in"),
    (dict(acc=0, multiplier=1 << 31, shift=0), r"multiplier must be in"),
    (dict(acc=1.5, multiplier=1 << 30, shift=0), r"acc must be integers"),
])
def test_mbqm_rejects_out_of_range_parameters(kwargs, match):
    with pytest.raises(fp.FixedPointError, match=match):
        fp.multiply_by_quantized_multiplier(**kwargs)


def test_requantize_rejects_bad_bounds_and_dtypes():
    with pytest.raises(ValueError, match="qmin <= qmax"):
        fp.requantize(0, 1 << 30, 0, 0, 5, 4)
    with pytest.raises(ValueError, match="cannot hold"):
        fp.requantize(0, 1 << 30, 0, 0, -128, 200, out_dtype=np.int8)
    with pytest.raises(ValueError, match="per-channel"):
        fp.requantize(np.zeros((2, 3), np.int32), np.full(3, 1 << 30), np.zeros(3), 0, axis=2)
    with pytest.raises(ValueError, match="zero_point"):
        fp.requantize(0, 1 << 30, 0, 1 << 31)


def test_scalar_and_vector_use_agree():
    acc = np.array([INT32_MIN, -7, 0, 7, INT32_MAX], dtype=np.int32)
    vec = fp.requantize(acc, 1 << 30, -3, 3)
    assert [int(fp.requantize(int(a), 1 << 30, -3, 3)) for a in acc] == vec.tolist()
