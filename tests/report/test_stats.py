"""Streaming error statistics against one-shot numpy formulas."""
import math

import numpy as np
import pytest

from qcomp.report.stats import ErrorStats, clip_bounds, cosine, distribution, new_histogram, snr_db


def _direct(x, y, lo, hi):
    x, y = x.astype(np.float64).ravel(), y.astype(np.float64).ravel()
    e = y - x
    return (float(x @ y / np.sqrt((x @ x) * (y @ y))), 10 * math.log10((x @ x) / (e @ e)),
            float(np.abs(e).max()), float(np.mean((x < lo) | (x > hi))))


def test_streaming_equals_one_shot(rng):
    x = rng.standard_normal((7, 300)).astype(np.float32)
    y = (x + rng.normal(0, 0.05, x.shape)).astype(np.float32)
    lo, hi = -1.5, 2.0
    s = ErrorStats((lo, hi))
    for k in range(7):   # one "sample" at a time
        s.update(x[k], y[k])
    got = s.summary()
    want = _direct(x, y, lo, hi)
    assert got.cosine == pytest.approx(want[0], rel=1e-12)
    assert got.snr_db == pytest.approx(want[1], rel=1e-10)
    assert got.max_abs_error == want[2]
    assert got.clip_rate == pytest.approx(want[3])
    assert got.count == x.size
    assert 20 < got.snr_db < 30    # noise 0.05 on unit signal: about 26 dB


def test_limits():
    s = ErrorStats()
    s.update(np.ones(4), np.ones(4))
    assert s.summary().snr_db == math.inf and s.summary().cosine == 1.0 and s.summary().clip_rate is None
    assert snr_db(0.0, 0.0) == math.inf and snr_db(0.0, 1.0) == -math.inf
    assert cosine(0.0, 0.0, 0.0) == 1.0 and cosine(0.0, 0.0, 2.0) == 0.0
    z = ErrorStats((0.0, 0.0))
    z.update(np.zeros(3), np.array([0.0, 0.0, 1.0]))
    assert z.summary().snr_db == -math.inf and z.summary().cosine == 0.0 and z.summary().clip_rate == 0.0


def test_clip_bounds_saturate_exactly_where_quantize_does():
    scale, zp = 0.1, -20
    lo, hi = clip_bounds(scale, zp)
    assert (lo, hi) == pytest.approx(((-128 + 20 - 0.5) * 0.1, (127 + 20 + 0.5) * 0.1))
    x = np.array([hi - 1e-6, hi + 1e-6, lo + 1e-6, lo - 1e-6])
    q = np.rint(x / scale) + zp
    assert list((q < -128) | (q > 127)) == [False, True, False, True]


def test_quartiles_from_the_histogram(rng):
    data = np.concatenate([rng.exponential(2.0, 5000), -rng.exponential(0.5, 3000)]).astype(np.float32)
    h = new_histogram("t")
    for chunk in np.array_split(data, 9):
        h.update(chunk)
    d = distribution(h)
    width = (data.max() - data.min()) / 1024   # bins are at most span / 1024 wide
    assert d.min == data.min() and d.max == data.max()
    for got, p in ((d.q1, 25), (d.median, 50), (d.q3, 75)):
        assert abs(got - np.percentile(data, p)) <= width


def test_constant_tensor_distribution():
    h = new_histogram("zeros")
    h.update(np.zeros(10, np.float32))
    d = distribution(h)
    assert (d.min, d.q1, d.median, d.q3, d.max) == (0.0, 0.0, 0.0, 0.0, 0.0)
