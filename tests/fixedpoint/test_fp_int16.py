"""A16W8 (qcomp/fixedpoint/int16.py, accumulator.py): exact rationals, error bounds, widths and refusals."""
from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from qcomp import fixedpoint as fp

from . import bigint_ref, slow
from .strategies import INT32_MAX, SETTINGS, scales

ACC64 = (1 << 47) - 1
acc64s = st.one_of(st.integers(-ACC64, ACC64), st.sampled_from([-ACC64, ACC64, -1, 0, 1, 1 << 31, -(1 << 31) - 1]))
multipliers = st.one_of(st.integers(1 << 30, INT32_MAX),
                        st.sampled_from([0, 1 << 30, 0x7FFF0000, 0x7FFF8000, INT32_MAX]))
shifts64 = st.one_of(st.integers(-31, fp.MAX_SHIFT_64), st.sampled_from([-31, 0, fp.MAX_SHIFT_64]))
int16s = st.one_of(st.integers(fp.INT16_MIN, fp.INT16_MAX),
                   st.sampled_from([fp.INT16_MIN, fp.INT16_MAX, -1, 0, 1]))


@SETTINGS
@given(acc64s, multipliers, shifts64)
def test_mbqm64_is_the_reduced_product_rounded_half_up(acc, multiplier, shift):
    reduced = min((multiplier + (1 << 15)) >> 16, (1 << 15) - 1)
    got = fp.multiply_by_quantized_multiplier_64(acc, multiplier, shift)
    assert got == slow.round_half_up(Fraction(acc * reduced) * Fraction(2) ** (shift - 15))
    exact = acc * slow.as_real(multiplier, shift)          # the reduced multiplier's error: <= 2^-15 relative
    assert abs(got - exact) <= Fraction(1, 2) + abs(exact) * Fraction(2) ** -15 + Fraction(1, 2) ** 20


@SETTINGS
@given(st.integers(-(1 << 31), INT32_MAX), st.integers(1 << 30, INT32_MAX), st.integers(-31, 14))
def test_the_two_widths_differ_only_by_the_reduced_multiplier(acc, multiplier, shift):
    """On an int32-sized accumulator both formulas are within 1 + |acc M| 2^-15 of each other."""
    a = fp.multiply_by_quantized_multiplier(acc, multiplier, shift)
    b = fp.multiply_by_quantized_multiplier_64(acc, multiplier, shift)
    exact = acc * slow.as_real(multiplier, shift)
    assert abs(int(a) - int(b)) <= 1 + abs(exact) * Fraction(2) ** -15


@pytest.mark.parametrize("k, bias_abs, bits", [
    (1, 0, 32), (511, 0, 32), (511, (1 << 31) - 1 - 511 * (1 << 22), 32),
    (511, (1 << 31) - 511 * (1 << 22), 64), (512, 0, 64),
    ((1 << 25) - 1, (1 << 22) - 1, 64), (1 << 25, 0, None), (0, 0, 32),
])
def test_accumulator16_bits_at_the_boundaries(k, bias_abs, bits):
    assert bigint_ref.acc_bits(k, bias_abs) == bits
    if bits is None:
        with pytest.raises(fp.FixedPointError, match="2\\^47"):
            fp.accumulator16_bits(k, bias_abs)
    else:
        assert fp.accumulator16_bits(k, bias_abs) == bits
    assert fp.max_abs_accumulator16(k, bias_abs) == k * 32768 * 128 + bias_abs


def test_the_accumulator_bound_is_reached_by_a_real_dot_product(rng):
    """The worst case x = -32768, w = -128 reaches K * 2^22 exactly: the bound is tight."""
    for k in (511, 512):
        acc = int(np.sum(np.full(k, -32768, np.int64) * np.full(k, -128, np.int64)))
        assert acc == fp.max_abs_accumulator16(k)
        assert (acc <= INT32_MAX) == (fp.accumulator16_bits(k) == 32)


def test_requantize_acc_picks_the_formula_by_width():
    acc, m, e = 3 * (1 << 20) + 1, (1 << 30) + (1 << 15) - 1, -20     # the reduced multiplier rounds
    assert fp.requantize_acc(acc, m, e, 32) == fp.requantize(acc, m, e, 0, -32768, 32767)
    assert fp.requantize_acc(acc, m, e, 64) == fp.requantize64(acc, m, e)
    with pytest.raises(fp.FixedPointError, match="acc_bits"):
        fp.requantize_acc(acc, m, e, 48)


def test_requantize64_per_channel_and_dtypes():
    acc = np.array([[1 << 40, -(1 << 40)], [12345, -12345]], dtype=np.int64)
    m, s = fp.quantize_multipliers(np.array([2.0**-30, 2.0**-2]))
    got = fp.requantize64(acc, m, s, 0, axis=1)
    assert got.dtype == np.int16
    np.testing.assert_array_equal(got, [[1024, -32768], [0, -3086]])   # 2^40 / 4 saturates
    got8 = fp.requantize64(acc, m, s, -3, -128, 127, axis=1)
    assert got8.dtype == np.int8 and got8.tolist() == [[127, -128], [-3, -128]]


@pytest.mark.parametrize("call, match", [
    (lambda: fp.multiply_by_quantized_multiplier_64(1 << 47, 1 << 30, 0), "2\\^47"),
    (lambda: fp.multiply_by_quantized_multiplier_64(1, 1 << 30, 15), "total shift 15 - shift"),
    (lambda: fp.multiply_by_quantized_multiplier_64(1.5, 1 << 30, 0), "integers"),
    (lambda: fp.requantize64(0, 1 << 30, 0, zero_point=1 << 20), "zero_point"),
    (lambda: fp.convert_params(0.1, 3, np.int16, 0.1, 0, np.int8), "must be 0 for an int16"),
    (lambda: fp.convert_params(0.1, 0, np.int32, 0.1, 0, np.int8), "int8 or int16"),
    (lambda: fp.convert_params(0.1, 0, np.int8, 0.1, 0, np.int8, -200, 100), "exceed"),
    (lambda: fp.convert(40000, fp.convert_params(0.1, 0, np.int16, 0.1, 0, np.int16)), "int8 or int16"),
    (lambda: fp.add_int16(1, 2, fp.add_params(0.1, 0, 0.1, 0, 0.1, 0)), "left_shift 15"),
    (lambda: fp.mul_int16(1, 2, fp.mul_params(0.1, 1, 0.1, 0, 0.1, 0)), "zero points 0"),
    (lambda: fp.add_params16(0.1, 0.1, 0.1, -40000, 0), "int16 clamp bounds"),
    (lambda: fp.mul_int16(1 << 15, 1, fp.mul_params16(0.1, 0.1, 0.1)), "a \\(int16\\)"),
    (lambda: fp.int16_scale(1.0, -1.0), "lo <= hi"),
])
def test_out_of_range_arguments_raise_one_clear_error(call, match):
    with pytest.raises(fp.FixedPointError, match=match):
        call()


# ---- conversions -------------------------------------------------------------------------------------

def test_int16_scale_is_symmetric_over_32767():
    assert fp.int16_scale(-2.0, 1.0) == np.float32(2.0 / 32767)
    assert fp.int16_scale(0.0, 0.0) == 0
    assert fp.quantize(2.0, fp.int16_scale(-2.0, 1.0), 0, -32768, 32767) == 32767


def test_int8_to_int16_at_equal_scale_is_exact():
    x = np.arange(-128, 128)
    for zp in (-128, -5, 0, 127):
        p = fp.convert_params(0.02, zp, np.int8, 0.02, 0, np.int16)
        assert (p.multiplier, p.shift) == (1 << 30, 1)
        got = fp.convert(x, p)
        assert got.dtype == np.int16
        np.testing.assert_array_equal(got, x - zp)


@SETTINGS
@given(int16s, scales(-16, -6), st.integers(6, 9), st.integers(-128, 127))
def test_int16_to_int8_is_the_exact_ratio_rounded_half_up(x, s_in, log2_ratio, zp_out):
    s_out = float(np.float32(s_in * 2.0**log2_ratio * 1.3))
    p = fp.convert_params(s_in, 0, np.int16, s_out, zp_out, np.int8)
    got = int(fp.convert(x, p))
    exact = x * slow.as_real(p.multiplier, p.shift)
    assert got == min(max(slow.round_half_up(exact) + zp_out, -128), 127)
    if -128 < got < 127:
        assert abs(got - zp_out - x * Fraction(s_in) / Fraction(s_out)) <= Fraction(1, 2) + Fraction(1, 2**17)


def test_a_round_trip_through_int16_loses_nothing():
    """int8 -> int16 (128 times finer) -> int8 gives back every int8 value."""
    x = np.arange(-128, 128)
    up = fp.convert(x, fp.convert_params(0.05, 7, np.int8, 0.05 / 128, 0, np.int16))
    assert up.dtype == np.int16 and up.min() == -135 * 128 and up.max() == 120 * 128
    down = fp.convert(up, fp.convert_params(0.05 / 128, 0, np.int16, 0.05, 7, np.int8))
    np.testing.assert_array_equal(down, x)


# ---- Add / Mul -------------------------------------------------------------------------------------

@SETTINGS
@given(int16s, int16s, scales(-16, -4), scales(-16, -4), scales(-14, -2), st.sampled_from([1, -1]))
def test_add_int16_is_close_to_the_exact_sum(a, b, s_a, s_b, s_out, sign):
    p = fp.add_params16(s_a, s_b, s_out)
    kernel = fp.add_int16 if sign == 1 else fp.sub_int16
    got = int(kernel(a, b, p))
    assert got == bigint_ref.add16(a, b, bigint_ref.add16_params(s_a, s_b, s_out), -32768, 32767, sign)
    exact = (Fraction(s_a) * a + sign * Fraction(s_b) * b) / Fraction(s_out)
    unit = Fraction(2) ** -15 * 2 * max(Fraction(s_a), Fraction(s_b)) / Fraction(s_out)
    bound = Fraction(1, 2) + Fraction(5, 4) * unit + abs(exact) * Fraction(2) ** -30
    assert abs(got - min(max(exact, -32768), 32767)) <= bound


@SETTINGS
@given(int16s, int16s, scales(-12, -4), scales(-12, -4), st.integers(10, 16))
def test_mul_int16_is_the_exact_product_rounded_once(a, b, s_a, s_b, headroom):
    s_out = float(np.float32(s_a * s_b * 2.0**headroom))
    p = fp.mul_params16(s_a, s_b, s_out)
    got = int(fp.mul_int16(a, b, p))
    exact = a * b * slow.as_real(p.multiplier, p.shift)
    assert got == min(max(slow.round_half_up(exact), -32768), 32767)


def test_add_int16_broadcasts_and_keeps_int16():
    p = fp.add_params16(0.001, 0.002, 0.004)
    got = fp.add_int16(np.array([[-32768], [32767]]), np.array([-32768, 0, 32767]), p)
    assert got.dtype == np.int16 and got.shape == (2, 3)
    np.testing.assert_array_equal(got, [[-24576, -8192, 8192], [-8192, 8192, 24575]])   # 24575.25
