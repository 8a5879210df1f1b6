"""The residual outlier rule (passes/outlier16.py, split_outliers.py): which values become int16 and
why, that it is off for homogeneous channels, with --residual-outliers int8 and for skipped nodes,
that it is more exact than int8 on a residual block with an outlier channel, and that x86-vnni is
bit-exact to ref with it on. The block is BERT's feed-forward half: LayerNorm(x + Dense2(Tanh(Dense1(x)))),
one output channel of Dense2 amplified (all-MiniLM-L6-v2's channel 99, at 100x its siblings):
split_outliers moves that channel off Dense2's int8 GEMM onto a K x 1 int16 one."""
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


def test_outlier_channel_is_split_off_and_the_residual_sum_is_int16_by_default(models):
    root, _ = models
    art = qcomp.build(root / "outlier.onnx", target="ref", calib=root / "calib.npz", out=root / "on")
    # the residual sum, its two Adds, the outlier channel's own Dense and the one placing it back
    wide = _int16_nodes(art)
    assert wide >= {"residual", "residual/main", "dense2/outliers", "dense2/place"}
    assert not wide & {"dense1", "dense2/main", "act", "head"}           # the big GEMMs and the Tanh stay int8
    g = load_graph(art / "model.qir")
    assert g.types[g.node("dense2/main").outputs[0]].dtype.value == "i8"   # the K x C GEMM stays int8
    assert g.types[g.node("dense2/outliers").outputs[0]].shape[-1] == 1
    manifest = qcomp.load(art).manifest["calibration"]
    assert manifest["residual_outliers"] == {"dtype": "int16", "values": 4}
    assert any(n.startswith("split_outliers: 1 residual Dense") for n in manifest["notes"])
    off = qcomp.build(root / "outlier.onnx", target="ref", calib=root / "calib.npz", out=root / "off",
                      residual_outliers="int8")
    assert _int16_nodes(off) == set()
    assert not any(n.name.startswith("dense2/") for n in load_graph(off / "model.qir").nodes)
    with pytest.raises(QcompError, match="--residual-outliers 'int4'"):
        qcomp.build(root / "outlier.onnx", target="ref", calib=root / "calib.npz", out=root / "bad",
                    residual_outliers="int4")


def test_homogeneous_channels_stay_int8(models):
    root, _ = models
    art = qcomp.build(root / "plain.onnx", target="ref", calib=root / "calib.npz", out=root / "plain")
    assert _int16_nodes(art) == set()
    assert "residual_outliers" not in qcomp.load(art).manifest["calibration"]


def _calibrated(root):
    from qcomp import api
    from qcomp.builder import BuildOptions, calibration_inputs, float_graph
    from qcomp.calibdata import load_calibration
    from qcomp.passes.calibrate import calibrate
    from qcomp.passes.outlier16 import observed_values
    g0 = api.load_model(root / "outlier.onnx")
    g = float_graph(g0, BuildOptions())
    data = load_calibration(root / "calib.npz", calibration_inputs(g0)[0])
    return g, calibrate(g, data, channel_absmax_of=observed_values(g)).channel_absmax


def test_rule_reads_the_calibrated_ratio_and_leaves_skipped_nodes_alone(models):
    root, _ = models
    g, absmax = _calibrated(root)
    [(s, add)] = residual_sums(g)
    assert outlier_ratio(absmax[s]) >= OUTLIER_RATIO and int(np.argmax(absmax[s])) == OUTLIER
    marks = outlier16_values(g, absmax)      # unsplit: the sum, the Dense (its bias Add folded in), the Tanh
    assert s in marks and len(marks) == 3
    assert outlier16_values(g, absmax, skip={add.name}) == frozenset()
    tame = {v: np.ones_like(a) for v, a in absmax.items()}
    assert outlier16_values(g, tame) == frozenset()


def test_split_is_the_same_function_in_float(models):
    from qcomp.passes.split_outliers import outlier_channels, split_outliers
    from qcomp.ref import run_float
    root, held = models
    g, absmax = _calibrated(root)
    [(s, add)] = residual_sums(g)
    operand = next(v for v in add.inputs if v != "x")
    assert list(outlier_channels(absmax[operand])) == [OUTLIER]
    notes: list[str] = []
    split = split_outliers(g, absmax, log=notes)
    assert split is not g and len(notes) == 1
    assert {n.name for n in split.nodes} >= {"dense2/main", "dense2/outliers", "dense2/place", "residual/main"}
    w_main = split.constants[split.node("dense2/main").inputs[1]]
    assert not w_main[OUTLIER].any() and w_main[OUTLIER - 1].any()
    np.testing.assert_allclose(run_float(split, held)["y"], run_float(g, held)["y"], rtol=1e-5, atol=1e-5)
    assert split_outliers(g, {v: np.ones_like(a) for v, a in absmax.items()}) is g


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
    assert _int16_nodes(art) >= {"residual", "dense2/outliers"}
    np.testing.assert_array_equal(qcomp.load(art).run(held, raw=True)["y"],
                                  qcomp.load(root / "on").run(held, raw=True)["y"])


@pytest.mark.parametrize("method", ["minmax", "percentile"])
def test_rewritten_graph_ranges_equal_a_calibration_of_it(models, method):
    """minmax: the new values' ranges come from the first calibration's per-channel extents (no
    second pass); other methods calibrate the rewritten graph. Either way they are its own ranges."""
    from qcomp import api
    from qcomp.builder import BuildOptions, calibrate_model, calibration_inputs
    from qcomp.calibdata import load_calibration
    from qcomp.passes.calibrate import calibrate
    root, _ = models
    g0 = api.load_model(root / "outlier.onnx")
    cal = calibrate_model(g0, BuildOptions(calib=str(root / "calib.npz"), calib_method=method))
    assert any(n.name == "dense2/place" for n in cal.graph.nodes)
    again = calibrate(cal.graph, load_calibration(root / "calib.npz", calibration_inputs(g0)[0]), method)
    for v in ("dense2/main", "dense2/outliers", "residual/main", "residual"):
        value = cal.graph.node(v).outputs[0]
        np.testing.assert_allclose(cal.result.ranges[value], again.ranges[value], rtol=1e-5, atol=1e-6, err_msg=v)
