"""Two quantized models through every backend kind, bit-exact to the integer reference:

- a detector-head-style model: Conv scores (1, 6, 4, 4) -> Reshape (1, 6, 16) anchors, then
  GatherElements (the class channel chosen per anchor), GatherND (a fixed set of anchors), and
  ScatterND (anchors overwritten by a second head's values): all constant indices, so they import
  as one int8 Gather each (frontend/ops_gather.py); and TopK (k 5) of each class's anchor scores,
  on int8 (its int64 indices stay inside: the C ABI has no int64 output);
- a control-flow model: an If on the input's width (a shape, constant once shapes are fixed) and
  a Loop of 3 iterations whose body runs a Conv on the loop-carried value, with the iteration
  number folded into it (frontend/control_flow.py).

Each is built once per module for ref, x86-vnni and dsp-c from one calibration set; every target's
outputs equal ref's, and ref's int8 result follows onnxruntime's float one. (cuda runs the same
int8 Gather in the op-case table, gather_scatter_const_indices, and the mixed-input model of
tests/cli/test_mixed_inputs.py; its emulated build is the slowest, so it is left out here.)
"""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

import qcomp
from qcomp.target import get_target, host_support

from .onnx_util import IR_VERSION, model, run_onnxruntime

TARGETS = ("ref", "x86-vnni", "dsp-c")


def detector_head():
    rng = np.random.default_rng(31)
    inits = {"w": (rng.standard_normal((6, 3, 3, 3)) / 4).astype(np.float32),
             "b": (rng.standard_normal(6) * 0.1).astype(np.float32),
             "w2": (rng.standard_normal((8, 3, 1, 1)) / 2).astype(np.float32),
             "b2": np.zeros(8, np.float32),
             "shape": np.array([1, 6, 16], np.int64),
             "cls": rng.integers(-6, 6, (1, 2, 16)).astype(np.int64),
             "pick": np.array([[[0, 3], [5, 15]], [[2, 7], [1, 0]]], np.int64),
             "rows": np.array([[1], [4]], np.int64)}
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], name="scores", pads=[1, 1, 1, 1]),
             helper.make_node("Reshape", ["c", "shape"], ["s"], name="anchors"),
             helper.make_node("GatherElements", ["s", "cls"], ["y_cls"], name="per_class", axis=1),
             helper.make_node("Squeeze", ["s", "zero"], ["s0"], name="drop_batch"),
             helper.make_node("GatherND", ["s0", "pick"], ["y_pick"], name="picked"),
             helper.make_node("Conv", ["x", "w2", "b2"], ["c2"], name="second", strides=[2, 2]),
             helper.make_node("Reshape", ["c2", "shape2"], ["u"], name="updates"),
             helper.make_node("ScatterND", ["s0", "rows", "u"], ["y_scatter"], name="overwrite"),
             helper.make_node("TopK", ["s", "k"], ["y_top", "top_idx"], name="best", axis=2)]
    inits.update(zero=np.array([0], np.int64), shape2=np.array([2, 16], np.int64),   # rows 1 and 4 of (6, 16)
                 k=np.array([5], np.int64))
    return model(nodes, {"x": (1, 3, 4, 4)}, ["y_cls", "y_pick", "y_scatter", "y_top"], inits, opset=16), (1, 3, 4, 4)


def control_model():
    rng = np.random.default_rng(32)
    w = helper.make_tensor("w", TensorProto.FLOAT, [4, 4, 3, 3],
                           (rng.standard_normal((4, 4, 3, 3)) / 6).astype(np.float32).ravel().tolist())
    step = helper.make_tensor("step", TensorProto.FLOAT, [], [0.25])
    body = helper.make_graph(
        [helper.make_node("Identity", ["cond_in"], ["cond_out"]),
         helper.make_node("Conv", ["v_in", "w"], ["cv"], pads=[1, 1, 1, 1]),
         helper.make_node("Cast", ["i"], ["i_f"], to=TensorProto.FLOAT),
         helper.make_node("Mul", ["i_f", "step"], ["bias"]),
         helper.make_node("Add", ["cv", "bias"], ["pre"]),
         helper.make_node("Relu", ["pre"], ["v_out"])],
        "body", [helper.make_tensor_value_info("i", TensorProto.INT64, []),
                 helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
                 helper.make_tensor_value_info("v_in", TensorProto.FLOAT, [1, 4, 6, 6])],
        [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
         helper.make_tensor_value_info("v_out", TensorProto.FLOAT, [1, 4, 6, 6])])
    wide = helper.make_graph([helper.make_node("Sigmoid", ["x"], ["t_out"])], "wide", [],
                             [helper.make_tensor_value_info("t_out", TensorProto.FLOAT, None)])
    narrow = helper.make_graph([helper.make_node("Tanh", ["x"], ["e_out"])], "narrow", [],
                               [helper.make_tensor_value_info("e_out", TensorProto.FLOAT, None)])
    nodes = [helper.make_node("Shape", ["x"], ["sh"]),
             helper.make_node("Gather", ["sh", "three"], ["width"], axis=0),
             helper.make_node("Greater", ["width", "four"], ["is_wide"]),
             helper.make_node("If", ["is_wide"], ["gated"], name="gate", then_branch=wide, else_branch=narrow),
             helper.make_node("Loop", ["trips", "", "gated"], ["y"], name="refine", body=body)]
    inits = [w, step, helper.make_tensor("three", TensorProto.INT64, [], [3]),
             helper.make_tensor("four", TensorProto.INT64, [], [4]), helper.make_tensor("trips", TensorProto.INT64, [], [3])]
    g = helper.make_graph(nodes, "control", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4, 6, 6])],
                          [helper.make_empty_tensor_value_info("y")], inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)], ir_version=IR_VERSION), (1, 4, 6, 6)


MODELS = {"detector": detector_head, "control": control_model}


@pytest.fixture(scope="module", params=sorted(MODELS))
def built(request, tmp_path_factory):
    m, shape = MODELS[request.param]()
    root = tmp_path_factory.mktemp(request.param)
    onnx.save(m, root / "m.onnx")
    rng = np.random.default_rng(5)
    np.savez(root / "calib.npz", x=rng.uniform(-1, 1, (16, *shape)).astype(np.float32))
    x = rng.uniform(-1, 1, shape).astype(np.float32)
    outs = {}
    for t in TARGETS:
        s = host_support(get_target(t))
        if not s.can_build:
            continue
        art = qcomp.build(root / "m.onnx", target=t, calib=root / "calib.npz", out=root / t)
        if s.can_run:
            outs[t] = qcomp.load(art).run({"x": x}, raw=True)
    outs["float"] = qcomp.load(root / "ref").run({"x": x})
    return m, x, outs


def test_every_target_is_bit_exact_to_ref(built):
    _, _, outs = built
    ran = [t for t in TARGETS if t in outs and t != "ref"]
    assert "x86-vnni" in ran or "dsp-c" in ran, f"no target but ref ran here: {sorted(outs)}"
    for t in ran:
        for k, want in outs["ref"].items():
            assert want.dtype == np.int8, f"{k} has no int8 form"
            np.testing.assert_array_equal(outs[t][k], want, err_msg=f"{k} on {t}")


def test_int8_follows_float(built):
    m, x, outs = built
    want = run_onnxruntime(m, {"x": x})
    for k, w in want.items():
        got = outs["float"][k]
        assert got.shape == w.shape
        cos = float(np.dot(got.ravel(), w.ravel()) / (np.linalg.norm(got) * np.linalg.norm(w)))
        assert cos > 0.99, (k, cos)
