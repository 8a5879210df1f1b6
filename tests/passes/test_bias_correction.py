"""Bias correction removes the mean output shift that weight quantization causes."""
import numpy as np

from qcomp.ir import DType, Graph, TensorType, ops
from qcomp.passes.calibrate import calibrate
from qcomp.passes.lower_integer import lower_integer
from qcomp.passes.quantize import QuantOptions, bias_correction, quantize
from qcomp.ref import run_float, run_integer


def _dense_graph(rng) -> Graph:
    g = Graph()
    g.add_input("x", TensorType((4, 64), DType.FLOAT32))
    # one large weight per row makes the per-tensor scale coarse for the small ones
    w = rng.normal(0, 0.02, (16, 64)).astype(np.float32)
    w[:, 0] = 3.0
    g.add_node(ops.Dense(), ["x", g.add_constant("w", w), g.add_constant("b", np.zeros(16, np.float32))], "fc")
    g.outputs = ["fc"]
    return g


def _mean_error(g, corrected: bool, rng) -> float:
    samples = [{"x": (rng.normal(2.0, 0.5, (4, 64))).astype(np.float32)} for _ in range(16)]
    cal = calibrate(g, samples, channel_means_of=frozenset({"x"}))
    q = quantize(g, cal.ranges, QuantOptions(per_channel=False, bias_correction=corrected), cal.channel_means)
    t = lower_integer(q)
    errs = [run_integer(t, s)["fc"] - run_float(g, s)["fc"] for s in samples]
    return float(np.abs(np.mean(errs, axis=(0, 1))).mean())


def test_bias_correction_reduces_the_mean_error():
    plain = _mean_error(_dense_graph(np.random.default_rng(0)), False, np.random.default_rng(1))
    corrected = _mean_error(_dense_graph(np.random.default_rng(0)), True, np.random.default_rng(1))
    assert corrected < 0.5 * plain, (plain, corrected)


def test_correction_formula_for_grouped_conv():
    rng = np.random.default_rng(2)
    w = rng.standard_normal((6, 3, 3, 2))
    w_dq = np.round(w * 4) / 4
    mean = rng.standard_normal(6)  # 3 groups of 2 input channels
    delta = bias_correction(ops.Conv2D(group=3), w, w_dq, mean)
    for o in range(6):
        grp = o // 2
        expected = sum((w - w_dq)[o, i, j, c] * mean[grp * 2 + c] for i in range(3) for j in range(3) for c in range(2))
        assert np.isclose(delta[o], expected)
    assert bias_correction(ops.ConvTranspose2D(), w, w_dq, mean) is None


def test_all_zero_input_keeps_the_bias():
    """An input calibrated as all zeros gets scale 0; the layer's output must still be its bias."""
    g = Graph()
    g.add_input("x", TensorType((1, 8), DType.FLOAT32))
    w = np.random.default_rng(3).standard_normal((4, 8)).astype(np.float32)
    b = np.array([0.5, -1.0, 2.0, 0.0], np.float32)
    g.add_node(ops.Dense(), ["x", g.add_constant("w", w), g.add_constant("b", b)], "fc")
    g.outputs = ["fc"]
    zeros = {"x": np.zeros((1, 8), np.float32)}
    cal = calibrate(g, [zeros])
    assert cal.ranges["x"] == (0.0, 0.0)
    t = lower_integer(quantize(g, cal.ranges))
    np.testing.assert_allclose(run_integer(t, zeros)["fc"][0], b, atol=0.02)


def test_dead_channel_with_a_bias_gets_a_wider_weight_scale():
    """A channel with tiny weights and a real bias would need a bias beyond int32 at s_in * s_w:
    its weight scale widens instead, and the output is still the bias."""
    g = Graph()
    g.add_input("x", TensorType((1, 8), DType.FLOAT32))
    w = np.random.default_rng(4).standard_normal((3, 8)).astype(np.float32)
    w[1] = 1e-20
    b = np.array([0.0, 1.5, 0.0], np.float32)
    g.add_node(ops.Dense(), ["x", g.add_constant("w", w), g.add_constant("b", b)], "fc")
    g.outputs = ["fc"]
    x = {"x": np.random.default_rng(5).standard_normal((1, 8)).astype(np.float32)}
    cal = calibrate(g, [x])
    t = lower_integer(quantize(g, cal.ranges))
    np.testing.assert_allclose(run_integer(t, x)["fc"][0, 1], 1.5, atol=0.05)
