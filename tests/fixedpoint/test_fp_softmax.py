"""Integer Softmax (qcomp/fixedpoint/softmax.py): float accuracy, invariances, the bigint formulation,
the accuracy of its exp and reciprocal, and its refusals."""
from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from qcomp import fixedpoint as fp

from . import bigint_ref
from .strategies import SETTINGS, scales


def _float_softmax_int8(x: np.ndarray, beta: float, s_in: float) -> np.ndarray:
    """softmax(beta * s_in * x) in float64, quantized to scale 1/256, zero point -128."""
    z = beta * s_in * (x - x.max(axis=-1, keepdims=True)).astype(np.float64)
    p = np.exp(z) / np.exp(z).sum(axis=-1, keepdims=True)
    return np.clip(np.rint(p * 256) - 128, -128, 127)


def test_within_one_lsb_of_the_float_softmax_on_random_rows(rng):
    worst = 0
    for _ in range(400):
        beta = float(rng.choice([1.0, 0.5, 2.0, rng.uniform(0.1, 4.0)]))
        s_in = float(np.float32(2.0 ** rng.uniform(-8, 1)))
        n = int(rng.choice([1, 2, 5, 10, 64, 300, 1000]))
        x = np.clip(rng.integers(-128, 128) + rng.integers(-60, 61, size=(3, n)), -128, 127)
        got = fp.softmax_int8(x, fp.softmax_params(beta, s_in)).astype(np.int64)
        worst = max(worst, int(np.abs(got - _float_softmax_int8(x, beta, s_in)).max()))
    assert worst <= 1


def test_the_output_depends_only_on_differences_and_is_permutation_equivariant(rng):
    p = fp.softmax_params(1.0, 0.08)
    x = rng.integers(-100, 60, size=(4, 37))
    base = fp.softmax_int8(x, p)
    np.testing.assert_array_equal(fp.softmax_int8(x + 67, p), base)
    perm = rng.permutation(37)
    np.testing.assert_array_equal(fp.softmax_int8(x[:, perm], p), base[:, perm])
    np.testing.assert_array_equal(fp.softmax_int8(x.T, p, axis=0), base.T)
    total = (base.astype(np.int64) + 128).sum(axis=-1)             # probabilities in 1/256
    assert np.all(np.abs(total - 256) <= 37 / 2 + 1)


def test_constant_and_extreme_rows():
    p = fp.softmax_params(1.0, 0.1)
    np.testing.assert_array_equal(fp.softmax_int8(np.zeros(4, np.int8), p), [-64] * 4)    # 1/4 = 64/256
    np.testing.assert_array_equal(fp.softmax_int8(np.array([127, -128]), p), [127, -128])  # 1 saturates at 255/256
    np.testing.assert_array_equal(fp.softmax_int8(np.full(fp.SOFTMAX_MAX_DEPTH, 3), p), [-128] * 4095)
    got = fp.softmax_int8(np.zeros(256, np.int8), p)
    np.testing.assert_array_equal(got, [-127] * 256)                                       # exactly 1/256


@SETTINGS
@given(st.lists(st.integers(-128, 127), min_size=1, max_size=24), scales(-9, 2),
       st.sampled_from([1.0, 0.5, 2.0, 0.3]))
def test_equals_the_bigint_formulation(row, s_in, beta):
    m, shift, diff_min = bigint_ref.softmax_params(beta, s_in)
    p = fp.softmax_params(beta, s_in)
    assert (p.input_multiplier, p.input_left_shift, p.diff_min) == (m, shift, diff_min)
    assert fp.softmax_int8(np.array(row), p).tolist() == bigint_ref.softmax_row(row, m, shift, diff_min)


@SETTINGS
@given(scales(-26, 8), st.sampled_from([1.0, 0.25, 3.0]))
def test_diff_min_is_the_tightest_radius_whose_shift_fits_int32(s_in, beta):
    if beta * s_in * 2.0**26 <= 1.0:
        return
    p = fp.softmax_params(beta, s_in)
    limit = 31 * 2**26                                # Q5.26 magnitude of the largest skipped difference
    assert abs(p.diff_min) << p.input_left_shift <= limit
    assert (abs(p.diff_min) + 1) << p.input_left_shift > limit
    assert p.diff_min <= 0 and 0 <= p.input_left_shift <= 30


def test_exp_and_reciprocal_are_accurate():
    a = np.arange(-(2**31), 1, 2**17 + 12345)
    e = fp.exp_on_negative_values(a)
    assert np.abs(e / 2**31 - np.exp(a / 2**26)).max() < 2**-21
    assert fp.exp_on_negative_values(0) == fp.INT32_MAX
    x = np.arange(0, 2**31, 2**16 + 7)
    r = fp.one_over_one_plus_x_for_x_in_0_1(x)
    assert np.abs(r / 2**31 - 1 / (1 + x / 2**31)).max() < 2**-27
    s = np.arange(2**19, 2**31, 2**14 + 3)
    recip, bits = fp.get_reciprocal(s, 12)
    np.testing.assert_allclose(recip / 2**31 * 2.0**-bits, 2**19 / s, rtol=2**-26)   # recip = 2^n / sum


def test_srdhm_rounds_half_up_and_saturates_and_rdbp_rounds_half_away():
    assert fp.saturating_rounding_doubling_high_mul(fp.INT32_MIN, fp.INT32_MIN) == fp.INT32_MAX
    assert fp.saturating_rounding_doubling_high_mul(-(2**30), 1) == 0          # -1/2 -> 0
    assert fp.saturating_rounding_doubling_high_mul(2**30, 1) == 1             # +1/2 -> 1
    assert fp.saturating_rounding_doubling_high_mul(-3 * 2**29, 1) == -1       # -3/4 -> -1
    assert fp.rounding_divide_by_pot(np.array([3, -3, 5, -5, 6, -6]), 1).tolist() == [2, -2, 3, -3, 3, -3]
    assert fp.rounding_divide_by_pot(2**33, 34) == 1 and fp.rounding_divide_by_pot(2**33 - 1, 34) == 0


@pytest.mark.parametrize("call, match", [
    (lambda: fp.softmax_params(1.0, 2.0**-27), "below 2\\^-26"),
    (lambda: fp.softmax_params(0.0, 0.1), "> 0"),
    (lambda: fp.softmax_params(1.0, math.inf), "finite"),
    (lambda: fp.softmax_int8(np.zeros(4096, np.int8), fp.softmax_params(1.0, 0.1)), "4095"),
    (lambda: fp.softmax_int8(np.zeros((2, 0), np.int8), fp.softmax_params(1.0, 0.1)), "0 elements"),
    (lambda: fp.softmax_int8(np.int8(3), fp.softmax_params(1.0, 0.1)), "at least one dimension"),
    (lambda: fp.softmax_int8(np.array([200]), fp.softmax_params(1.0, 0.1)), "x \\(int8\\)"),
    (lambda: fp.softmax_int8(np.array([0.5]), fp.softmax_params(1.0, 0.1)), "integers"),
    (lambda: fp.softmax_int8(np.array([1]), fp.SoftmaxParams(1 << 30, 31, 0)), "out of range"),
    (lambda: fp.exp_on_negative_values(1), "<= 0"),
    (lambda: fp.rounding_divide_by_pot(1, 63), "exponent"),
])
def test_bad_arguments_raise_one_clear_error(call, match):
    with pytest.raises(fp.FixedPointError, match=match):
        call()
