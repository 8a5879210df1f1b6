"""Shared hypothesis settings and strategies for the fixed-point tests (deterministic: derandomize)."""
from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

SETTINGS = settings(max_examples=300, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])

INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1

int32s = st.one_of(st.integers(INT32_MIN, INT32_MAX),
                   st.sampled_from([INT32_MIN, INT32_MIN + 1, -1, 0, 1, INT32_MAX - 1, INT32_MAX]))
int8s = st.integers(-128, 127)
zero_points = st.one_of(st.sampled_from([-128, 127, 0]), int8s)
seeds = st.integers(0, 2**32 - 1)


def _float32(mantissa: float, exponent: int) -> float:
    return float(np.float32(mantissa * 2.0**exponent))


def scales(lo_exp: int = -20, hi_exp: int = 6):
    """Positive float32 scales, log-uniform over [2^lo_exp, 2^hi_exp) (what the IR stores)."""
    return st.builds(_float32, st.floats(1.0, 2.0, exclude_max=True), st.integers(lo_exp, hi_exp - 1))


def clamp_bounds():
    """(qmin, qmax) pairs inside int8: the full range, fused ReLU-like bounds, or random."""
    pair = st.tuples(int8s, int8s).map(sorted).map(tuple)
    return st.one_of(st.just((-128, 127)), pair)
