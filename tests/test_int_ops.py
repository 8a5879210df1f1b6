"""Standalone ops on int8/uint8 model inputs (qcomp/frontend/int_codes.py, qlinear_ops.py + int_io.py):
Clip and Relu of int8 codes, MaxPool of uint8 codes (and a Clip of that result), QLinearMatMul and QLinearConv
reading integer model inputs and writing integer model outputs, in one seeded model built once per
target. Clip, Relu and MaxPool select codes: every target equals onnxruntime exactly. The QLinear ops
round a float step (the requantization of their products): within 1 LSB of onnxruntime's integer
kernels, and every target bit-exact to ref. ConvInteger / MatMulInteger / DynamicQuantizeLinear on
integer model inputs are refused by name.
"""
from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto as T
from onnx import helper, numpy_helper

import qcomp
from qcomp.errors import UnsupportedModelError
from qcomp.target import get_target, host_support

TARGETS = ("ref", "x86-vnni", "arm-sdot", "dsp-c", "cuda")
SHAPES = {"c_in": (2, 3, 4, 5), "p_in": (1, 3, 7, 7), "a": (2, 2, 4), "a2": (6, 4), "x": (1, 2, 5, 5)}
IN_TYPES = {"c_in": T.INT8, "p_in": T.UINT8, "a": T.UINT8, "a2": T.INT8, "x": T.INT8}
OUTS = {"clip_out": (T.INT8, (2, 3, 4, 5)), "relu_out": (T.INT8, (2, 3, 4, 5)), "pool_out": (T.UINT8, (1, 3, 4, 4)),
        "mm_out": (T.UINT8, (2, 2, 3)), "mm2_out": (T.INT8, (6, 5)), "conv_out": (T.INT8, (1, 3, 5, 5))}
EXACT = ("clip_out", "relu_out", "pool_out")


def _scalar(v, dtype, name):
    return numpy_helper.from_array(np.array(v, dtype), name)


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    rng = np.random.default_rng(13)
    f32 = np.float32
    inits = [_scalar(-20, np.int8, "lo"), _scalar(60, np.int8, "hi"),
             _scalar(10, np.uint8, "plo"), _scalar(200, np.uint8, "phi"),
             _scalar(0.02, f32, "a_s"), _scalar(113, np.uint8, "a_z"),
             numpy_helper.from_array(rng.integers(0, 256, (2, 4, 3)).astype(np.uint8), "b"),
             _scalar(0.007, f32, "b_s"), _scalar(128, np.uint8, "b_z"),
             _scalar(0.05, f32, "y_s"), _scalar(118, np.uint8, "y_z"),
             # a 2-D B with asymmetric int8 codes (q - zp spans [-115, 140]): a MatMul by a tensor
             numpy_helper.from_array(np.concatenate([[127, -128], rng.integers(-128, 128, 18)])
                                     .astype(np.int8).reshape(4, 5), "b2"),
             _scalar(-13, np.int8, "b2_z"), _scalar(0.06, f32, "y2_s"), _scalar(-9, np.int8, "y2_z"),
             _scalar(0.015, f32, "a2_s"), _scalar(4, np.int8, "a2_z"),
             _scalar(0.03, f32, "x_s"), _scalar(-5, np.int8, "x_z"),
             numpy_helper.from_array(rng.integers(-127, 128, (3, 2, 3, 3)).astype(np.int8), "w"),
             numpy_helper.from_array(np.array([0.004, 0.006, 0.005], f32), "w_s"),
             numpy_helper.from_array(np.zeros(3, np.int8), "w_z"),
             _scalar(0.08, f32, "c_s"), _scalar(7, np.int8, "c_z"),
             numpy_helper.from_array(rng.integers(-2000, 2000, 3).astype(np.int32), "bias")]
    nodes = [helper.make_node("Clip", ["c_in", "lo", "hi"], ["clip_out"], name="clip"),
             helper.make_node("Relu", ["c_in"], ["relu_out"], name="relu"),   # a second reader of c_in
             helper.make_node("MaxPool", ["p_in"], ["pool"], name="pool", kernel_shape=[3, 3], strides=[2, 2],
                              pads=[1, 1, 1, 1]),
             helper.make_node("Clip", ["pool", "plo", "phi"], ["pool_out"], name="pool_clip"),
             helper.make_node("QLinearMatMul", ["a", "a_s", "a_z", "b", "b_s", "b_z", "y_s", "y_z"], ["mm_out"],
                              name="mm"),
             helper.make_node("QLinearMatMul", ["a2", "a2_s", "a2_z", "b2", "b_s", "b2_z", "y2_s", "y2_z"],
                              ["mm2_out"], name="mm2"),
             helper.make_node("QLinearConv", ["x", "x_s", "x_z", "w", "w_s", "w_z", "c_s", "c_z", "bias"],
                              ["conv_out"], name="conv", pads=[1, 1, 1, 1])]
    g = helper.make_graph(nodes, "int_ops",
                          [helper.make_tensor_value_info(k, IN_TYPES[k], list(s)) for k, s in SHAPES.items()],
                          [helper.make_tensor_value_info(k, t, list(s)) for k, (t, s) in OUTS.items()], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 14)])   # Relu of int8: opset 14
    m.ir_version = 8
    onnx.checker.check_model(m)
    path = tmp_path_factory.mktemp("int_ops") / "int_ops.onnx"
    onnx.save(m, path)
    feeds = {k: rng.integers(-128 if IN_TYPES[k] == T.INT8 else 0, 128 if IN_TYPES[k] == T.INT8 else 256, s)
             .astype(np.int8 if IN_TYPES[k] == T.INT8 else np.uint8) for k, s in SHAPES.items()}
    want = dict(zip(OUTS, ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, feeds)))
    return path, feeds, want


def _check(got, want, what):
    for k in OUTS:
        assert got[k].dtype == want[k].dtype and got[k].shape == want[k].shape, (what, k, got[k].dtype)
        if k in EXACT:
            np.testing.assert_array_equal(got[k], want[k], err_msg=f"{what}: {k}")
        else:
            diff = np.abs(got[k].astype(int) - want[k].astype(int))
            assert diff.max() <= 1, (what, k, diff.max())
        assert len(np.unique(got[k])) >= 8, (what, k)   # the case tests something


def test_float_reference_takes_and_gives_the_codes(model):
    path, feeds, want = model
    g = qcomp.load_model(path, None)
    assert sorted(n.kind for n in g.nodes if n.kind in ("Dense", "MatMul")) == ["MatMul", "MatMul"]   # b2: no Dense
    _check(qcomp.run_float(g, feeds), want, "float reference")


@pytest.fixture(scope="module")
def ref_raw(model, tmp_path_factory):
    path, feeds, _ = model
    art = qcomp.load(qcomp.build(path, target="ref", out=tmp_path_factory.mktemp("int_ops_ref")))
    return art.run(feeds, raw=True)


@pytest.mark.parametrize("target", TARGETS)
def test_every_target_runs_the_codes_bit_exact(model, ref_raw, target, tmp_path):
    s = host_support(get_target(target))
    if not s.can_build or (not s.can_run and target != "cuda"):   # cuda runs emulated
        pytest.skip(f"this host cannot build and run {target}: {s.why}")
    path, feeds, want = model
    art = qcomp.load(qcomp.build(path, target=target, out=tmp_path / "a"), emulate=target == "cuda")
    for row in art.manifest["inputs"] + art.manifest["outputs"]:
        assert row["int_dtype"] in ("int8", "uint8"), row
    _check(art.run(feeds), want, target)
    raw = art.run(feeds, raw=True)
    for k in OUTS:
        np.testing.assert_array_equal(raw[k], ref_raw[k], err_msg=f"{target}: {k}")


def _standalone(op, ins, attrs=None):
    consts = {"w": np.ones((2, 1, 3, 3), np.uint8) if op == "ConvInteger" else np.ones((4, 2), np.uint8),
              "zp": np.array(3, np.uint8)}
    shape = [1, 1, 4, 4] if op == "ConvInteger" else [3, 4]
    inits = [numpy_helper.from_array(consts[k], k) for k in ins[1:]]
    outs = ["y", "y_scale", "y_zero_point"] if op == "DynamicQuantizeLinear" else ["y"]
    g = helper.make_graph([helper.make_node(op, ins, outs, name="standalone", **(attrs or {}))], "m",
                          [helper.make_tensor_value_info("x", T.FLOAT if op == "DynamicQuantizeLinear" else T.UINT8,
                                                         shape)],
                          [helper.make_tensor_value_info(o, T.UNDEFINED, None) for o in outs], inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])


@pytest.mark.parametrize("op, ins, words", [
    ("ConvInteger", ["x", "w", "zp"], "no int32-output form"),
    ("MatMulInteger", ["x", "w", "zp"], "no int32-output form"),
    ("DynamicQuantizeLinear", ["x"], "are model outputs"),
])
def test_standalone_integer_products_are_refused_by_name(op, ins, words):
    with pytest.raises(UnsupportedModelError, match=f"'standalone' \\({op}.*{words}"):
        qcomp.load_model(_standalone(op, ins), None)


def test_code_op_result_read_by_arithmetic_is_refused():
    g = helper.make_graph([helper.make_node("Clip", ["x", "lo"], ["c"], name="clip"),
                           helper.make_node("Add", ["c", "c"], ["y"], name="add")], "m",
                          [helper.make_tensor_value_info("x", T.INT8, [4])],
                          [helper.make_tensor_value_info("y", T.INT8, [4])],
                          [numpy_helper.from_array(np.array(0, np.int8), "lo")])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    with pytest.raises(UnsupportedModelError, match="'clip' \\(Clip.*read by Add"):
        qcomp.load_model(m, None)
