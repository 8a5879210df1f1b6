"""BatchNorm, LayerNorm and Softmax against loops over the normalized slices, in float64."""
from __future__ import annotations

import math

import numpy as np
import pytest

from qcomp.ir import ops

from .util import close, run1


def test_batch_norm_on_the_last_axis(rng):
    c = 13
    x = rng.normal(size=(2, 5, 3, c)).astype(np.float32)
    scale, bias, mean = (rng.normal(size=c).astype(np.float32) for _ in range(3))
    var = (rng.random(size=c) + 0.1).astype(np.float32)
    got = run1(ops.BatchNorm(epsilon=1e-3), x, scale, bias, mean, var, const=(1, 2, 3, 4))
    want = np.zeros(x.shape)
    for idx in np.ndindex(x.shape):
        k = idx[-1]
        norm = (float(x[idx]) - float(mean[k])) / math.sqrt(float(var[k]) + 1e-3)
        want[idx] = norm * float(scale[k]) + float(bias[k])
    close(got, want)


@pytest.mark.parametrize("axis", [1, 2])
def test_layer_norm_over_trailing_axes(axis, rng):
    x = (rng.normal(size=(2, 3, 17)) * 5 + 2).astype(np.float32)
    norm_shape = x.shape[axis:]
    scale = rng.normal(size=norm_shape).astype(np.float32)
    bias = rng.normal(size=norm_shape).astype(np.float32)
    got = run1(ops.LayerNorm(axis=axis, epsilon=1e-5), x, scale, bias, const=(1, 2))
    want = np.zeros(x.shape)
    for lead in np.ndindex(x.shape[:axis]):
        vals = [float(v) for v in x[lead].reshape(-1)]
        mu = sum(vals) / len(vals)
        var = sum((v - mu) ** 2 for v in vals) / len(vals)
        want[lead] = ((x[lead].astype(np.float64) - mu) / math.sqrt(var + 1e-5)) * scale + bias
    close(got, want)


@pytest.mark.parametrize("axis", [0, 1, 2])
def test_softmax_along_one_axis(axis, rng):
    x = (rng.normal(size=(3, 5, 7)) * 3).astype(np.float32)
    got = run1(ops.Softmax(axis=axis), x)
    want = np.zeros(x.shape)
    for idx in np.ndindex(x.shape):
        line = [float(x[idx[:axis] + (k,) + idx[axis + 1:]]) for k in range(x.shape[axis])]
        want[idx] = math.exp(float(x[idx])) / sum(math.exp(v) for v in line)
    close(got, want, rtol=2e-6)


def test_softmax_is_stable_for_large_logits():
    x = np.array([[1000.0, 999.0, -1000.0]], np.float32)
    got = run1(ops.Softmax(axis=1), x)
    e = math.exp(-1.0)
    np.testing.assert_allclose(got, [[1 / (1 + e), e / (1 + e), 0.0]], rtol=1e-6)
