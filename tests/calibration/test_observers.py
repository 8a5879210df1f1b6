"""Streaming observers, range selection and quantization parameters (qcomp/passes/observers.py)."""
import math

import numpy as np
import pytest

from qcomp.errors import QcompError
from qcomp.passes.observers import (METHODS, CalibrationError, HistogramObserver, MinMaxObserver,
                                    choose_range, observer_for,
                                    qparams_from_range, symmetric_weight_scales)
from qcomp.passes.observers_search import expected_sq_error


def fake_quant(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    scale, zp = qparams_from_range(lo, hi)
    q = np.clip(np.rint(x / np.float64(scale)) + zp, -128, 127)
    return (q - zp) * scale


@pytest.fixture(scope="module")
def gaussian_with_outliers() -> np.ndarray:
    """1e6 N(0, 1) samples and two rare outliers at -15 and +15 (0.0002% of the mass)."""
    x = np.random.default_rng(0).normal(0.0, 1.0, 1_000_000).astype(np.float32)
    x[123], x[456789] = -15.0, 15.0
    return x


def observed(x: np.ndarray, method: str, batches: int = 10):
    obs = observer_for(method, "act")
    for b in np.array_split(x, batches):
        obs.update(b)
    return obs


# ---- range selection on synthetic distributions -----------------------------------------------

def test_minmax_keeps_the_outliers(gaussian_with_outliers):
    assert choose_range(observed(gaussian_with_outliers, "minmax"), "minmax") == (-15.0, 15.0)


@pytest.mark.parametrize("method", ["percentile", "entropy", "mse"])
def test_clipping_methods_drop_the_outliers_and_keep_the_bulk(gaussian_with_outliers, method):
    lo, hi = choose_range(observed(gaussian_with_outliers, method), method)
    assert -7.0 < lo < -2.5 and 2.5 < hi < 7.0, (method, lo, hi)


@pytest.mark.parametrize("method", ["percentile", "entropy", "mse"])
def test_clipping_lowers_the_error_on_the_bulk_against_minmax(gaussian_with_outliers, method):
    x = gaussian_with_outliers.astype(np.float64)
    obs = observed(x, method)
    bulk = x[np.abs(x) < 4.0]
    err = np.mean((bulk - fake_quant(bulk, *choose_range(obs, method))) ** 2)
    err_minmax = np.mean((bulk - fake_quant(bulk, *choose_range(obs, "minmax"))) ** 2)
    assert err < 0.25 * err_minmax, (method, err, err_minmax)


def test_mse_picks_the_best_range_among_the_others(gaussian_with_outliers):
    x = gaussian_with_outliers.astype(np.float64)
    obs = observed(x, "mse")
    errors = {m: np.mean((x - fake_quant(x, *choose_range(obs, m))) ** 2) for m in METHODS}
    assert errors["mse"] <= 1.01 * min(errors.values()), errors


def test_mse_model_matches_sampled_error():
    """The histogram integral of the clip + rounding error agrees with the error on the samples."""
    x = np.random.default_rng(1).normal(0.5, 2.0, 300_000)
    obs = HistogramObserver("x")
    obs.update(x)
    c, e = obs.counts, obs.edges
    used = c > 0
    u, v = e[:-1][used], e[1:][used]
    for lo, hi in [(-3.0, 3.0), (-4.1, 2.7), (-9.0, 10.0), (-1.0, 1.0), (0.0, 5.0)]:
        model = expected_sq_error(u, v, c[used] / (c.sum() * (v - u)), np.array([lo]), np.array([hi]), 255)
        sampled = np.mean((x - fake_quant(x, lo, hi)) ** 2)
        assert model[0] == pytest.approx(sampled, rel=0.02), (lo, hi)


def test_mse_keeps_outliers_that_carry_mass():
    """5% of the mass at 8 sigma: clipping it costs more than coarser steps, so mse keeps it."""
    rng = np.random.default_rng(2)
    x = np.concatenate([rng.normal(0, 1, 95_000), rng.normal(8, 0.1, 5_000)])
    lo, hi = choose_range(observed(x, "mse"), "mse")
    assert hi > 7.5


def tensorrt_threshold(x: np.ndarray, bins: int = 2048, levels: int = 128) -> float:
    """TensorRT's entropy calibration on a histogram of |x|, as a plain loop (the reference)."""
    hist, edges = np.histogram(np.abs(x), bins=bins, range=(0.0, float(np.abs(x).max())))
    hist = hist.astype(np.float64)
    best_kl, best_t = np.inf, edges[-1]
    for i in range(levels, bins + 1):
        p = hist[:i].copy()
        p[-1] += hist[i:].sum()
        nonzero = p > 0
        group = np.minimum(np.arange(i) // (i // levels), levels - 1)
        mass = np.bincount(group, weights=hist[:i], minlength=levels)
        support = np.bincount(group, weights=nonzero, minlength=levels)
        q = np.where(nonzero, mass[group] / np.maximum(support[group], 1), 0.0)
        q[nonzero & (q == 0)] = 1e-4 * q.sum() / i
        p, q = p[nonzero] / p.sum(), q[nonzero] / q.sum()
        kl = np.sum(p * np.log(p / q))
        if kl < best_kl:
            best_kl, best_t = kl, edges[i]
    return float(best_t)


@pytest.mark.parametrize("dist", ["normal", "laplace", "normal+outliers"])
def test_entropy_agrees_with_tensorrt_on_symmetric_data(dist):
    rng = np.random.default_rng(3)
    x = rng.laplace(0, 1, 300_000) if dist == "laplace" else rng.normal(0, 1, 300_000)
    if dist == "normal+outliers":
        x[:2] = -15.0, 15.0
    lo, hi = choose_range(observed(x, "entropy"), "entropy")
    assert max(-lo, hi) == pytest.approx(tensorrt_threshold(x), rel=0.1)
    assert max(-lo, hi) < np.abs(x).max() or dist == "normal"


def test_percentile_interpolates_inside_bins():
    x = np.random.default_rng(4).uniform(-1.0, 1.0, 400_000)
    lo, hi = choose_range(observed(x, "percentile"), "percentile", percentile=98.0)
    assert lo == pytest.approx(-0.98, abs=2e-3) and hi == pytest.approx(0.98, abs=2e-3)
    assert choose_range(observed(x, "percentile"), "percentile", percentile=100.0) == (x.min(), x.max())


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("sign", [1.0, -1.0])
def test_one_sided_tensors_get_a_range_that_includes_zero(method, sign):
    rng = np.random.default_rng(5)
    x = sign * (0.5 + np.abs(rng.normal(0, 1, 50_000)))          # no value near 0
    lo, hi = choose_range(observed(x, method), method)
    assert lo <= 0.0 <= hi
    assert (lo, hi)[0 if sign > 0 else 1] == 0.0
    assert abs((lo, hi)[1 if sign > 0 else 0]) > 1.0


def test_relu_outputs_entropy_keeps_zero_and_clips_the_top():
    rng = np.random.default_rng(6)
    x = np.maximum(rng.normal(0, 1, 400_000), 0.0)
    x[:3] = 40.0
    lo, hi = choose_range(observed(x, "entropy"), "entropy")
    assert lo == 0.0 and 2.0 < hi < 10.0


# ---- degenerate tensors ------------------------------------------------------------------------

@pytest.mark.parametrize("method", METHODS)
def test_all_zero_tensor_gives_scale_zero(method):
    obs = observed(np.zeros(1000, np.float32), method)
    assert choose_range(obs, method) == (0.0, 0.0)
    assert qparams_from_range(0.0, 0.0) == (0.0, 0)
    assert qparams_from_range(0.0, 0.0, 0, 255) == (0.0, 0)


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("value, expect", [(2.5, (0.0, 2.5)), (-3.0, (-3.0, 0.0))])
def test_single_value_tensor(method, value, expect):
    obs = observed(np.full(777, value, np.float32), method)
    assert choose_range(obs, method) == expect
    scale, zp = qparams_from_range(*expect)
    assert scale == np.float32(abs(value) / 255)
    assert zp == (-128 if value > 0 else 127)
    assert (np.clip(np.rint(value / scale) + zp, -128, 127) - zp) * scale == pytest.approx(value)


def test_zeros_before_the_first_nonzero_value_are_counted_where_they_belong():
    streamed = HistogramObserver("x")
    for b in (np.zeros(10), np.zeros(5), np.array([0.0, 3.0, -1.0])):
        streamed.update(b)
    once = HistogramObserver("x")
    once.update(np.array([0.0] * 16 + [3.0, -1.0]))
    np.testing.assert_array_equal(streamed.counts, once.counts)
    zero_bin = np.searchsorted(streamed.edges, 0.0, side="right") - 1
    assert streamed.counts[zero_bin] == 16


# ---- streaming ---------------------------------------------------------------------------------

def _growing_batches(seed: int, n: int) -> list[np.ndarray]:
    """Batches whose range keeps widening on both sides, so the histogram regrids many times."""
    rng = np.random.default_rng(seed)
    return [(rng.normal(0.3, 1.0, rng.integers(1, 200)) * 1.01 ** i).astype(np.float32) for i in range(n)]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_streaming_equals_one_batch_exactly(seed):
    batches = _growing_batches(seed, 300)
    whole = np.concatenate(batches)
    one_h, one_m = HistogramObserver("x"), MinMaxObserver("x")
    one_h.update(whole)
    one_m.update(whole)
    for order in (batches, batches[::-1]):
        h, m = HistogramObserver("x"), MinMaxObserver("x")
        for b in order:
            h.update(b)
            m.update(b)
        np.testing.assert_array_equal(h.counts, one_h.counts)
        np.testing.assert_array_equal(h.edges, one_h.edges)
        assert (m.min, m.max, m.count) == (one_m.min, one_m.max, one_m.count) == (whole.min(), whole.max(), whole.size)
        assert (h.min, h.max, h.count) == (m.min, m.max, m.count)


@pytest.mark.parametrize("seed", [0, 1])
def test_histogram_counts_match_numpy_histogram(seed):
    h = HistogramObserver("x", num_bins=512)
    batches = _growing_batches(seed, 200)
    for b in batches:
        h.update(b)
    ref, _ = np.histogram(np.concatenate(batches).astype(np.float64), bins=h.edges)
    np.testing.assert_array_equal(h.counts, ref)
    assert h.edges[0] <= h.min and h.max < h.edges[-1]


def test_memory_is_constant_over_1000_batches():
    h = HistogramObserver("x")
    sizes, grids = set(), set()
    for b in _growing_batches(7, 1000):
        h.update(b)
        sizes.add((h.counts.size, h.nbytes))
        grids.add((h.edges[0], h.edges[-1]))
    assert sizes == {(2048, 2048 * 8)}
    assert len(grids) > 10                  # the range grew many times, the memory did not
    assert h.counts.sum() == h.count


def test_histogram_spans_at_least_half_its_bins():
    h = HistogramObserver("x")
    h.update(np.random.default_rng(8).uniform(-3.3, 7.1, 10_000))
    occupied = np.flatnonzero(h.counts)
    assert occupied[-1] - occupied[0] >= 1023


# ---- errors ------------------------------------------------------------------------------------

@pytest.mark.parametrize("cls", [MinMaxObserver, HistogramObserver])
@pytest.mark.parametrize("bad, word", [(np.nan, "NaN"), (np.inf, "Inf"), (-np.inf, "Inf")])
def test_nonfinite_values_name_the_tensor(cls, bad, word):
    obs = cls("conv1_out")
    with pytest.raises(CalibrationError, match=f"conv1_out.*{word}"):
        obs.update(np.array([1.0, bad, 2.0], np.float32))


def test_range_errors():
    with pytest.raises(QcompError, match="no calibration data reached"):
        choose_range(HistogramObserver("t"), "mse")
    obs = MinMaxObserver("t")
    obs.update(np.ones(3))
    with pytest.raises(CalibrationError, match="'t'.*needs a HistogramObserver"):
        choose_range(obs, "entropy")
    with pytest.raises(CalibrationError, match="unknown calibration method 'kl'; choose one of minmax"):
        choose_range(obs, "kl")  # type: ignore[arg-type]
    with pytest.raises(CalibrationError, match="percentile"):
        choose_range(obs, "minmax", percentile=30.0)
    for lo, hi in [(1.0, -1.0), (math.nan, 1.0), (0.0, math.inf)]:
        with pytest.raises(CalibrationError):
            qparams_from_range(lo, hi)


# ---- quantization parameters -------------------------------------------------------------------

def test_qparams_match_onnxruntime():
    from onnxruntime.quantization.quant_utils import compute_scale_zp
    rng = np.random.default_rng(9)
    ranges = [(-1.0, 1.0), (0.0, 6.0), (-6.0, 0.0), (-0.3, 17.0), (2.0, 3.0), (-5.0, -1.0)]
    ranges += [tuple(sorted(rng.normal(0, 10, 2))) for _ in range(200)]
    for lo, hi in ranges:
        lo32, hi32 = np.float32(lo), np.float32(hi)
        for qmin, qmax in [(-128, 127), (0, 255)]:
            zp_ort, scale_ort = compute_scale_zp(lo32, hi32, np.int32(qmin), np.int32(qmax))
            assert qparams_from_range(float(lo32), float(hi32), qmin, qmax) == (float(scale_ort), int(zp_ort))


def test_qparams_grid_covers_the_range_and_zero_is_exact():
    rng = np.random.default_rng(10)
    for _ in range(500):
        lo, hi = sorted(rng.normal(0, 10, 2) * 10.0 ** rng.integers(-6, 6))
        scale, zp = qparams_from_range(lo, hi)
        assert -128 <= zp <= 127 and scale > 0 and np.float32(scale) == scale
        g_lo, g_hi = (-128 - zp) * scale, (127 - zp) * scale
        assert g_lo <= 0.0 <= g_hi
        assert g_lo <= min(lo, 0.0) + scale * 0.5000001 and g_hi >= max(hi, 0.0) - scale * 0.5000001


def test_tiny_ranges_never_get_a_zero_scale():
    scale, zp = qparams_from_range(0.0, 1e-42)
    assert scale == np.finfo(np.float32).tiny and zp == -128


# ---- weights -----------------------------------------------------------------------------------

def test_symmetric_weight_scales_per_channel():
    rng = np.random.default_rng(11)
    w = rng.normal(0, 0.1, (6, 3, 3, 4)).astype(np.float32)
    w[2] = 0.0
    scale = symmetric_weight_scales(w)
    assert scale.dtype == np.float32 and scale.shape == (6,)
    assert scale[2] == 0.0
    np.testing.assert_allclose(scale, np.abs(w).max(axis=(1, 2, 3)) / 127, rtol=1e-7)
    nz = scale > 0
    q = np.rint(w[nz] / scale[nz, None, None, None])
    assert np.abs(q).max() == 127 and np.all(np.abs(q).reshape(5, -1).max(axis=1) == 127)
    np.testing.assert_allclose(symmetric_weight_scales(w, axis=-1),
                               np.abs(w).max(axis=(0, 1, 2)) / 127, rtol=1e-7)


def test_symmetric_weight_scales_errors():
    with pytest.raises(CalibrationError, match="'fc.weight'.*NaN"):
        symmetric_weight_scales(np.array([[1.0, np.nan]]), name="fc.weight")
    with pytest.raises(CalibrationError, match="no axis 2"):
        symmetric_weight_scales(np.ones((2, 2)), axis=2)


def test_entropy_ignores_the_relu_spike_of_exact_zeros():
    """80% exact zeros (a ReLU output) must not pull the entropy threshold towards 0."""
    rng = np.random.default_rng(0)
    obs = observer_for("entropy", "relu_out")
    for _ in range(20):
        x = np.minimum(rng.exponential(1.0, 10000), 6.0)
        x[rng.random(10000) < 0.8] = 0.0
        obs.update(x.astype(np.float32))
    lo, hi = choose_range(obs, "entropy")
    assert lo == 0.0 and hi > 3.0, (lo, hi)
