"""A value read only by Softmax keeps at most SOFTMAX_SPAN below the smallest row maximum seen in
calibration (calibrate.py):
an attention mask added before the Softmax (-10000 on padded positions) must not stretch the int8 grid
of the scores."""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

import qcomp
import qcomp.passes.calibrate as calibrate_mod
from qcomp.ir import DType, Graph, TensorType, ops
from qcomp.passes.calibrate import SOFTMAX_SPAN, calibrate

F = DType.FLOAT32
SHAPE, MASK_SHAPE = (1, 2, 8, 16), (1, 1, 1, 16)


def _samples(n: int = 6, seed: int = 3) -> list[dict[str, np.ndarray]]:
    """Scores in about [-6, 6]; the mask keeps the first 4 to 9 positions (0) and adds -10000 to the rest."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        mask = np.full(MASK_SHAPE, -10000.0, np.float32)
        mask[..., : int(rng.integers(4, 10))] = 0.0
        out.append({"scores": rng.normal(0.0, 2.0, SHAPE).astype(np.float32), "mask": mask})
    return out


def _graph() -> Graph:
    """scores + mask -> Softmax (the masked sum is read only by it); scores also feed a Relu output."""
    g = Graph(name="span")
    g.add_input("scores", TensorType(SHAPE, F))
    g.add_input("mask", TensorType(MASK_SHAPE, F))
    g.add_node(ops.Add(), ["scores", "mask"], "masked")
    g.add_node(ops.Softmax(axis=3), ["masked"], "p")
    g.outputs = ["p"]
    return g


def test_a_value_read_only_by_softmax_keeps_the_span_below_its_maximum():
    r = calibrate(_graph(), _samples(), "minmax")
    lo, hi = r.ranges["masked"]
    floor = min(float((s["scores"] + s["mask"]).max(axis=3).min()) for s in _samples())   # smallest row max
    assert hi > 0 and lo == pytest.approx(min(0.0, floor - SOFTMAX_SPAN)) and lo > -100
    assert r.methods["masked"] == "minmax+softmax-span"
    assert r.ranges["mask"][0] == pytest.approx(-10000.0)          # read by Add: its own range
    assert not any("'masked'" in w for w in r.warnings)             # deliberate, not warned about


def test_a_value_with_another_reader_keeps_its_calibrated_range():
    g = _graph()
    g.add_node(ops.Relu(), ["masked"], "r")
    g.outputs = ["p", "r"]
    r = calibrate(g, _samples(), "minmax")
    assert r.ranges["masked"][0] == pytest.approx(-10000.0, rel=1e-3) and r.methods["masked"] == "minmax"


def _onnx_model(path):
    nodes = [helper.make_node("Add", ["scores", "mask"], ["masked"], name="add"),
             helper.make_node("Softmax", ["masked"], ["p"], name="softmax", axis=-1)]
    graph = helper.make_graph(nodes, "span", [helper.make_tensor_value_info("scores", TensorProto.FLOAT, SHAPE),
                                              helper.make_tensor_value_info("mask", TensorProto.FLOAT, MASK_SHAPE)],
                              [helper.make_tensor_value_info("p", TensorProto.FLOAT, SHAPE)])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)


def _int8_error(tmp_path, tag: str) -> float:
    model, calib = tmp_path / "span.onnx", tmp_path / "calib.npz"
    _onnx_model(model)
    samples = _samples()
    np.savez(calib, **{k: np.concatenate([s[k] for s in samples]) for k in samples[0]})
    art = qcomp.build(model, target="ref", calib=calib, out=tmp_path / f"span.{tag}")
    loaded = qcomp.load(art)
    import onnxruntime as ort
    session = ort.InferenceSession(str(model), providers=["CPUExecutionProvider"])
    worst = 0.0
    for feeds in _samples(4, seed=11):
        want = session.run(["p"], feeds)[0]
        worst = max(worst, float(np.abs(loaded.run(feeds)["p"] - want).max()))
    return worst


def test_masked_softmax_int8_follows_float_with_the_span_and_not_without(tmp_path, monkeypatch):
    with_span = _int8_error(tmp_path, "span")
    monkeypatch.setattr(calibrate_mod, "SOFTMAX_SPAN", float("inf"))
    without = _int8_error(tmp_path, "full")
    assert with_span < 0.05, with_span          # probabilities within a few int8 output steps
    assert without > 0.2, without               # the -10000 grid: scores in one or two codes
