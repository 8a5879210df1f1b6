"""The residual outlier rule (passes/outlier16.py): which values become int16 and why, that it is
off for homogeneous channels, with --residual-outliers int8 and for skipped nodes, that it is more
exact than int8 on a residual block with an outlier channel, and that x86-vnni is bit-exact to ref
with it on. The block is BERT's feed-forward half: LayerNorm(x + Dense2(Tanh(Dense1(x)))), one
output channel of Dense2 amplified (all-MiniLM-L6-v2's channel 99, at 100x its siblings)."""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import qcomp
from qcomp.errors import QcompError
from qcomp.ir.serialize import load_graph
from qcomp.passes.outlier16 import OUTLIER_RATIO, outlier16_values, outlier_ratio, residual_sums
from qcomp.target import get_target, host_support

SHAPE = (1, 16, 32)
HIDDEN = 64
OUTLIER = 5          # the amplified output channel of the second Dense


def _block(gain: float) -> onnx.ModelProto:
    rng = np.random.default_rng(0)
    d = SHAPE[-1]
    w1 = rng.normal(0, 0.4, (d, HIDDEN))
    w2 = rng.normal(0, 0.2, (HIDDEN, d))
    w2[:, OUTLIER] *= gain
    inits = [numpy_helper.from_array(np.asarray(a, np.float32), n) for n, a in (
        ("w1", w1), ("b1", rng.normal(0, 0.1, HIDDEN)), ("w2", w2), ("b2", rng.normal(0, 0.1, d)),
        ("gamma", 1 + 0.1 * rng.normal(size=d)), ("beta", 0.1 * rng.normal(size=d)), ("w3", rng.normal(0, 0.3, (d, d))))]
    nodes = [helper.make_node("MatMul", ["x", "w1"], ["m1"], name="dense1"),
             helper.make_node("Add", ["m1", "b1"], ["h1"], name="bias1"),
             helper.make_node("Tanh", ["h1"], ["act"], name="act"),
             helper.make_node("MatMul", ["act", "w2"], ["m2"], name="dense2"),
             helper.make_node("Add", ["m2", "b2"], ["ffn"], name="bias2"),
             helper.make_node("Add", ["ffn", "x"], ["sum"], name="residual"),
             helper.make_node("LayerNormalization", ["sum", "gamma", "beta"], ["ln"], name="norm", axis=-1),
             helper.make_node("MatMul", ["ln", "w3"], ["y"], name="head")]
    graph = helper.make_graph(nodes, "block", [helper.make_tensor_value_info("x", TensorProto.FLOAT, SHAPE)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, SHAPE)], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("outlier16")
    for name, gain in (("outlier", 100.0), ("plain", 1.0)):
        onnx.save(_block(gain), root / f"{name}.onnx")
    rng = np.random.default_rng(1)
    np.savez(root / "calib.npz", x=rng.normal(0, 1, (8,) + SHAPE).astype(np.float32))
    held = {"x": rng.normal(0, 1, SHAPE).astype(np.float32)}
    return root, held


def _int16_nodes(art) -> set[str]:
    g = load_graph(art / "model.qir")
    return {n.name for n in g.nodes if any(g.types[o].dtype.value == "i16" for o in n.outputs)}


def test_outlier_ratio():
    assert outlier_ratio(np.array([1.0, 1.0, 2.0, 100.0, 1.0])) == 100.0
    assert outlier_ratio(np.array([0.0, 0.0, 3.0])) == float("inf")
    assert outlier_ratio(np.zeros(4)) == 0.0 and outlier_ratio(None) == 0.0


def test_residual_sum_dense_chain_and_lut_input_are_int16_by_default(models):
    root, _ = models
    art = qcomp.build(root / "outlier.onnx", target="ref", calib=root / "calib.npz", out=root / "on")
    # the residual Add, the bias Add and Dense of its outlier operand, the Tanh feeding that Dense
    assert _int16_nodes(art) >= {"residual", "bias2", "dense2", "act"}
    assert not _int16_nodes(art) & {"dense1", "bias1", "head"}       # the other GEMMs stay int8
    record = qcomp.load(art).manifest["calibration"]["residual_outliers"]
    assert record == {"dtype": "int16", "values": 4}
    off = qcomp.build(root / "outlier.onnx", target="ref", calib=root / "calib.npz", out=root / "off",
                      residual_outliers="int8")
    assert _int16_nodes(off) == set()
    with pytest.raises(QcompError, match="--residual-outliers 'int4'"):
        qcomp.build(root / "outlier.onnx", target="ref", calib=root / "calib.npz", out=root / "bad",
                    residual_outliers="int4")


def test_homogeneous_channels_stay_int8(models):
    root, _ = models
    art = qcomp.build(root / "plain.onnx", target="ref", calib=root / "calib.npz", out=root / "plain")
    assert _int16_nodes(art) == set()
    assert "residual_outliers" not in qcomp.load(art).manifest["calibration"]


def test_rule_reads_the_calibrated_ratio_and_leaves_skipped_nodes_alone(models):
    root, _ = models
    from qcomp import api
    from qcomp.builder import BuildOptions, calibrate_model
    cal = calibrate_model(api.load_model(root / "outlier.onnx"), BuildOptions(calib=str(root / "calib.npz")))
    g, absmax = cal.graph, cal.result.channel_absmax
    [(s, add)] = residual_sums(g)
    assert outlier_ratio(absmax[s]) >= OUTLIER_RATIO and int(np.argmax(absmax[s])) == OUTLIER
    marks = outlier16_values(g, absmax)
    assert s in marks and len(marks) == 4
    assert outlier16_values(g, absmax, skip={add.name}) == frozenset()
    tame = {v: np.ones_like(a) for v, a in absmax.items()}
    assert outlier16_values(g, tame) == frozenset()


def _cosine(a, b) -> float:
    a, b = a.ravel().astype(np.float64), b.ravel().astype(np.float64)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_int16_residual_is_more_exact_than_int8(models):
    root, held = models
    import onnxruntime as ort
    ref = ort.InferenceSession(str(root / "outlier.onnx"), providers=["CPUExecutionProvider"]).run(None, held)[0]
    on = qcomp.load(root / "on").run(held)["y"]
    off = qcomp.load(root / "off").run(held)["y"]
    c_on, c_off = _cosine(on, ref), _cosine(off, ref)
    assert c_on > 0.995 and 1 - c_on < (1 - c_off) / 4, (c_on, c_off)


def test_x86_vnni_is_bit_exact_to_ref_with_the_rule(models):
    root, held = models
    s = host_support(get_target("x86-vnni"))
    if not (s.can_build and s.can_run):
        pytest.skip(f"this host cannot build and run x86-vnni: {s.why}")
    art = qcomp.build(root / "outlier.onnx", target="x86-vnni", calib=root / "calib.npz", out=root / "vnni")
    assert _int16_nodes(art) >= {"residual", "dense2"}
    np.testing.assert_array_equal(qcomp.load(art).run(held, raw=True)["y"],
                                  qcomp.load(root / "on").run(held, raw=True)["y"])
