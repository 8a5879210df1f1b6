"""A detector-head-like ONNX model with comparison, logic, selection, reductions and index ops,
imported, calibrated, quantized and run on every backend that runs float regions, against the
integer reference (ARCHITECTURE.md section 3):
- int8 forms (quantize_logic.py): Greater of a score against a threshold, Where of int8 scores,
  ArgMax of the int8 class map, ReduceMax / ReduceMin, Einsum as a Dense: bit-exact;
- float regions and bool ops (ReduceSum, CumSum, IsNaN, Not, LogSoftmax's sum): bit-exact too where
  the kernels follow the reference's order (every op here), within 4 float32 ulps where libm
  decides (Log);
- bool and int64 results come back as bool and int64 from every backend.
The C backend builds the int8 and bool forms (the op-case table) and refuses each float node by name.
"""
from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto as T
from onnx import helper

from qcomp.codegen import c as c_backend
from qcomp.frontend import import_onnx
from qcomp.ir import verify
from qcomp.passes.calibrate import calibrate
from qcomp.passes.lower_integer import lower_integer
from qcomp.passes.quantize import quantize
from qcomp.ref import run_integer
from qcomp.target import get_target

from opcases.targets import TARGETS

FLOAT_TARGETS = [t for t in TARGETS if t.name in ("x86-vnni", "arm-sdot", "cuda-emulated")]
FLOAT_NODES = ("total", "cumsum", "isnan")


def _model():
    rng = np.random.default_rng(3)

    def const(name, array):
        return helper.make_tensor(name, helper.np_dtype_to_tensor_dtype(array.dtype), array.shape, array.ravel())
    inits = [const("w", (rng.standard_normal((4, 3, 3, 3)) * 0.4).astype(np.float32)),
             const("b", (rng.standard_normal(4) * 0.1).astype(np.float32)),
             const("thr", np.array(0.5, np.float32)), const("zero", np.array(0.0, np.float32)),
             const("axes_c", np.array([1], np.int64)), const("axes_hw", np.array([1, 2], np.int64)),
             const("axis_w", np.array(2, np.int64)), const("proj", (rng.standard_normal(4) * 0.5).astype(np.float32))]
    nodes = [
        helper.make_node("Conv", ["x", "w", "b"], ["conv0"], name="conv0", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["conv0"], ["conv"], name="conv"),
        helper.make_node("ReduceMax", ["conv", "axes_c"], ["score"], name="score", keepdims=0),
        helper.make_node("ReduceMin", ["conv", "axes_c"], ["low"], name="low", keepdims=0),
        helper.make_node("Greater", ["score", "thr"], ["mask"], name="mask"),
        helper.make_node("Where", ["mask", "score", "zero"], ["kept"], name="kept"),
        helper.make_node("ArgMax", ["conv"], ["cls"], name="cls", axis=1, keepdims=0),
        helper.make_node("ReduceSum", ["kept", "axes_hw"], ["total"], name="total", keepdims=0),
        helper.make_node("CumSum", ["kept", "axis_w"], ["cumsum"], name="cumsum"),
        helper.make_node("IsNaN", ["x"], ["isnan"], name="isnan"),
        helper.make_node("Not", ["mask"], ["not_kept"], name="not_kept"),
        helper.make_node("LogSoftmax", ["conv"], ["logp"], name="logp", axis=1),
        helper.make_node("Einsum", ["conv", "proj"], ["ein"], name="ein", equation="bchw,c->bhw"),
    ]
    outs = [("mask", T.BOOL), ("kept", T.FLOAT), ("cls", T.INT64), ("low", T.FLOAT), ("total", T.FLOAT),
            ("cumsum", T.FLOAT), ("isnan", T.BOOL), ("not_kept", T.BOOL), ("logp", T.FLOAT), ("ein", T.FLOAT)]
    graph = helper.make_graph(nodes, "head", [helper.make_tensor_value_info("x", T.FLOAT, [1, 3, 6, 7])],
                              [helper.make_tensor_value_info(n, t, None) for n, t in outs], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])


@pytest.fixture(scope="module")
def head():
    g = import_onnx(_model())
    rng = np.random.default_rng(0)
    samples = [{"x": rng.standard_normal((1, 3, 6, 7)).astype(np.float32)} for _ in range(4)]
    t = verify(lower_integer(quantize(g, calibrate(g, samples).ranges)))
    return t, {"x": rng.standard_normal((1, 3, 6, 7)).astype(np.float32)}


def test_quantized_head_has_the_int8_forms(head):
    graph, feeds = head
    kinds = {n.name: (n.kind, [graph.types[i].dtype.value for i in n.inputs]) for n in graph.nodes}
    assert kinds["mask"] == ("Compare", ["i8", "i8"])      # a threshold code
    assert kinds["kept"] == ("Where", ["bool", "i8", "i8"])
    assert kinds["cls"] == ("ArgMax", ["i8"])
    assert kinds["total"] == ("ReduceSum", ["f32"])        # a float region
    got = run_integer(graph, feeds)
    assert got["mask"].dtype == np.bool_ and got["cls"].dtype == np.int64 and got["not_kept"].dtype == np.bool_
    assert 0 < got["mask"].sum() < got["mask"].size and np.unique(got["cls"]).size > 1


@pytest.mark.parametrize("target", FLOAT_TARGETS, ids=lambda t: t.name)
def test_head_on_every_float_backend(head, target):
    why = target.skip()
    if why is not None:
        pytest.skip(why)
    graph, feeds = head
    want = run_integer(graph, feeds)
    got = target.run(graph, {k: v.copy() for k, v in feeds.items()})
    for name, w in want.items():
        assert got[name].dtype == w.dtype and got[name].shape == w.shape, name
        if name == "logp":   # Log of the float sum: libm's log, within 4 float32 ulps
            ulps = np.abs(got[name].view(np.int32).astype(np.int64) - w.view(np.int32).astype(np.int64))
            assert ulps.max() <= 4, f"{name} on {target.name}: {ulps.max()} ulps"
        else:
            np.testing.assert_array_equal(got[name], w, err_msg=f"{name} on {target.name}")


@pytest.mark.parametrize("name", ["dsp-c", "cortex-m4"])
def test_c_backend_refuses_each_float_node_by_name(head, name):
    graph, _ = head
    problems = c_backend.check(graph, get_target(name))
    refused = {p.node for p in problems}
    for node in FLOAT_NODES:
        assert node in refused, (node, sorted(refused))
    assert not refused & {"mask", "kept", "cls", "score", "low", "not_kept"}   # the int8 and bool forms build
