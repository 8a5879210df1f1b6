"""Unary and binary elementwise kernels and Cast, against scalar formulas from `math`, in float64."""
from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

from qcomp.ir import DType, ops
from qcomp.ref.erf import erf

from .util import close, run1


def _each(fn, x: np.ndarray) -> np.ndarray:
    return np.array([fn(float(v)) for v in x.reshape(-1)]).reshape(x.shape)


def _sigmoid(v):
    return 1.0 / (1.0 + math.exp(-v)) if v >= 0 else math.exp(v) / (1.0 + math.exp(v))


UNARY = [
    (ops.Relu(), lambda v: max(v, 0.0)),
    (ops.Clip(min=0.0, max=6.0), lambda v: min(max(v, 0.0), 6.0)),
    (ops.Clip(min=-1.5), lambda v: max(v, -1.5)),
    (ops.Clip(max=0.25), lambda v: min(v, 0.25)),
    (ops.LeakyRelu(alpha=0.1), lambda v: v if v >= 0 else 0.1 * v),
    (ops.Sigmoid(), _sigmoid),
    (ops.Tanh(), math.tanh),
    (ops.HardSigmoid(alpha=0.25, beta=0.4), lambda v: max(0.0, min(1.0, 0.25 * v + 0.4))),
    (ops.HardSwish(), lambda v: v * max(0.0, min(1.0, v / 6 + 0.5))),
    (ops.Erf(), math.erf),
    (ops.Gelu(), lambda v: 0.5 * v * (1 + math.erf(v / math.sqrt(2)))),
    (ops.Gelu(approximate="tanh"),
     lambda v: 0.5 * v * (1 + math.tanh(math.sqrt(2 / math.pi) * (v + 0.044715 * v ** 3)))),
    (ops.Exp(), math.exp),
]


@pytest.mark.parametrize("op,fn", UNARY, ids=lambda p: repr(p) if isinstance(p, ops.Op) else "")
def test_unary_matches_scalar_formula(op, fn, rng):
    x = np.concatenate([rng.normal(size=196) * 4, [0.0, -0.0, 1e-8, -1e-8, 3.0, -3.0, 6.0, -6.0]])
    x = x.astype(np.float32).reshape(4, 3, 17)
    got = run1(op, x)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, _each(fn, x.astype(np.float64)), rtol=2e-6, atol=1e-7)


def test_sqrt(rng):
    x = (rng.random(size=(3, 17)) * 100).astype(np.float32)
    np.testing.assert_allclose(run1(ops.Sqrt(), x), _each(math.sqrt, x.astype(np.float64)), rtol=1e-6)


def test_extreme_inputs_give_ieee_results_without_warnings():
    x = np.array([-1000.0, -100.0, 0.0, 100.0, 1000.0, -1.0], np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s = run1(ops.Sigmoid(), x)
        e = run1(ops.Exp(), x)
        r = run1(ops.Sqrt(), x)
    np.testing.assert_array_equal(s[[0, 2, 4]], [0.0, 0.5, 1.0])
    assert np.isinf(e[4]) and np.isnan(r[0]) and np.isnan(r[5])


def test_erf_is_float64_accurate_over_the_whole_range():
    x = np.concatenate([np.linspace(-7, 7, 20001), np.geomspace(1e-300, 1.0, 500), [np.inf, -np.inf]])
    want = _each(math.erf, x)
    np.testing.assert_allclose(erf(x), want, rtol=2e-15, atol=0)
    assert np.isnan(erf(np.array([np.nan])))[0]


BINARY = [
    (ops.Add(), lambda a, b: a + b),
    (ops.Sub(), lambda a, b: a - b),
    (ops.Mul(), lambda a, b: a * b),
    (ops.Div(), lambda a, b: a / b),
    (ops.Pow(), lambda a, b: abs(a) ** b),
    (ops.PRelu(), lambda a, b: a if a >= 0 else a * b),
]


@pytest.mark.parametrize("op,fn", BINARY, ids=lambda p: p.kind if isinstance(p, ops.Op) else "")
@pytest.mark.parametrize("shapes", [((2, 3, 5), (2, 3, 5)), ((2, 3, 5), (5,)), ((2, 1, 5), (3, 1)),
                                    ((2, 3, 5), ())], ids=str)
def test_binary_broadcasts_like_numpy(op, fn, shapes, rng):
    sa, sb = shapes
    if isinstance(op, ops.PRelu):
        sb = (1,) + sa[1:] if sb == (3, 1) else sb  # the slope must not widen the input
    a = rng.normal(size=sa).astype(np.float32)
    b = (rng.random(size=sb) + 0.5).astype(np.float32)
    if isinstance(op, ops.Pow):
        a = np.abs(a)
    got = run1(op, a, b)
    a64, b64 = np.broadcast_arrays(a.astype(np.float64), b.astype(np.float64))
    want = np.array([fn(float(p), float(q)) for p, q in zip(a64.reshape(-1), b64.reshape(-1))]).reshape(a64.shape)
    close(got, want, rtol=1e-6)


def test_integer_div_truncates_toward_zero_and_pow_is_exact():
    a = np.array([-7, 7, -7, 7, 6, -1], np.int64)
    b = np.array([2, 2, -2, -2, 3, 5], np.int64)
    np.testing.assert_array_equal(run1(ops.Div(), a, b), [-3, 3, 3, -3, 2, 0])
    np.testing.assert_array_equal(run1(ops.Pow(), np.array([3, -2, 5], np.int32), np.array([4, 3, 0], np.int32)),
                                  [81, -8, 1])


def test_cast_truncates_toward_zero_and_maps_nonzero_to_true():
    x = np.array([-2.7, -0.5, 0.0, 0.5, 2.7], np.float32)
    np.testing.assert_array_equal(run1(ops.Cast(to=DType.INT64), x), [-2, 0, 0, 0, 2])
    np.testing.assert_array_equal(run1(ops.Cast(to=DType.BOOL), x), [True, True, False, True, True])
    y = run1(ops.Cast(to=DType.FLOAT32), np.array([1, -3], np.int64))
    assert y.dtype == np.float32 and y.tolist() == [1.0, -3.0]


def test_clip_and_relu_keep_integer_dtypes():
    x = np.array([-100, -3, 0, 5, 100], np.int8)
    np.testing.assert_array_equal(run1(ops.Clip(min=-4.0, max=1000.0), x), [-4, -3, 0, 5, 100])
    assert run1(ops.Relu(), x).dtype == np.int8


def test_rank0_operands_give_rank0_arrays():
    y = run1(ops.Add(act_min=0.0), np.array(-2.0, np.float32), np.array(1.5, np.float32))
    assert isinstance(y, np.ndarray) and y.shape == () and float(y) == 0.0
