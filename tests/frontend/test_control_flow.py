"""Control flow resolved at import (frontend/control_flow.py): If inlined on a condition that is
constant once shapes are fixed, Loop and Scan unrolled; against onnxruntime, and the refusals
(data-dependent condition, too many iterations) naming the node and why."""
from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper

from qcomp.errors import UnsupportedModelError
from qcomp.frontend import import_onnx
from qcomp.frontend.control_flow import MAX_TRIP_COUNT
from qcomp.ref import run_float

from .onnx_util import IR_VERSION, assert_matches, run_onnxruntime

F = TensorProto.FLOAT


def _vi(name, shape, dtype=F):
    return helper.make_tensor_value_info(name, dtype, shape)


def _model(nodes, inputs, outputs, inits=(), opset=13):
    g = helper.make_graph(nodes, "cf", inputs, [helper.make_empty_tensor_value_info(o) for o in outputs],
                          list(inits))
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)], ir_version=IR_VERSION)


def _const(name, value, dtype=None):
    return helper.make_node("Constant", [], [name], value=helper.make_tensor(
        name, dtype or TensorProto.INT64, np.shape(value), np.asarray(value).reshape(-1).tolist()))


def shape_if_model():
    """y = Relu(x) * w if x has more than 2 channels else Neg(x) + w; x is (1, C, 4), C dynamic."""
    then = helper.make_graph([helper.make_node("Relu", ["x"], ["t0"], name="relu"),
                              helper.make_node("Mul", ["t0", "w"], ["t_out"], name="scale")],
                             "then", [], [_vi("t_out", None)])
    other = helper.make_graph([helper.make_node("Neg", ["x"], ["e0"], name="neg"),
                               helper.make_node("Add", ["e0", "w"], ["e_out"], name="shift")],
                              "else", [], [_vi("e_out", None)])
    nodes = [helper.make_node("Shape", ["x"], ["s"]), _const("one", [1]), _const("two", 2),
             helper.make_node("Gather", ["s", "one"], ["c"], axis=0),
             helper.make_node("Squeeze", ["c"], ["c0"]),
             helper.make_node("Greater", ["c0", "two"], ["wide"]),
             helper.make_node("If", ["wide"], ["y"], name="by_width", then_branch=then, else_branch=other)]
    w = helper.make_tensor("w", F, [4], [0.5, -1.0, 2.0, 0.25])
    return _model(nodes, [_vi("x", [1, "C", 4])], ["y"], [w])


@pytest.mark.parametrize("channels", [2, 3])
def test_if_on_a_shape_condition_takes_the_branch(channels, rng):
    m = shape_if_model()
    g = import_onnx(m, {"x": (1, channels, 4)})
    assert not any(n.name.startswith("by_width/" + ("else" if channels > 2 else "then")) for n in g.nodes)
    x = rng.standard_normal((1, channels, 4)).astype(np.float32)
    assert_matches(run_float(g, {"x": x}), run_onnxruntime(m, {"x": x}))


def test_if_on_data_is_refused_naming_the_node():
    then = helper.make_graph([helper.make_node("Relu", ["x"], ["t"])], "then", [], [_vi("t", None)])
    other = helper.make_graph([helper.make_node("Neg", ["x"], ["e"])], "else", [], [_vi("e", None)])
    m = _model([helper.make_node("If", ["flag"], ["y"], name="gate", then_branch=then, else_branch=other)],
               [_vi("x", [2, 3]), _vi("flag", [], TensorProto.BOOL)], ["y"])
    with pytest.raises(UnsupportedModelError, match=r"node 'gate' \(If.*condition is computed at run time "
                                                    r"from the input data.*inlines an If only when"):
        import_onnx(m)


def loop_model(trips: int):
    """v_{i+1} = v_i * 0.5 + x * i (iter_num folds), with the per-iteration v as a scan output, and an
    If inside the body on the iteration number (Less(i, 1): the first iteration adds 1 more)."""
    first = helper.make_graph([helper.make_node("Add", ["acc", "one_f"], ["f_out"])], "first", [],
                              [_vi("f_out", None)])
    later = helper.make_graph([helper.make_node("Identity", ["acc"], ["l_out"])], "later", [], [_vi("l_out", None)])
    body = helper.make_graph(
        [helper.make_node("Identity", ["cond_in"], ["cond_out"]),
         helper.make_node("Cast", ["i"], ["i_f"], to=F),
         helper.make_node("Mul", ["x", "i_f"], ["xi"]),
         helper.make_node("Mul", ["v_in", "half"], ["v_half"]),
         helper.make_node("Add", ["v_half", "xi"], ["acc"]),
         _const("one_i", 1),
         helper.make_node("Less", ["i", "one_i"], ["is_first"]),
         helper.make_node("If", ["is_first"], ["v_out"], name="first_step", then_branch=first,
                          else_branch=later),
         helper.make_node("Identity", ["v_out"], ["v_scan"])],
        "body", [_vi("i", [], TensorProto.INT64), _vi("cond_in", [], TensorProto.BOOL), _vi("v_in", [2, 3])],
        [_vi("cond_out", [], TensorProto.BOOL), _vi("v_out", [2, 3]), _vi("v_scan", [2, 3])])
    nodes = [_const("m", trips), helper.make_node("Constant", [], ["t"], value=helper.make_tensor("t", TensorProto.BOOL, [], [True])),
             helper.make_node("Loop", ["m", "t", "v0"], ["v_final", "vs"], name="steps", body=body)]
    inits = [helper.make_tensor("half", F, [], [0.5]), helper.make_tensor("one_f", F, [], [1.0])]
    return _model(nodes, [_vi("x", [2, 3]), _vi("v0", [2, 3])], ["v_final", "vs"], inits)


def test_loop_with_static_trip_count_is_unrolled(rng):
    m = loop_model(3)
    g = import_onnx(m)
    assert any(n.name.startswith("steps/iter2/") for n in g.nodes)
    feeds = {"x": rng.standard_normal((2, 3)).astype(np.float32), "v0": rng.standard_normal((2, 3)).astype(np.float32)}
    assert_matches(run_float(g, feeds), run_onnxruntime(m, feeds))


def test_loop_over_the_limit_is_refused_naming_the_node():
    with pytest.raises(UnsupportedModelError, match=rf"node 'steps' \(Loop.*{MAX_TRIP_COUNT + 1} iterations; "
                                                    rf"qcomp unrolls at most {MAX_TRIP_COUNT}"):
        import_onnx(loop_model(MAX_TRIP_COUNT + 1))


def test_loop_with_data_dependent_trip_count_is_refused():
    body = helper.make_graph([helper.make_node("Identity", ["c"], ["c_out"]), helper.make_node("Relu", ["v"], ["v_out"])],
                             "body", [_vi("i", [], TensorProto.INT64), _vi("c", [], TensorProto.BOOL), _vi("v", [2])],
                             [_vi("c_out", [], TensorProto.BOOL), _vi("v_out", [2])])
    m = _model([helper.make_node("Loop", ["n", "", "x"], ["y"], name="until", body=body)],
               [_vi("x", [2]), _vi("n", [], TensorProto.INT64)], ["y"])
    with pytest.raises(UnsupportedModelError, match=r"node 'until' \(Loop.*trip count M \(input 0\) is computed at "
                                                    r"run time"):
        import_onnx(m)


def scan_model():
    """A running sum over axis 1 of x (N=2, T=4, C=3) and, reversed, the running products' states."""
    body = helper.make_graph(
        [helper.make_node("Add", ["s_in", "x_t"], ["s_out"]),
         helper.make_node("Mul", ["s_out", "w"], ["y_t"]),
         helper.make_node("Identity", ["x_t"], ["r_t"])],
        "body", [_vi("s_in", [2, 3]), _vi("x_t", [2, 3]), _vi("z_t", [3])],
        [_vi("s_out", [2, 3]), _vi("y_t", [2, 3]), _vi("r_t", [2, 3])])
    scan = helper.make_node("Scan", ["s0", "x", "z"], ["s_last", "ys", "rs"], name="cumsum", body=body,
                            num_scan_inputs=2, scan_input_axes=[1, 0], scan_input_directions=[0, 1],
                            scan_output_axes=[1, -1], scan_output_directions=[0, 1])
    w = helper.make_tensor("w", F, [3], [1.0, -0.5, 2.0])
    return _model([scan], [_vi("s0", [2, 3]), _vi("x", [2, 4, 3]), _vi("z", [4, 3])], ["s_last", "ys", "rs"], [w])


def test_scan_is_unrolled(rng):
    m = scan_model()
    g = import_onnx(m)
    feeds = {"s0": rng.standard_normal((2, 3)).astype(np.float32), "x": rng.standard_normal((2, 4, 3)).astype(np.float32),
             "z": rng.standard_normal((4, 3)).astype(np.float32)}
    assert_matches(run_float(g, feeds), run_onnxruntime(m, feeds))
