"""A small CNN classifier ending in Softmax (made with onnx.helper, seeded weights), built for dsp-c and
cortex-m4, which refused it before the integer Softmax: both `--raw` outputs (logits and the int8
probabilities) equal the ref target's exactly; the probabilities are within 1 LSB of the float
softmax of the int8 logits on the 1/256 grid, within 1/256 of the float region (the same model with
--skip softmax), and pick the float model's class."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import qcomp
from qcomp.ir.serialize import load_graph
from qcomp.passes.lower_integer import lower_integer
from qcomp.target import get_target, host_support

SAMPLES = 64


def classifier(path: Path) -> Path:
    """1x1x16x16 -> Conv 8 3x3 + Relu -> MaxPool 2 -> Conv 16 3x3 + Relu -> GlobalAveragePool -> Flatten
    -> Gemm 10 (logits) -> Softmax (probs)."""
    rng = np.random.default_rng(0)

    def init(name, shape, fan_in):
        return numpy_helper.from_array((rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(np.float32), name)

    inits = [init("w1", (8, 1, 3, 3), 9), init("b1", (8,), 9), init("w2", (16, 8, 3, 3), 72), init("b2", (16,), 72),
             init("w3", (10, 16), 16), init("b3", (10,), 16)]
    n = helper.make_node
    nodes = [n("Conv", ["x", "w1", "b1"], ["c1"], name="conv1", pads=[1, 1, 1, 1]), n("Relu", ["c1"], ["r1"]),
             n("MaxPool", ["r1"], ["p1"], kernel_shape=[2, 2], strides=[2, 2]),
             n("Conv", ["p1", "w2", "b2"], ["c2"], name="conv2", pads=[1, 1, 1, 1]), n("Relu", ["c2"], ["r2"]),
             n("GlobalAveragePool", ["r2"], ["g"]), n("Flatten", ["g"], ["f"]),
             n("Gemm", ["f", "w3", "b3"], ["logits"], name="fc", transB=1),
             n("Softmax", ["logits"], ["probs"], name="softmax", axis=1)]
    graph = helper.make_graph(nodes, "classifier",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 16, 16])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 10]),
                               helper.make_tensor_value_info("probs", TensorProto.FLOAT, [1, 10])], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return path


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    base = tmp_path_factory.mktemp("softmax_model")
    model = classifier(base / "classifier.onnx")
    rng = np.random.default_rng(1)
    np.save(base / "calib.npy", rng.standard_normal((16, 1, 1, 16, 16)).astype(np.float32))
    feeds = [{"x": rng.standard_normal((1, 1, 16, 16)).astype(np.float32)} for _ in range(SAMPLES)]
    arts = {t: qcomp.build(model, target=t, calib=base / "calib.npy", out=base / t)
            for t in ("ref", "dsp-c", "cortex-m4") if t == "ref" or host_support(get_target(t)).can_run}
    arts["float softmax"] = qcomp.build(model, target="ref", calib=base / "calib.npy", out=base / "float_softmax",
                                        skip=("softmax",))
    ref = qcomp.load(arts["ref"])
    return model, arts, feeds, [ref.run(f, raw=True) for f in feeds]


def test_the_lowered_graph_ends_in_the_integer_softmax(built):
    _, arts, _, _ = built
    kinds = [n.kind for n in lower_integer(load_graph(arts["ref"] / "model.qir")).nodes]
    assert "QSoftmax" in kinds and "Softmax" not in kinds


@pytest.mark.parametrize("target, count", [("dsp-c", SAMPLES), ("cortex-m4", 3)])
def test_c_targets_equal_the_reference_bit_for_bit(built, target, count):
    _, arts, feeds, want = built
    if target not in arts:
        pytest.skip(f"target {target}: {host_support(get_target(target)).why}")
    art = qcomp.load(arts[target])
    for f, w in zip(feeds[:count], want[:count]):
        got = art.run(f, raw=True)
        for name in ("logits", "probs"):
            np.testing.assert_array_equal(got[name], w[name], err_msg=f"{target}: {name}")


def test_probabilities_are_within_one_lsb_of_the_float_softmax(built):
    model, arts, feeds, want = built
    outputs = {t["name"]: t["quant"] for t in qcomp.load(arts["ref"]).manifest["outputs"]}
    assert outputs["probs"] == {"scale": 1 / 256, "zero_point": -128} or \
        (np.isclose(outputs["probs"]["scale"], 1 / 256) and outputs["probs"]["zero_point"] == -128)
    s, zp = outputs["logits"]["scale"], outputs["logits"]["zero_point"]
    float_region, float_model = qcomp.load(arts["float softmax"]), qcomp.load_model(model)
    worst, worst_region, top1 = 0, 0.0, 0
    for f, w in zip(feeds, want):
        z = (w["logits"].astype(np.float64) - zp) * s
        p = np.exp(z - z.max()) / np.exp(z - z.max()).sum()
        probs = w["probs"].astype(np.int64)
        worst = max(worst, int(np.abs(probs - np.clip(np.rint(p * 256) - 128, -128, 127)).max()))
        worst_region = max(worst_region, float(np.abs((probs + 128) / 256 - float_region.run(f)["probs"]).max()))
        top1 += int(np.argmax(probs) == np.argmax(qcomp.run_float(float_model, f)["probs"]))
    assert worst <= 1
    assert worst_region <= 1 / 256 and top1 >= SAMPLES - 2, (worst_region, top1)
    assert len({int(v) for w in want for v in w["probs"].ravel()}) >= 20    # not a degenerate output


def test_a_softmax_outside_the_spec_is_refused_naming_the_limit():
    """An input scale with beta * s_in <= 2^-26 keeps the Softmax in float (quantize); the C backend's
    check names the node and why the integer Softmax could not take it (rows over 4095: see
    test_names_and_abi.py)."""
    from qcomp.codegen import c
    from qcomp.ir import DType, Graph, TensorType, ops
    from qcomp.passes.quantize import quantize

    g = Graph(name="tiny")
    g.add_input("x", TensorType((2, 10), DType.FLOAT32))
    g.add_node(ops.Relu(), ["x"], "relu")                       # int8 (a Lut), then the float Softmax
    g.add_node(ops.Softmax(axis=1), ["relu"], "tiny softmax")
    g.outputs = ["tiny softmax"]
    target = lower_integer(quantize(g, {"x": (0.0, 1e-6), "relu": (0.0, 1e-6)}))
    problems = {p.node: p for p in c.check(target, get_target("dsp-c"))}   # and the Dequantize before it
    advice = problems["tiny softmax"].advice
    assert "integer Softmax cannot run it" in advice and "below 2^-26" in advice and "float math" in advice
