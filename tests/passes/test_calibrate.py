"""calibrate: one range per float value (widened to hold 0), errors for an empty set and for NaN,
and the progress callback."""
from __future__ import annotations

import numpy as np
import pytest

from qcomp.errors import InputError
from qcomp.ir import Graph, TensorType, ops
from qcomp.passes.calibrate import calibrate
from qcomp.passes.observers import CalibrationError
from qcomp.ref import run_float

from .helpers import F


def _graph() -> Graph:
    """x -> conv -> relu (>= 0), x -> neg (= -sigmoid(x) - 1, < 0), both outputs."""
    rng = np.random.default_rng(0)
    g = Graph(name="cal")
    g.add_input("x", TensorType((1, 4, 4, 2), F))
    w = g.add_constant("w", rng.standard_normal((3, 3, 3, 2)).astype(np.float32))
    b = g.add_constant("b", np.zeros(3, np.float32))
    g.add_node(ops.Conv2D(pads=(1, 1, 1, 1)), ["x", w, b], "conv")
    g.add_node(ops.Relu(), ["conv"], "relu")
    g.add_node(ops.Sigmoid(), ["x"], "sig")
    g.add_node(ops.Sub(), [g.add_constant("minus_one", np.full((1, 1, 1, 1), -1.0, np.float32)), "sig"], "neg")
    g.outputs = ["relu", "neg"]
    return g


def _samples(n: int, seed: int = 0) -> list[dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    return [{"x": (rng.standard_normal((1, 4, 4, 2)) + 0.5).astype(np.float32)} for _ in range(n)]


def test_one_minmax_range_per_float_value_widened_to_zero():
    g, samples = _graph(), _samples(5)
    result = calibrate(g, samples)
    seen: dict[str, list[np.ndarray]] = {}
    for s in samples:
        run_float(g, s, on_value=lambda k, v: seen.setdefault(k, []).append(v.copy()))
    assert sorted(result.ranges) == ["conv", "neg", "relu", "sig", "x"]   # no constants
    for v, arrays in seen.items():
        lo, hi = min(float(a.min()) for a in arrays), max(float(a.max()) for a in arrays)
        assert result.ranges[v] == (min(lo, 0.0), max(hi, 0.0)), v
    assert result.ranges["relu"][0] == 0.0 and result.ranges["relu"][1] > 0
    assert result.ranges["neg"][1] == 0.0 and result.ranges["neg"][0] < -1.5   # all negative: hi widened
    assert (result.samples, result.method) == (5, "minmax")


def test_more_samples_widen_the_ranges():
    g = _graph()
    nine = {"x": np.full((1, 4, 4, 2), 9.0, np.float32)}
    few, many = calibrate(g, _samples(1)), calibrate(g, _samples(1) + [nine])
    assert many.ranges["x"] == (few.ranges["x"][0], 9.0)


def test_histogram_methods_stay_inside_the_observed_range():
    g, samples = _graph(), _samples(4)
    minmax = calibrate(g, samples).ranges
    pct = calibrate(g, samples, "percentile", percentile=99.0)
    assert pct.method == "percentile"
    for v, (lo, hi) in pct.ranges.items():
        assert minmax[v][0] <= lo <= 0.0 <= hi <= minmax[v][1], v
    assert pct.ranges["conv"] != minmax["conv"]        # 1% of the mass really was clipped


def test_empty_calibration_set_is_an_error():
    with pytest.raises(InputError, match="calibration set is empty"):
        calibrate(_graph(), [])
    with pytest.raises(InputError, match="calibration set is empty"):
        calibrate(_graph(), iter(()))


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_nan_or_inf_sample_names_the_sample_and_input(bad):
    samples = _samples(3)
    samples[1]["x"] = samples[1]["x"].copy()
    samples[1]["x"][0, 2, 1, 0] = bad
    with pytest.raises(InputError, match=r"calibration sample 1 of input 'x' contains NaN or Inf"):
        calibrate(_graph(), samples)


def test_nan_inside_the_graph_names_the_tensor():
    g = Graph(name="root")
    g.add_input("x", TensorType((2, 3), F))
    g.add_node(ops.Sqrt(), ["x"], "root")
    g.outputs = ["root"]
    with pytest.raises(CalibrationError, match="tensor 'root' has NaN values"):
        calibrate(g, [{"x": np.array([[1, 4, 9], [-1, 0, 2]], np.float32)}])


def test_progress_is_called_once_per_sample():
    calls: list[tuple[int, int | None]] = []
    calibrate(_graph(), _samples(3), total=3, progress=lambda done, total: calls.append((done, total)))
    assert calls == [(1, 3), (2, 3), (3, 3)]
    calls.clear()
    calibrate(_graph(), (s for s in _samples(2)), progress=lambda done, total: calls.append((done, total)))
    assert calls == [(1, None), (2, None)]
