"""quantize_multiplier(s) against an exact-rational TFLite QuantizeMultiplier, and its edges."""
from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from qcomp import fixedpoint as fp

from .slow import as_real, exact_quantize_multiplier
from .strategies import SETTINGS

reals = st.one_of(
    st.floats(min_value=0.0, max_value=1e12, allow_nan=False, allow_infinity=False),
    st.floats(min_value=1e-9, max_value=1e3),
    st.builds(lambda m, e: m * 2.0**e, st.floats(0.5, 1.0, exclude_max=True), st.integers(-40, 40)),
    # just below a power of two: frac * 2^31 rounds up to 2^31 (the carry)
    st.builds(lambda e, k: (1.0 - k * 2.0**-53) * 2.0**e, st.integers(-40, 40), st.integers(1, 2**20)),
)


@SETTINGS
@given(reals)
def test_matches_exact_rational_quantize_multiplier(real):
    assert fp.quantize_multiplier(real) == exact_quantize_multiplier(real)


@SETTINGS
@given(reals)
def test_represents_real_within_2_pow_minus_31(real):
    m, shift = fp.quantize_multiplier(real)
    assert 0 <= m <= fp.INT32_MAX and fp.MIN_SHIFT <= shift <= fp.MAX_SHIFT
    exact = Fraction(real)
    two = Fraction(2)
    if exact < two**-32:                  # at most 2^-32 * |acc| <= 1/2: flushed or kept, both fine
        assert (m, shift) == (0, 0) or (m, shift) == (1 << 30, -31)
    elif exact >= two**30 * (1 - two**-32):   # rounds to 2^30 or above: saturated
        assert (m, shift) == (fp.INT32_MAX, 30)
    else:
        assert (1 << 30) <= m < (1 << 31)
        assert abs(as_real(m, shift) - exact) <= exact * two**-31


@SETTINGS
@given(st.lists(reals, min_size=0, max_size=16))
def test_per_channel_variant_equals_scalar(values):
    m, s = fp.quantize_multipliers(np.array(values, dtype=np.float64))
    assert m.dtype == np.int32 and s.dtype == np.int32 and m.shape == (len(values),)
    assert [(int(a), int(b)) for a, b in zip(m, s)] == [fp.quantize_multiplier(v) for v in values]


@pytest.mark.parametrize("real, expected", [
    (0.0, (0, 0)),
    (0.5, (1 << 30, 0)),
    (1.0, (1 << 30, 1)),
    (0.75, (3 << 29, 0)),
    (1.0 - 2.0**-40, (1 << 30, 1)),              # carry: frac * 2^31 rounds to 2^31
    (2.0**-32, (1 << 30, -31)),                  # smallest exponent kept
    (2.0**-32 * (1 - 2.0**-40), (1 << 30, -31)),  # frexp exponent -32, kept by the carry
    (2.0**-33, (0, 0)),                          # flushed to zero
    (5e-324, (0, 0)),                            # subnormal
    (2.0**30 * (1 - 2.0**-20), ((1 << 31) - 2048, 30)),  # largest exponent kept
    (2.0**30 * (1 - 2.0**-40), (fp.INT32_MAX, 30)),      # carry to exponent 31, then saturated
    (2.0**30, (fp.INT32_MAX, 30)),               # saturated
    (1e300, (fp.INT32_MAX, 30)),
    # round half away from zero: frac * 2^31 = 2^30 + 1/2 exactly -> 2^30 + 1
    (0.5 + 2.0**-32, ((1 << 30) + 1, 0)),
])
def test_edges(real, expected):
    assert fp.quantize_multiplier(real) == expected


@pytest.mark.parametrize("real", [-1e-9, -0.5, float("nan"), float("inf"), -float("inf")])
def test_rejects_negative_and_non_finite(real):
    with pytest.raises(fp.FixedPointError, match="finite and >= 0"):
        fp.quantize_multiplier(real)
    with pytest.raises(ValueError):
        fp.quantize_multipliers(np.array([0.5, real]))
