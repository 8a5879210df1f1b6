"""The proxy puts a value that keeps its input's grid (MaxPool, Reshape, ...) on its source's grid.

A detector's peak test `Where(Equal(MaxPool(heat), heat), heat, 0)` holds exactly in the int8 graph
(MaxPool keeps heat's grid), so rounding MaxPool's output alone, a graph qcomp never builds, would
score it as the worst tensor of the model (accuracy/proxy.py docstring).
"""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import qcomp
from qcomp.accuracy import proxy
from qcomp.accuracy.kinds import candidates
from qcomp.builder import BuildOptions, calibrate_model, quantize_model


def _model(path) -> None:
    rng = np.random.default_rng(3)
    w = rng.normal(0, 0.5, (1, 1, 3, 3)).astype(np.float32)
    inits = [numpy_helper.from_array(w, "w"), numpy_helper.from_array(np.zeros(1, np.float32), "b"),
             numpy_helper.from_array(np.zeros((), np.float32), "zero")]
    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["logit"], name="conv", pads=[1, 1, 1, 1]),
        helper.make_node("Sigmoid", ["logit"], ["heat"], name="sigmoid"),
        helper.make_node("MaxPool", ["heat"], ["peak"], name="pool", kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Equal", ["peak", "heat"], ["is_peak"], name="equal"),
        helper.make_node("Where", ["is_peak", "heat", "zero"], ["y"], name="where"),
    ]
    graph = helper.make_graph(nodes, "peaks", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 16, 16])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1, 16, 16])], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)


@pytest.fixture(scope="module")
def peaks(tmp_path_factory):
    d = tmp_path_factory.mktemp("peaks")
    _model(d / "peaks.onnx")
    x = np.random.default_rng(4).normal(0, 2, (16, 1, 1, 16, 16)).astype(np.float32)
    np.savez(d / "calib.npz", x=x.reshape(16, 1, 16, 16))
    g = qcomp.load_model(d / "peaks.onnx")
    options = BuildOptions(calib=str(d / "calib.npz"))
    calibrated = calibrate_model(g, options)
    q, _ = quantize_model(g, options, calibrated=calibrated)
    return calibrated.graph, q, [{"x": x[i]} for i in range(2)]


def test_a_same_grid_value_is_measured_on_its_source(peaks):
    gf, q, samples = peaks
    peak = next(n.outputs[0] for n in gf.nodes if n.kind == "MaxPool2D")
    heat = next(n.inputs[0] for n in gf.nodes if n.kind == "MaxPool2D")
    assert proxy.grid_source(gf, peak) == heat and proxy.grid_source(gf, heat) == heat
    every = candidates(gf, q, {})
    assert peak in every and heat in every
    errors = proxy.grid_errors(gf, q, every, samples)
    assert errors[peak] == errors[heat]
    # rounding the MaxPool output alone (what the proxy did before): most peaks are lost
    grid = proxy.grids(gf, q, [heat])[heat]
    env = proxy._values(gf, dict(samples[0]))
    alone = proxy._rerun(gf, env, peak, proxy.fake_quantize(env[peak], grid), proxy.downstream(gf, peak), ["y"])
    on_source = proxy._rerun(gf, env, heat, proxy.fake_quantize(env[heat], grid), proxy.downstream(gf, heat), ["y"])
    lost_alone = np.mean((alone["y"] == 0) & (env["y"] != 0))
    lost_on_source = np.mean((on_source["y"] == 0) & (env["y"] != 0))
    assert lost_alone > 0.05 and lost_on_source == 0, (lost_alone, lost_on_source)
    assert errors[heat] < 0.2, errors
