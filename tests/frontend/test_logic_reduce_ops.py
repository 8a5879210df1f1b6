"""Comparison, logic, reduction and index ops, the norms and Einsum (ops_logic.py, ops_reduce.py,
ops_norm.py, ops_einsum.py) against onnxruntime: one small model each, imported by qcomp and run by
the float reference. Bool and int64 results must come back as bool and int64 and match exactly;
float results within 1e-5 (1e-4 for the normalizations and the reductions of many terms).
"""
from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest
from onnx import TensorProto as T
from onnx import helper

from qcomp.errors import UnsupportedModelError
from qcomp.frontend import import_onnx
from qcomp.ref import run_float

_rng = np.random.default_rng(0)
X = _rng.standard_normal((2, 3, 4, 5)).astype(np.float32)
X[0, 0, 0, :3] = [np.nan, np.inf, -np.inf]


def _model(nodes, inputs, outputs, inits=(), opset=17):
    g = helper.make_graph(nodes, "m", inputs, [helper.make_tensor_value_info(o, t, None) for o, t in outputs],
                          list(inits))
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)])


def _check(model, feeds, tol=1e-5):
    want = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"]).run(None, feeds)
    got = run_float(import_onnx(model), feeds)
    assert len(want) == len(got)
    for w, (name, v) in zip(want, got.items()):
        assert (v.dtype, v.shape) == (w.dtype, w.shape), name
        if w.dtype.kind == "f":
            np.testing.assert_allclose(v, w, rtol=tol, atol=tol, err_msg=name)
        else:
            np.testing.assert_array_equal(v, w, err_msg=name)


def _x(shape=(2, 3, 4, 5)):
    return helper.make_tensor_value_info("x", T.FLOAT, list(shape))


def _const(name, array):
    return helper.make_tensor(name, helper.np_dtype_to_tensor_dtype(array.dtype), array.shape, array.ravel())


@pytest.mark.parametrize("op", ["Equal", "Greater", "GreaterOrEqual", "Less", "LessOrEqual"])
def test_comparison_gives_bool(op):
    c = _const("c", np.array([0.1, 0, -0.2, np.inf, 0.5], np.float32))
    _check(_model([helper.make_node(op, ["x", "c"], ["y"])], [_x()], [("y", T.BOOL)], [c]), {"x": X})


def test_logic_and_where_on_bool_chains():
    nodes = [helper.make_node("IsNaN", ["x"], ["nan"]),
             helper.make_node("Greater", ["x", "z"], ["g"]), helper.make_node("Less", ["x", "o"], ["l"]),
             helper.make_node("And", ["g", "l"], ["a"]), helper.make_node("Or", ["a", "nan"], ["o2"]),
             helper.make_node("Xor", ["o2", "g"], ["xo"]), helper.make_node("Not", ["xo"], ["n"]),
             helper.make_node("IsInf", ["x"], ["inf_neg"], detect_positive=0),
             helper.make_node("Where", ["n", "x", "w"], ["y"])]
    inits = [_const("z", np.array(0.0, np.float32)), _const("o", np.array(1.0, np.float32)),
             _const("w", np.arange(5, dtype=np.float32))]
    _check(_model(nodes, [_x()], [("y", T.FLOAT), ("n", T.BOOL), ("inf_neg", T.BOOL)], inits), {"x": X})


def test_where_with_integer_branches_and_broadcast_condition():
    ids = helper.make_tensor_value_info("ids", T.INT64, [3, 1])
    nodes = [helper.make_node("Greater", ["ids", "k"], ["m"]), helper.make_node("Where", ["m", "ids", "neg"], ["y"])]
    inits = [_const("k", np.array(1, np.int64)), _const("neg", np.array([-1, -2, -3, -4], np.int64))]
    _check(_model(nodes, [ids], [("y", T.INT64)], inits), {"ids": np.array([[0], [2], [5]], np.int64)})


REDUCE = ["ReduceSum", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2", "ReduceSumSquare", "ReduceLogSumExp"]


@pytest.mark.parametrize("keepdims", [0, 1])
@pytest.mark.parametrize("op", REDUCE)
def test_reductions_axes_input_and_attribute(op, keepdims):
    x = np.abs(X[1:]) + 0.5   # finite
    axes = _const("axes", np.array([1, -1], np.int64))
    _check(_model([helper.make_node(op, ["x", "axes"], ["y"], keepdims=keepdims)], [_x(x.shape)], [("y", T.FLOAT)],
                  [axes], opset=18), {"x": x}, 1e-4)
    opset = 11 if op == "ReduceSum" else 13
    _check(_model([helper.make_node(op, ["x"], ["y"], keepdims=keepdims, axes=[2])], [_x(x.shape)],
                  [("y", T.FLOAT)], opset=opset), {"x": x}, 1e-4)
    _check(_model([helper.make_node(op, ["x"], ["y"], keepdims=keepdims)], [_x(x.shape)], [("y", T.FLOAT)],
                  opset=opset), {"x": x}, 1e-4)


def test_reduce_noop_with_empty_axes():
    _check(_model([helper.make_node("ReduceSumSquare", ["x"], ["y"], noop_with_empty_axes=1)], [_x(X[1:].shape)],
                  [("y", T.FLOAT)], opset=18), {"x": X[1:]}, 1e-6)


@pytest.mark.parametrize("op", ["ArgMax", "ArgMin"])
@pytest.mark.parametrize("last", [0, 1])
def test_arg_extremes_are_int64(op, last):
    x = np.round(X[1:] * 2) / 2   # ties, so select_last_index matters
    _check(_model([helper.make_node(op, ["x"], ["y"], axis=1, keepdims=0, select_last_index=last)], [_x(x.shape)],
                  [("y", T.INT64)]), {"x": x})
    _check(_model([helper.make_node(op, ["x"], ["y"], axis=-1)], [_x(x.shape)], [("y", T.INT64)]), {"x": x})


@pytest.mark.parametrize("exclusive,reverse", [(0, 0), (1, 0), (0, 1), (1, 1)])
def test_cumsum_modes(exclusive, reverse):
    axis = _const("a", np.array(2, np.int64))
    _check(_model([helper.make_node("CumSum", ["x", "a"], ["y"], exclusive=exclusive, reverse=reverse)],
                  [_x(X[1:].shape)], [("y", T.FLOAT)], [axis]), {"x": X[1:]})


@pytest.mark.parametrize("op", ["LogSoftmax", "Hardmax"])
@pytest.mark.parametrize("axis,opset", [(1, 11), (-1, 13), (1, 13), (0, 12)])
def test_log_softmax_and_hardmax(op, axis, opset):
    x = X[1:] * 30   # large logits: exp underflows, which Log(Softmax) would turn into -inf
    x[0, 1, 2] = x[0, 1, 2].max()   # a tie for Hardmax
    _check(_model([helper.make_node(op, ["x"], ["y"], axis=axis)], [_x(x.shape)], [("y", T.FLOAT)], opset=opset),
           {"x": x}, 1e-5)


def test_instance_normalization():
    s, b = _const("s", np.array([0.5, 1, 2], np.float32)), _const("b", np.array([0.1, 0, -1], np.float32))
    _check(_model([helper.make_node("InstanceNormalization", ["x", "s", "b"], ["y"], epsilon=1e-3)], [_x(X[1:].shape)],
                  [("y", T.FLOAT)], [s, b]), {"x": X[1:]}, 1e-4)


@pytest.mark.parametrize("opset", [18, 21])
def test_group_normalization(opset):
    x = _rng.standard_normal((2, 6, 4, 5)).astype(np.float32)
    n = 6 if opset == 21 else 3
    s, b = _const("s", np.linspace(0.5, 2, n).astype(np.float32)), _const("b", np.linspace(-1, 1, n).astype(np.float32))
    _check(_model([helper.make_node("GroupNormalization", ["x", "s", "b"], ["y"], num_groups=3)], [_x(x.shape)],
                  [("y", T.FLOAT)], [s, b], opset=opset), {"x": x}, 1e-4)


EINSUM = [("bij,bjk->bik", [(2, 3, 4), (2, 4, 5)], ()), ("bhqd,bhkd->bhqk", [(2, 3, 4, 5), (2, 3, 6, 5)], ()),
          ("bn,anm,bm->ba", [(2, 3), (4, 3, 5), (2, 5)], ("i1",)), ("bn,anm,bm->ba", [(2, 3), (4, 3, 5), (2, 5)], ()),
          ("ij->ji", [(3, 4)], ()), ("ij->i", [(3, 4)], ()), ("...ij,...jk", [(2, 3, 4), (2, 4, 5)], ()),
          ("ij,jk", [(3, 4), (4, 5)], ("i1",)), ("ij,jk->ik", [(3, 4), (4, 5)], ("i0",)),
          ("bld,hd->blh", [(2, 3, 4), (5, 4)], ("i1",)), ("i,i->", [(4,), (4,)], ())]


@pytest.mark.parametrize("equation,shapes,consts", EINSUM, ids=[f"{e[0]}{'_const' if e[2] else ''}" for e in EINSUM])
def test_einsum(equation, shapes, consts):
    names = [f"i{k}" for k in range(len(shapes))]
    feeds = {n: _rng.standard_normal(s).astype(np.float32) for n, s in zip(names, shapes)}
    inputs = [helper.make_tensor_value_info(n, T.FLOAT, list(s)) for n, s in zip(names, shapes) if n not in consts]
    inits = [_const(n, feeds.pop(n)) for n in consts]
    _check(_model([helper.make_node("Einsum", names, ["y"], equation=equation)], inputs, [("y", T.FLOAT)], inits,
                  opset=12), feeds, 1e-4)


@pytest.mark.parametrize("model,words", [
    (_model([helper.make_node("Einsum", ["x"], ["y"], equation="ii->i")],
            [helper.make_tensor_value_info("x", T.FLOAT, [3, 3])], [("y", T.FLOAT)], opset=12), "diagonal"),
    (_model([helper.make_node("And", ["x", "x"], ["y"])], [_x()], [("y", T.BOOL)]), "bool operands"),
    (_model([helper.make_node("GroupNormalization", ["x", "s", "s"], ["y"], num_groups=2)], [_x()], [("y", T.FLOAT)],
            [_const("s", np.ones(2, np.float32))], opset=18), "num_groups=2 does not divide"),
    (_model([helper.make_node("Where", ["x", "x", "x"], ["y"])], [_x()], [("y", T.FLOAT)]),
     "condition \\(input 0\\) is f32; ONNX defines it as bool"),
    (_model([helper.make_node("ArgMax", ["x"], ["y"], axis=7)], [_x()], [("y", T.INT64)]), "axis 7 is out of range"),
    (_model([helper.make_node("Einsum", ["x", "x"], ["y"], equation="abcd,bacd->c")], [_x()], [("y", T.FLOAT)],
            opset=12), "label 'a' has different sizes"),
])
def test_refusals_name_the_node_and_reason(model, words):
    with pytest.raises(UnsupportedModelError, match=words):
        import_onnx(model)


def test_constant_inputs_fold_at_import():
    """Comparison, Where, reductions and ArgMax of constants fold (fold.py): one Add is left."""
    a, b = np.arange(6, dtype=np.float32).reshape(2, 3), np.full((2, 3), 2.5, np.float32)
    nodes = [helper.make_node("Greater", ["a", "b"], ["g"]), helper.make_node("Where", ["g", "a", "b"], ["w"]),
             helper.make_node("ReduceSum", ["w", "ax"], ["s"], keepdims=1),
             helper.make_node("ArgMax", ["w"], ["i"], axis=1, keepdims=1),
             helper.make_node("Cast", ["i"], ["f"], to=T.FLOAT), helper.make_node("Add", ["s", "f"], ["c"]),
             helper.make_node("Add", ["x", "c"], ["y"])]
    model = _model(nodes, [helper.make_tensor_value_info("x", T.FLOAT, [2, 1])], [("y", T.FLOAT)],
                   [_const("a", a), _const("b", b), _const("ax", np.array([1], np.int64))])
    g = import_onnx(model)
    assert [n.kind for n in g.nodes] == ["Add"]
    _check(model, {"x": np.array([[1.0], [-1.0]], np.float32)})
