"""`--calib-method auto` (qcomp/passes/observers_auto.py) and the clip warning of calibrate."""
from __future__ import annotations

import numpy as np
import pytest

from qcomp.ir import Graph, TensorType, ops
from qcomp.passes.calibrate import calibrate
from qcomp.passes.observers import HistogramObserver, choose_range, qparams_from_range
from qcomp.passes.observers_auto import AUTO_BINS, AUTO_ORDER, choose_auto, clipped_share

from qcomp.ir import DType

F = DType.FLOAT32


def fake_quant(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    scale, zp = qparams_from_range(lo, hi)
    q = np.clip(np.rint(x / np.float64(scale)) + zp, -128, 127)
    return (q - zp) * scale


def observe(x: np.ndarray, batches: int = 7) -> HistogramObserver:
    obs = HistogramObserver("t", AUTO_BINS)
    for b in np.array_split(x, batches):
        obs.update(b)
    return obs


DISTRIBUTIONS = {
    "gaussian_with_outliers": lambda rng: np.concatenate([rng.normal(0, 1, 500_000), [-15.0, 15.0]]),
    "uniform": lambda rng: rng.uniform(-1.0, 3.0, 200_000),
    "relu_of_laplace": lambda rng: np.maximum(rng.laplace(0.2, 1.0, 200_000), 0.0),
    "bimodal": lambda rng: np.concatenate([rng.normal(-4, 0.3, 100_000), rng.normal(5, 0.3, 100_000)]),
}


@pytest.mark.parametrize("dist", DISTRIBUTIONS)
def test_auto_keeps_the_candidate_of_least_measured_error(dist):
    """The error model ranks the candidates as the error measured on the samples does: auto's
    range is within 2 % of the best candidate's sampled error."""
    x = DISTRIBUTIONS[dist](np.random.default_rng(0))
    obs = observe(x)
    choice = choose_auto(obs, percentile=99.99)
    assert choice.method in choice.errors and choice.range == choose_range(obs, choice.method)
    sampled = {m: float(np.mean((x - fake_quant(x, *choose_range(obs, m))) ** 2)) for m in choice.errors}
    assert sampled[choice.method] <= 1.02 * min(sampled.values()), (choice.method, sampled)
    assert choice.errors[choice.method] == min(choice.errors.values())


def test_outliers_are_not_kept_but_a_uniform_range_is_nearly():
    rng = np.random.default_rng(1)
    lo, hi = choose_auto(observe(DISTRIBUTIONS["gaussian_with_outliers"](rng))).range
    assert -8 < lo < -2.5 and 2.5 < hi < 8
    lo, hi = choose_auto(observe(DISTRIBUTIONS["uniform"](rng))).range
    assert lo < -0.97 and hi > 2.9


def test_entropy_is_offered_only_where_it_clips_no_more_than_percentile():
    for dist in DISTRIBUTIONS:
        choice = choose_auto(observe(DISTRIBUTIONS[dist](np.random.default_rng(2))), percentile=99.9)
        assert ("entropy" in choice.errors) == (choice.clipped["entropy"] <= 0.001 + 1e-12), dist
    # a very long tail (Cauchy): the KL search clips several times what percentile drops
    cauchy = np.random.default_rng(2).standard_cauchy(200_000).clip(-1000, 1000)
    choice = choose_auto(observe(cauchy), percentile=99.9)
    assert choice.clipped["entropy"] > 0.003 and "entropy" not in choice.errors


def test_clipped_share_matches_the_samples():
    x = np.random.default_rng(3).normal(0.5, 2.0, 300_000)
    obs = observe(x)
    for lo, hi in [(-3.0, 3.0), (-1.0, 4.5), (-10.0, 10.0), (0.0, 1.0)]:
        assert clipped_share(obs, lo, hi) == pytest.approx(np.mean((x < lo) | (x > hi)), abs=2e-3)
    assert clipped_share(obs, obs.min, obs.max) == 0.0


def test_a_range_reaching_a_spike_at_the_extreme_clips_nothing():
    """An attention mask term: values 0 and -10000 only; [-10000, 0] keeps every one of them."""
    x = np.where(np.random.default_rng(6).random(10_000) < 0.13, -10000.0, 0.0)
    obs = observe(x)
    assert clipped_share(obs, -10000.0, 0.0) == 0.0
    assert clipped_share(obs, -9000.0, 0.0) == pytest.approx(np.mean(x < -9000), abs=1e-9)


def test_auto_is_deterministic_and_independent_of_batching():
    x = DISTRIBUTIONS["relu_of_laplace"](np.random.default_rng(4))
    a, b = choose_auto(observe(x, 1)), choose_auto(observe(x, 13))
    assert (a.method, a.range, a.errors) == (b.method, b.range, b.errors)
    assert AUTO_ORDER[0] == "minmax"   # ties go to the simplest range


def test_a_constant_tensor_keeps_minmax():
    choice = choose_auto(observe(np.full(1000, 2.5)))
    assert choice.method == "minmax" and choice.range == (0.0, 2.5)


def _two_tensors() -> Graph:
    """x -> relu (a long-tailed ReLU output) and x -> tanh (bounded): two calibrated values."""
    g = Graph(name="auto")
    g.add_input("x", TensorType((1, 64, 64), F))
    g.add_node(ops.Relu(), ["x"], "relu")
    g.add_node(ops.Tanh(), ["x"], "tanh")
    g.outputs = ["relu", "tanh"]
    return g


def _laplace_samples(n: int = 6):
    rng = np.random.default_rng(5)
    return [{"x": rng.laplace(0.0, 1.0, (1, 64, 64)).astype(np.float32)} for _ in range(n)]


def test_calibrate_auto_records_a_method_per_tensor_and_is_deterministic():
    r1 = calibrate(_two_tensors(), _laplace_samples(), "auto")
    r2 = calibrate(_two_tensors(), _laplace_samples(), "auto")
    assert set(r1.methods) == {"x", "relu", "tanh"} and set(r1.methods.values()) <= set(AUTO_ORDER)
    assert r1.methods == r2.methods and r1.ranges == r2.ranges and r1.method == "auto"


def test_a_range_clipping_more_than_one_percent_warns_once_naming_the_tensor():
    r = calibrate(_two_tensors(), _laplace_samples(), "percentile", percentile=96.0)   # drops 4 %
    assert len(r.warnings) == len({w.split("'")[1] for w in r.warnings})             # one line per tensor
    named = {w.split("'")[1] for w in r.warnings}
    assert "x" in named and "tanh" in named
    assert all("percentile" in w and "% of its calibration values" in w for w in r.warnings)
    assert r.clipped["x"] == pytest.approx(0.04, abs=0.005)
    quiet = calibrate(_two_tensors(), _laplace_samples(), "percentile")            # 99.99: 0.01 %
    assert quiet.warnings == () and calibrate(_two_tensors(), _laplace_samples(), "minmax").warnings == ()
