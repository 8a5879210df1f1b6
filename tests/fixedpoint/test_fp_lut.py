"""Lookup tables (build_lut / apply_lut) and the accumulator bound."""
from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from qcomp import fixedpoint as fp

from .strategies import SETTINGS, clamp_bounds, scales, zero_points

FUNCTIONS = {
    "tanh": np.tanh,
    "sigmoid": lambda x: 1.0 / (1.0 + np.exp(-x)),
    "hard_swish": lambda x: x * np.clip(x + 3.0, 0.0, 6.0) / 6.0,
    "leaky_relu": lambda x: np.where(x >= 0, x, 0.5 * x),
    "relu6": lambda x: np.clip(x, 0.0, 6.0),
}


def slow_lut(fn, s_in, zp_in, s_out, zp_out, qmin, qmax) -> list[int]:
    """The spec one entry at a time in Python floats: float64 division, round() ties to even."""
    out = []
    for q in range(-128, 128):
        x = (q - zp_in) * s_in
        y = float(fn(np.array([x]))[0])
        out.append(min(max(round(y / s_out) + zp_out, qmin), qmax))
    return out


@SETTINGS
@given(st.sampled_from(sorted(FUNCTIONS)), scales(-8, 2), zero_points, scales(-8, 2), zero_points, clamp_bounds())
def test_build_lut_matches_the_slow_transcription_and_the_real_function(name, s_in, zp_in, s_out, zp_out,
                                                                        bounds):
    fn = FUNCTIONS[name]
    lut = fp.build_lut(fn, s_in, zp_in, s_out, zp_out, *bounds)
    assert lut.dtype == np.int8 and lut.shape == (256,)
    assert lut.tolist() == slow_lut(fn, s_in, zp_in, s_out, zp_out, *bounds)
    y = fn((np.arange(-128, 128) - zp_in) * s_in)
    for v, yv in zip(lut.tolist(), y.tolist()):
        quotient = Fraction(yv) / Fraction(s_out)
        exact = min(max(quotient + zp_out, Fraction(bounds[0])), Fraction(bounds[1]))
        assert abs(v - exact) <= Fraction(1, 2) + abs(quotient) * Fraction(1, 2**52)   # rint of a float64 quotient


def test_lut_ties_go_to_even():
    lut = fp.build_lut(lambda x: 0.5 * x, 1.0, 0, 1.0, 0)
    q = np.arange(-128, 128)
    assert lut.tolist() == [round(Fraction(int(v), 2)) for v in q]
    assert fp.apply_lut(np.array([1, 3, -1, -3, 5], np.int8), lut).tolist() == [0, 2, 0, -2, 2]


def test_identity_lut_and_apply_lut():
    lut = fp.build_lut(lambda x: x, 0.1, -7, 0.1, -7)
    np.testing.assert_array_equal(lut, np.arange(-128, 128))
    shifted = fp.build_lut(lambda x: x + 1.0, 0.5, 0, 0.5, 0)   # +2 steps, saturating at 127
    q = np.array([[-128, 0], [124, 127]], dtype=np.int8)
    assert fp.apply_lut(q, shifted).tolist() == [[-126, 2], [126, 127]]
    assert fp.apply_lut(np.int8(0), shifted) == 2


def test_lut_infinities_saturate_nan_is_rejected_and_zero_scale_is_constant():
    lut = fp.build_lut(lambda x: np.where(x > 0, np.inf, -np.inf), 1.0, 0, 1.0, 0, -100, 100)
    assert lut[:129].tolist() == [-100] * 129 and lut[129:].tolist() == [100] * 127
    with pytest.raises(fp.FixedPointError, match="NaN at int8 input"):
        fp.build_lut(lambda x: np.where(x > 0, np.nan, x), 1.0, 0, 1.0, 0)
    assert fp.build_lut(np.tanh, 1.0, 0, 0.0, 9).tolist() == [9] * 256


@pytest.mark.parametrize("call, match", [
    (lambda: fp.build_lut(lambda x: x[:10], 1.0, 0, 1.0, 0), "256 outputs"),
    (lambda: fp.build_lut(np.tanh, 1.0, 0, 1.0, 0, -129, 127), "qmin <= qmax"),
    (lambda: fp.build_lut(np.tanh, 1.0, 128, 1.0, 0), "zp_in"),
    (lambda: fp.apply_lut(np.array([128]), np.zeros(256, np.int8)), "q"),
    (lambda: fp.apply_lut(np.array([0]), np.zeros(255, np.int8)), "int8\\[256\\]"),
    (lambda: fp.apply_lut(np.array([0]), np.zeros(256, np.int16)), "int8\\[256\\]"),
])
def test_lut_rejects_bad_parameters(call, match):
    with pytest.raises(fp.FixedPointError, match=match):
        call()


# ---- accumulator bound ------------------------------------------------------------------------

def test_max_abs_accumulator_is_tight():
    """The worst case w = -127, x - zp = 255 (x = 127, zp = -128) reaches the bound exactly."""
    k = 1000
    w = np.full(k, -127, dtype=np.int64)
    x = np.full(k, 127, dtype=np.int64)
    worst = abs(int(np.dot(w, x - (-128))) + -5000)
    assert worst == fp.max_abs_accumulator(k, bias_abs=5000)
    assert fp.max_abs_accumulator(k) == k * 127 * 255


def test_accumulator_fits_int32_at_the_boundary():
    k = fp.INT32_MAX // (127 * 255)                     # 66311 terms
    assert fp.accumulator_fits_int32(k) and not fp.accumulator_fits_int32(k + 1)
    slack = fp.INT32_MAX - fp.max_abs_accumulator(k)
    assert fp.accumulator_fits_int32(k, bias_abs=slack)
    assert not fp.accumulator_fits_int32(k, bias_abs=slack + 1)
    assert fp.accumulator_fits_int32(3 * 3 * 512, bias_abs=1 << 20)   # a 3x3x512 conv
    assert fp.accumulator_fits_int32(4096, w_max=127, x_span=255)


@pytest.mark.parametrize("args", [(-1,), (10, -1), (10, 127, 255, -3), (1.5,)])
def test_accumulator_bound_rejects_negative_or_fractional_arguments(args):
    with pytest.raises(fp.FixedPointError, match="non-negative integer"):
        fp.max_abs_accumulator(*args)
