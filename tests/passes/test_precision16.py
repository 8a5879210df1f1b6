"""`--precision NAME=int16` (A16W8) from the command line, the TOML config and the API, its error
paths, and what it buys: on a small CNN whose one tensor has a long-tailed range (rare spikes
in one channel set its int8 grid, coarse for the rest), marking that tensor int16 raises
the output cosine vs float over int8, and marking every activation int16 reaches 0.999."""
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import qcomp
from qcomp.api import load_config
from qcomp.builder import BuildOptions, quantize_model
from qcomp.errors import QcompError, UnsupportedModelError
from qcomp.ir import DType, Graph, TensorType, ops, verify
from qcomp.passes.calibrate import calibrate
from qcomp.passes.lower_integer import lower_integer
from qcomp.passes.precision import parse_precision
from qcomp.passes.quantize import QuantOptions, quantize

REPO = Path(__file__).resolve().parents[2]
EX = REPO / "examples" / "fashion_mnist"
F = DType.FLOAT32
TAIL = "t"   # the long-tailed tensor of the CNN below
SPIKE = 200.0


def _cnn(path: Path) -> list[str]:
    """x[1,3,12,12] -> Conv 3x3 (8 ch) -> Relu = t -> Conv 3x3 (8 ch) -> Relu -> Flatten -> Gemm
    -> y[1,5]. Channel 0 of t is a rare spike: relu(SPIKE (z - 2.5 sd)) is non-zero at about 0.5 % of
    the positions, 50x to 200x the other channels there, so it alone sets t's per-tensor range and
    the int8 grid is coarse for the rest; conv2 reads it scaled back (1 / SPIKE), so the spikes stay
    in t. Returns the activation tensor names."""
    rng = np.random.default_rng(0)
    w1 = rng.standard_normal((8, 3, 3, 3)).astype(np.float32) * 0.4
    b1 = rng.standard_normal(8).astype(np.float32) * 0.1
    sd0 = float(np.sqrt((w1[0] ** 2).sum()))                # channel 0's pre-activation sd (x ~ N(0, 1))
    w1[0] *= SPIKE
    b1[0] = -SPIKE * 2.5 * sd0
    w2 = rng.standard_normal((8, 8, 3, 3)).astype(np.float32) * 0.2
    w2[:, 0] /= SPIKE                                        # the spikes stay in t
    inits = [numpy_helper.from_array(a, n) for a, n in (
        (w1, "w1"), (b1, "b1"), (w2, "w2"),
        (rng.standard_normal(8).astype(np.float32) * 0.1, "b2"),
        (rng.standard_normal((5, 8 * 12 * 12)).astype(np.float32) * 0.05, "w3"), (np.zeros(5, np.float32), "b3"))]
    nodes = [helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1], name="conv1"),
             helper.make_node("Relu", ["c1"], [TAIL], name="relu1"),
             helper.make_node("Conv", [TAIL, "w2", "b2"], ["c2"], pads=[1, 1, 1, 1], name="conv2"),
             helper.make_node("Relu", ["c2"], ["r2"], name="relu2"),
             helper.make_node("Flatten", ["r2"], ["flat"], name="flatten"),
             helper.make_node("Gemm", ["flat", "w3", "b3"], ["y"], transB=1, name="fc")]
    graph = helper.make_graph(nodes, "tailed", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 12, 12])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 5])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, path)
    return ["c1", TAIL, "c2", "r2", "flat", "y"]


@pytest.fixture(scope="module")
def tailed(tmp_path_factory):
    d = tmp_path_factory.mktemp("tailed")
    names = _cnn(d / "model.onnx")
    rng = np.random.default_rng(1)
    np.savez(d / "calib.npz", x=rng.standard_normal((16, 1, 3, 12, 12)).astype(np.float32))
    tests = [rng.standard_normal((1, 3, 12, 12)).astype(np.float32) for _ in range(12)]
    g = qcomp.load_model(d / "model.onnx")
    want = np.concatenate([qcomp.run_float(g, {"x": x})["y"] for x in tests])

    def cosine(precision=(), out="a"):
        art = qcomp.build(d / "model.onnx", "ref", d / "calib.npz", d / out, precision=precision)
        m = qcomp.load(art)
        got = np.concatenate([m.run({"x": x})["y"] for x in tests])
        return float(want.ravel() @ got.ravel() / np.linalg.norm(want) / np.linalg.norm(got)), art
    return d, names, cosine


def test_int16_on_the_tailed_tensor_beats_int8_and_all_int16_reaches_0999(tailed):
    _, names, cosine = tailed
    int8, _ = cosine((), "int8")
    one, art = cosine((f"{TAIL}=int16",), "one")
    every, _ = cosine(tuple(f"{v}=int16" for v in ["x", *names]), "all")
    assert 1 - one < (1 - int8) / 10 and one > int8 + 0.005, (int8, one)   # measured: 0.9914 -> 0.9998
    assert every >= 0.999 and every >= one - 1e-4, (int8, one, every)
    from qcomp.ir.serialize import load_graph
    q = load_graph(art / "model.qir")
    assert q.types[TAIL].dtype is DType.INT16 and float(q.types[TAIL].quant.zero_point[0]) == 0
    assert qcomp.load(art).manifest["calibration"]["precision"] == {TAIL: "int16"}


def test_toml_and_api_give_the_same_int16_quantization(tailed, tmp_path):
    d, _, _ = tailed
    a = qcomp.build(d / "model.onnx", "ref", d / "calib.npz", tmp_path / "api", precision=(f"{TAIL}=int16",))
    cfg = tmp_path / "quant.toml"
    cfg.write_text(f'[precision]\n"{TAIL}" = "int16"\n')
    opts = load_config(cfg)
    assert opts == {"precision": (f"{TAIL}=int16",)}
    b = qcomp.build(d / "model.onnx", "ref", d / "calib.npz", tmp_path / "toml", **opts)
    sha = [qcomp.load(p).manifest["quantized_graph_sha256"] for p in (a, b)]
    assert sha[0] == sha[1]


def test_parse_precision_takes_int16():
    assert parse_precision(["a=int16", "b = INT8", "c=float"]) == {"a": "int16", "b": "int8", "c": "float"}
    assert parse_precision("a=int16") == {"a": "int16"}
    with pytest.raises(QcompError, match="names 'a' twice, as int16 and as int8"):
        parse_precision(["a=int16", "a=int8"])


@pytest.mark.parametrize("options, needle", [
    (dict(precision=("no_such=int16",)), "names no node or tensor of the model: no_such"),
    (dict(precision=("/fc1/Gemm=int16",), skip=("/fc1/Gemm",)), "int16 contradicts --skip /fc1/Gemm"),
    (dict(precision=("/fc1/Gemm=int16",), quant="dynamic"), "needs --quant full"),
])
def test_int16_refusals_are_clear(options, needle):
    with pytest.raises(QcompError, match=needle):
        quantize_model(qcomp.load_model(EX / "model.onnx"), BuildOptions(calib=str(EX / "calib.npz"), calib_size=8,
                                                                        **options))


def test_int16_model_on_dsp_c_is_bit_exact_to_the_reference(tailed, tmp_path):
    """The whole path on an integer-only target: the tailed tensor int16 (A16W8 conv and its
    conversions in C), the same raw integers as the ref build."""
    d, _, _ = tailed
    precision = (f"{TAIL}=int16",)
    ref = qcomp.load(qcomp.build(d / "model.onnx", "ref", d / "calib.npz", tmp_path / "r", precision=precision))
    c = qcomp.load(qcomp.build(d / "model.onnx", "dsp-c", d / "calib.npz", tmp_path / "c", precision=precision))
    x = np.load(d / "calib.npz")["x"]
    for i in range(3):
        want, got = ref.run({"x": x[i]}, raw=True), c.run({"x": x[i]}, raw=True)
        assert want.keys() == got.keys()
        for k in want:
            np.testing.assert_array_equal(got[k], want[k])


def test_int16_on_a_backend_without_the_kernels_is_one_error_naming_the_op(tailed, tmp_path, monkeypatch):
    """A backend that lacks an A16W8 op (here the C backend's table without QConv2D16) refuses the
    int16 nodes by name, before any file is written."""
    from qcomp.codegen import c as cbackend
    from qcomp.ir import qops16
    monkeypatch.delitem(cbackend.EMITTERS, qops16.QConv2D16)
    d, _, _ = tailed
    with pytest.raises(UnsupportedModelError) as e:
        qcomp.build(d / "model.onnx", "dsp-c", d / "calib.npz", tmp_path / "c", precision=(f"{TAIL}=int16",))
    assert "QConv2D16" in str(e.value) and "dsp-c" in str(e.value), str(e.value)
    assert not (tmp_path / "c").exists()


def _lowered(g: Graph, ranges, int16):
    return lower_integer(verify(quantize(verify(g), ranges, QuantOptions(int16=frozenset(int16)))))


def test_int16_matmul_beyond_the_int64_accumulator_is_refused_by_name():
    k = 1 << 17     # K * 2^30 >= 2^47
    g = Graph(name="wide")
    g.add_input("a", TensorType((1, k), F))
    g.add_input("b", TensorType((k, 1), F))
    g.add_node(ops.MatMul(), ["a", "b"], "scores")
    g.outputs = ["scores"]
    ranges = {"a": (-1.0, 1.0), "b": (-1.0, 1.0), "scores": (-4.0, 4.0)}
    with pytest.raises(QcompError, match=r"node 'scores' \(MatMul\) in int16: .*K=131072"):
        _lowered(g, ranges, {"a", "b"})


def test_int16_rescale_beyond_the_int64_requantize_is_refused_by_name():
    """K = 640 takes the int64 accumulator, whose requantize shifts at most 14: an output scale
    2^20 times finer than s_in * s_w cannot be reached."""
    rng = np.random.default_rng(0)
    g = Graph(name="fine")
    g.add_input("x", TensorType((2, 640), F))
    w = g.add_constant("w", rng.standard_normal((4, 640)).astype(np.float32))
    b = g.add_constant("b", np.zeros(4, np.float32))
    g.add_node(ops.Dense(), ["x", w, b], "fc")
    g.outputs = ["fc"]
    with pytest.raises(QcompError, match=r"node 'fc' \(Dense\) in int16: .*shift"):
        _lowered(g, {"x": (-1000.0, 1000.0), "fc": (-1e-6, 1e-6)}, {"x", "fc"})
    calibrated = calibrate(verify(g), [{"x": rng.standard_normal((2, 640)).astype(np.float32)}]).ranges
    kinds = {n.kind for n in _lowered(g, calibrated, {"x"}).nodes}
    assert "QDense16" in kinds    # the same layer with calibrated ranges lowers (acc_bits 64)


def test_bias_correction_and_per_tensor_weights_apply_to_a16w8():
    """Per-tensor weights (coarse for the small rows) shift E[y]; bias correction on the A16W8
    Dense restores it, as for int8: the mean output error over the calibration data shrinks."""
    from qcomp.ref.integer import run_integer
    from qcomp.ref.interpreter import run_float
    rng = np.random.default_rng(3)
    g = Graph(name="bc")
    g.add_input("x", TensorType((8, 48), F))
    w = rng.standard_normal((6, 48)).astype(np.float32) * np.array([[3.0]] + [[0.1]] * 5, np.float32)
    g.add_node(ops.Dense(), ["x", g.add_constant("w", w), g.add_constant("b", np.zeros(6, np.float32))], "fc")
    g.outputs = ["fc"]
    samples = [{"x": (2.0 + rng.standard_normal((8, 48))).astype(np.float32)} for _ in range(8)]
    cal = calibrate(verify(g), samples, channel_means_of=frozenset({"x"}))
    want = np.stack([run_float(g, s)["fc"] for s in samples])
    errors = []
    for correct in (False, True):
        opts = QuantOptions(per_channel=False, bias_correction=correct, int16=frozenset({"x", "fc"}))
        t = lower_integer(verify(quantize(g, cal.ranges, opts, cal.channel_means)))
        assert {n.kind for n in t.nodes} >= {"QDense16"}
        got = np.stack([run_integer(t, s)["fc"] for s in samples])
        errors.append(float(np.abs((got - want).mean(axis=(0, 1))).mean()))
    assert errors[1] < errors[0] / 2, errors


def test_qdq_export_refuses_int16_values(tmp_path):
    from qcomp.frontend.export_qdq import write_qdq
    q, _ = quantize_model(qcomp.load_model(EX / "model.onnx"),
                          BuildOptions(calib=str(EX / "calib.npz"), calib_size=8, precision=("/fc1/Gemm=int16",)))
    with pytest.raises(QcompError, match="exports int8 models only; value '/Relu_2_output_0' is int16"):
        write_qdq(q, tmp_path / "m.onnx")
    assert not (tmp_path / "m.onnx").exists()


def test_int16_on_a_non_float_value_is_refused():
    from qcomp.passes.precision import int16_values
    g = Graph(name="arg")
    g.add_input("x", TensorType((2, 7), F))
    g.add_node(ops.ArgMax(axis=1, keepdims=False), ["x"], "am")
    g.outputs = ["am"]
    assert int16_values(verify(g), {"x": "int16"}) == frozenset({"x"})
    with pytest.raises(QcompError, match="'am' is no float activation"):
        int16_values(g, {"am": "int16"})


def test_refusal_of_an_int16_node_advises_dropping_the_int16_entry():
    from qcomp.protocol import check_nodes
    g = Graph(name="conv")
    g.add_input("x", TensorType((2, 9), F))
    g.add_node(ops.Sigmoid(), ["x"], "sig")
    g.outputs = ["sig"]
    t = _lowered(g, {"x": (-3.0, 3.0), "sig": (0.0, 1.0)}, {"x"})
    problems = check_nodes(t, {}, "none")
    lut = next(p for p in problems if "Lut16" in str(p))
    assert "--precision NAME=int16" in str(lut) and "--skip" not in str(lut), str(lut)
