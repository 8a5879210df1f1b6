"""smooth_layernorm (passes/smooth_layernorm.py): a LayerNorm with an outlier channel read by a
Dense and by a residual Add. The Dense reads a second LayerNorm (gamma, beta / sigma) with its
weight columns times sigma, the Add the original; the float outputs are unchanged (to float32
rounding); nothing changes without outliers or without a Dense reader; and the int8 build of the
smoothed graph is closer to float than the unsmoothed one's."""
from __future__ import annotations

import numpy as np
import pytest

from qcomp.ir import Graph, TensorType, ops, verify
from qcomp.passes.calibrate import calibrate
from qcomp.passes.lower_integer import lower_integer
from qcomp.passes.quantize import quantize
from qcomp.passes.smooth_layernorm import smooth_layernorm, smoothable, smoothing_factors, smoothing_refused
from qcomp.ref import run_float, run_integer

from .helpers import F

ROWS, C = 16, 32
OUTLIER = 7


def _graph(gain: float, dense_reader: bool = True) -> Graph:
    rng = np.random.default_rng(0)
    g = Graph(name="ln_dense")
    g.add_input("x", TensorType((1, ROWS, C), F))
    gamma = (1 + 0.1 * rng.standard_normal(C)).astype(np.float32)
    gamma[OUTLIER] *= gain
    gm = g.add_constant("gamma", gamma)
    bt = g.add_constant("beta", (0.1 * rng.standard_normal(C)).astype(np.float32))
    g.add_node(ops.LayerNorm(2, 1e-5), ["x", gm, bt], "ln")
    w = g.add_constant("w", (0.2 * rng.standard_normal((C, C))).astype(np.float32))
    b = g.add_constant("b", (0.1 * rng.standard_normal(C)).astype(np.float32))
    if dense_reader:
        g.add_node(ops.Dense(), ["ln", w, b], "dense")
    else:
        g.add_node(ops.Mul(), ["ln", "ln"], "dense")
    g.add_node(ops.Add(), ["dense", "ln"], "residual")
    g.add_node(ops.LayerNorm(2, 1e-5), ["residual", "gamma", "beta"], "out")
    g.outputs = ["out", "dense"]
    return verify(g)


def _samples(n: int, seed: int):
    rng = np.random.default_rng(seed)
    return [{"x": rng.standard_normal((1, ROWS, C)).astype(np.float32)} for _ in range(n)]


def _absmax(g: Graph) -> dict[str, np.ndarray]:
    return calibrate(g, _samples(8, 1), channel_absmax_of=frozenset(smoothable(g))).channel_absmax


def test_dense_reads_a_smoothed_layernorm_and_the_residual_the_original():
    g = _graph(30.0)
    absmax = _absmax(g)
    assert int(np.argmax(absmax["ln"])) == OUTLIER
    notes: list[str] = []
    s = verify(smooth_layernorm(g, absmax, log=notes))
    assert s is not g and notes and "1 LayerNorm outputs" in notes[0]
    dense, residual = s.node("dense"), s.node("residual")
    smooth = next(n for n in s.nodes if n.outputs[0] == dense.inputs[0])
    assert isinstance(smooth.op, ops.LayerNorm) and smooth.name == "ln_smooth" and "ln" in residual.inputs
    sigma = smoothing_factors(absmax["ln"], [g.constants["w"]])
    assert sigma[OUTLIER] == pytest.approx(np.sqrt(absmax["ln"][OUTLIER] / np.abs(g.constants["w"][:, OUTLIER]).max()))
    np.testing.assert_allclose(s.constants[smooth.inputs[1]], g.constants["gamma"] / sigma, rtol=1e-6)
    np.testing.assert_allclose(s.constants[dense.inputs[1]], g.constants["w"] * sigma[None, :], rtol=1e-6)
    for feeds in _samples(3, 2):
        for o in g.outputs:
            np.testing.assert_allclose(run_float(s, feeds)[o], run_float(g, feeds)[o], rtol=1e-4, atol=1e-4)


def test_nothing_to_smooth_returns_the_graph():
    g = _graph(1.0)
    assert smooth_layernorm(g, _absmax(g)) is g                  # channels alike: ratio below 4
    g2 = _graph(30.0, dense_reader=False)
    assert smoothable(g2) == {} and smooth_layernorm(g2, _absmax(g2)) is g2


def _int8_cosine(g: Graph, held) -> float:
    """The cosine of the Dense's int8 output against float, over the held-out samples."""
    ranges = calibrate(g, _samples(8, 1)).ranges
    t = lower_integer(quantize(g, ranges))
    assert smoothing_refused(g, ranges) is None
    a = np.concatenate([run_integer(t, f)["dense"].ravel() for f in held]).astype(np.float64)
    b = np.concatenate([run_float(g, f)["dense"].ravel() for f in held]).astype(np.float64)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_smoothing_makes_int8_closer_to_float():
    g = _graph(30.0)
    s = smooth_layernorm(g, _absmax(g))
    held = _samples(4, 3)
    plain, smoothed = _int8_cosine(g, held), _int8_cosine(s, held)
    assert 1 - smoothed < (1 - plain) / 2, (plain, smoothed)


def _onnx_model(gain: float):
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    g = _graph(gain)
    inits = [numpy_helper.from_array(np.asarray(g.constants[k], np.float32), k) for k in ("gamma", "beta", "b")]
    inits.append(numpy_helper.from_array(np.ascontiguousarray(g.constants["w"].T), "wt"))   # MatMul's [K, N]
    nodes = [helper.make_node("LayerNormalization", ["x", "gamma", "beta"], ["ln"], name="ln", axis=-1),
             helper.make_node("MatMul", ["ln", "wt"], ["mm"], name="mm"),
             helper.make_node("Add", ["mm", "b"], ["dense"], name="bias"),
             helper.make_node("Add", ["dense", "ln"], ["residual"], name="residual"),
             helper.make_node("LayerNormalization", ["residual", "gamma", "beta"], ["out"], name="out", axis=-1)]
    shape = (1, ROWS, C)
    graph = helper.make_graph(nodes, "ln_dense", [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
                              [helper.make_tensor_value_info("out", TensorProto.FLOAT, shape)], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_build_smooths_by_default_and_not_with_residual_outliers_int8(tmp_path):
    import onnx

    import qcomp
    from qcomp.ir.serialize import load_graph
    onnx.save(_onnx_model(30.0), tmp_path / "m.onnx")
    np.savez(tmp_path / "calib.npz", x=np.concatenate([s["x"] for s in _samples(8, 1)]))
    on = qcomp.build(tmp_path / "m.onnx", target="ref", calib=tmp_path / "calib.npz", out=tmp_path / "on")
    assert any(n.name.endswith("_smooth") for n in load_graph(on / "model.qir").nodes)
    assert any("smooth_layernorm: 1 LayerNorm" in s for s in qcomp.load(on).manifest["calibration"]["notes"])
    off = qcomp.build(tmp_path / "m.onnx", target="ref", calib=tmp_path / "calib.npz", out=tmp_path / "off",
                      residual_outliers="int8")
    assert not any(n.name.endswith("_smooth") for n in load_graph(off / "model.qir").nodes)
