"""quantize / dequantize at the model boundary, and saturating casts."""
from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from qcomp import fixedpoint as fp

from .strategies import SETTINGS, clamp_bounds, scales, zero_points

float32s = st.floats(width=32, allow_nan=False, allow_infinity=True)


def _round_half_even(q: Fraction) -> int:
    return round(q)   # Fraction.__round__ rounds half to even


@SETTINGS
@given(float32s, scales(-20, 10), zero_points, clamp_bounds())
def test_quantize_is_float32_division_then_ties_to_even(x, scale, zp, bounds):
    qmin, qmax = bounds
    got = fp.quantize(np.float32(x), scale, zp, qmin, qmax)
    assert got.dtype == np.int8
    with np.errstate(over="ignore"):
        quotient = np.float32(x) / np.float32(scale)           # the spec's single float32 division
    if np.isinf(quotient):
        want = qmax if quotient > 0 else qmin
    else:
        want = min(max(_round_half_even(Fraction(float(quotient))) + zp, qmin), qmax)
    assert int(got) == want


@SETTINGS
@given(st.floats(-1e4, 1e4, width=32), scales(-10, 4), zero_points)
def test_quantize_is_within_half_an_lsb_of_the_real_value(x, scale, zp):
    got = int(fp.quantize(np.float32(x), scale, zp, -(1 << 31), (1 << 31) - 1))
    exact = Fraction(float(np.float32(x))) / Fraction(scale) + zp
    # one float32 division (relative 2^-24) then rint (1/2)
    assert abs(got - exact) <= Fraction(1, 2) + abs(exact - zp) * Fraction(2) ** -24


def test_ties_go_to_even():
    x = np.array([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 3.5], dtype=np.float32)
    assert fp.quantize(x, 1.0, 0).tolist() == [0, 2, 2, 0, -2, -2, 4]
    assert fp.quantize(x, 0.5, 0).tolist() == [1, 3, 5, -1, -3, -5, 7]     # no ties left
    assert fp.quantize(np.float32(0.25), 0.5, -128) == -128                 # 0.5 + zp -> -128 (even)


@pytest.mark.parametrize("x, scale, expected, reciprocal", [
    (-12.149999618530273, 0.10000000149011612, -121, -122),
    (-2.450000047683716, 0.019999999552965164, -123, -122),
    (-1.9570311307907104, 0.0234375, -83, -84),
])
def test_quantize_divides_instead_of_multiplying_by_the_reciprocal(x, scale, expected, reciprocal):
    x, scale = np.float32(x), np.float32(scale)
    assert fp.quantize(x, scale, 0) == expected
    assert np.rint(x * (np.float32(1) / scale)) == reciprocal     # what a reciprocal multiply gives


def test_scale_zero_maps_everything_to_the_zero_point():
    x = np.array([0.0, 1e30, -np.inf, np.inf, 3.0], dtype=np.float32)
    assert fp.quantize(x, 0.0, 5).tolist() == [5] * 5
    assert fp.quantize(x, 0.0, 5, qmin=6, qmax=9).tolist() == [6] * 5


def test_infinities_saturate_and_nan_is_rejected():
    x = np.array([np.inf, -np.inf, 3e38], dtype=np.float32)
    assert fp.quantize(x, 1e-3, 127).tolist() == [127, -128, 127]
    assert fp.quantize(x, 1e-3, -128).tolist() == [127, -128, 127]
    with pytest.raises(fp.FixedPointError, match="1 NaN"):
        fp.quantize(np.array([1.0, np.nan], np.float32), 0.1, 0)


def test_quantize_broadcasts_per_channel_scales_and_chooses_dtype():
    x = np.array([[1.0, 1.0], [-1.0, 2.0]], dtype=np.float32)
    got = fp.quantize(x, np.array([0.5, 0.25], np.float32), np.array([0, 10]))
    assert got.tolist() == [[2, 14], [-2, 18]] and got.dtype == np.int8
    assert fp.quantize(np.float32(300.0), 1.0, 0, 0, 255).dtype == np.uint8
    assert fp.quantize(np.float32(300.0), 1.0, 0, 0, 255) == 255


def test_quantize_rejects_an_output_dtype_too_small_for_the_bounds():
    with pytest.raises(fp.FixedPointError, match="cannot hold"):
        fp.quantize(np.float32(1.0), 1.0, 0, 0, 255, out_dtype=np.int8)
    assert fp.quantize(np.float32(1.0), 1.0, 0, out_dtype=np.int32).dtype == np.int32


@pytest.mark.parametrize("scale", [-1.0, np.inf, np.nan])
def test_quantize_rejects_bad_scales(scale):
    with pytest.raises(ValueError, match="scale"):
        fp.quantize(np.float32(1.0), scale, 0)


@SETTINGS
@given(st.integers(-128, 127), zero_points, scales(-30, 10))
def test_dequantize_is_one_float32_rounding_of_the_exact_product(q, zp, scale):
    got = fp.dequantize(np.int8(q), scale, zp)
    assert got.dtype == np.float32
    # (q - zp) * scale is exact in float64 (9 x 24 bits), so casting it rounds once, like FMUL
    assert got == np.float32(float(q - zp) * scale)


@SETTINGS
@given(st.floats(-100, 100, width=32), scales(-8, 2), zero_points)
def test_round_trip_error_is_at_most_half_a_step_inside_the_range(x, scale, zp):
    q = fp.quantize(np.float32(x), scale, zp)
    if -128 < int(q) < 127:
        err = abs(Fraction(float(fp.dequantize(q, scale, zp))) - Fraction(float(np.float32(x))))
        x_real = abs(Fraction(float(np.float32(x))))
        # rint: half a step (the division's 2^-24 relative error included), then one float32 rounding
        assert err <= Fraction(scale) / 2 * (1 + Fraction(1, 2**23)) + (x_real + scale) * Fraction(1, 2**23)


@pytest.mark.parametrize("dtype, values, expected", [
    (np.int8, [-1000, -129, -128, 0, 127, 128, 1 << 40], [-128, -128, -128, 0, 127, 127, 127]),
    (np.uint8, [-5, 0, 255, 256], [0, 0, 255, 255]),
    (np.int16, [-40000, 40000, -7], [-32768, 32767, -7]),
    (np.int32, [-(1 << 40), (1 << 31), 5], [-(1 << 31), (1 << 31) - 1, 5]),
])
def test_saturate(dtype, values, expected):
    got = fp.saturate(np.array(values, dtype=np.int64), dtype)
    assert got.dtype == dtype and got.tolist() == expected
    assert fp.saturate(values[0], dtype) == expected[0]


def test_saturate_rejects_floats_and_other_dtypes():
    with pytest.raises(ValueError, match="integers"):
        fp.saturate(np.array([1.7]), np.int8)
    with pytest.raises(ValueError, match="int8, uint8, int16 and int32"):
        fp.saturate(np.array([1]), np.int64)
