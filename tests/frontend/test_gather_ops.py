"""GatherElements, GatherND, ScatterElements, ScatterND and OneHot (ops_gather.py) against
onnxruntime: each one Gather from a flat source, exact (equal outputs), at the opsets qcomp
imports, with negative indices, batch_dims, and run-time data in NHWC layout; NonZero of a
constant folds; and the refusals naming the node and the reason."""
from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper

from qcomp.errors import UnsupportedModelError
from qcomp.frontend import import_onnx
from qcomp.ir import ops
from qcomp.ref import run_float

from .onnx_util import Case, Ints, assert_matches, model, run_onnxruntime


def i64(a) -> np.ndarray:
    return np.asarray(a, dtype=np.int64)


CASES = [
    Case("gather_elements_axis0", "GatherElements", ((3, 4), i64([[0, 2, 1, 0], [2, 2, 0, 1]])), opset=11),
    Case("gather_elements_neg_axis1", "GatherElements", ((2, 3, 4), i64(np.full((2, 3, 2), -1))),
         {"axis": 1}, opset=13),
    Case("gather_elements_nhwc", "GatherElements", ((1, 4, 3, 3), i64(np.arange(36).reshape(1, 4, 3, 3) % 4)),
         {"axis": 1}, opset=13, nhwc=True),
    Case("gather_nd_rows", "GatherND", ((4, 5), i64([[3], [0], [-1]])), opset=11),
    Case("gather_nd_elements", "GatherND", ((2, 3, 4), i64([[0, 1, 3], [1, 2, 0]])), opset=13),
    Case("gather_nd_run_time_rows", "GatherND", ((5, 3, 2), Ints((2, 4, 1), -5, 5)), opset=13),
    Case("gather_nd_batch_dims", "GatherND", ((2, 3, 4), i64([[[1], [2]], [[0], [0]]])), {"batch_dims": 1},
         opset=12),
    Case("scatter_elements_axis1", "ScatterElements", ((3, 5), i64([[1, 3], [0, -1], [4, 2]]), (3, 2)),
         {"axis": 1}, opset=13),
    Case("scatter_elements_op18", "ScatterElements", ((4, 3), i64([[3, 0, 1]]), (1, 3)), opset=18),
    Case("scatter_nd_rows", "ScatterND", ((5, 4), i64([[4], [1]]), (2, 4)), opset=11),
    Case("scatter_elements_add_duplicates", "ScatterElements", ((3, 4), i64([[1, 1, 3], [0, 0, 0]]), (2, 3)),
         {"axis": 1, "reduction": "add"}, opset=16),
    Case("scatter_elements_max_neg", "ScatterElements", ((4, 3), i64([[-1, 0, 0], [3, 0, 2]]), (2, 3)),
         {"reduction": "max"}, opset=18),
    Case("scatter_nd_mul_duplicates", "ScatterND", ((4, 5), i64([[2], [0], [2]]), (3, 5)), {"reduction": "mul"},
         opset=16),
    Case("scatter_nd_min_elements", "ScatterND", ((3, 4), i64([[0, 1], [2, 3], [0, 1]]), (3,)), {"reduction": "min"},
         opset=18),
    Case("scatter_nd_elements_nhwc", "ScatterND", ((1, 3, 2, 2), i64([[0, 2, 1, 1], [0, 0, 0, 0]]), (2,)),
         opset=16, nhwc=True),
    Case("top_k_last_axis", "TopK", ((3, 11), i64([4])), opset=11, outputs=2),
    Case("top_k_smallest_axis0", "TopK", ((6, 2, 3), i64([2])), {"axis": 0, "largest": 0}, opset=13, outputs=2),
    Case("top_k_nhwc_channels", "TopK", ((1, 7, 3, 2), i64([3])), {"axis": 1, "sorted": 1}, opset=21, nhwc=True,
         outputs=2),
    Case("one_hot_last", "OneHot", (Ints((2, 3), -4, 4), i64(4), np.array([-1.0, 2.5], np.float32)), opset=11),
    Case("one_hot_axis0", "OneHot", (Ints((3,), 0, 5), i64([5]), np.array([0.0, 1.0], np.float32)),
         {"axis": 0}, opset=13),
    Case("one_hot_axis1_int_values", "OneHot", (Ints((2, 2), 0, 3), i64(3), i64([7, 9])),
         {"axis": 1}, opset=13),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_matches_onnxruntime_exactly(case: Case):
    m, feeds = case.build(np.random.default_rng(0))
    want = run_onnxruntime(m, feeds)
    g = import_onnx(m)
    assert any(isinstance(n.op, (ops.Gather, ops.TopK)) for n in g.nodes)
    got = run_float(g, feeds)
    for k, b in want.items():
        assert got[k].shape == b.shape and got[k].dtype == b.dtype, case.id
    if case.nhwc:   # the 1x1 Conv before the op rounds differently from onnxruntime's
        assert_matches({k: v for k, v in got.items() if v.dtype.kind == "f"},
                       {k: v for k, v in want.items() if v.dtype.kind == "f"})
    else:
        for k, b in want.items():
            np.testing.assert_array_equal(got[k], b, err_msg=case.id)


def test_topk_indices_gather_boxes_like_a_detector(rng):
    """scores (1, 20) -> TopK 5 -> indices pick boxes (1, 20, 4) with a run-time Gather."""
    nodes = [helper.make_node("TopK", ["scores", "k"], ["best", "idx"], axis=1),
             helper.make_node("Squeeze", ["idx", "zero"], ["idx0"]),
             helper.make_node("Gather", ["boxes", "idx0"], ["picked"], axis=1)]
    m = model(nodes, {"scores": (1, 20), "boxes": (1, 20, 4)}, ["best", "picked"],
              {"k": i64([5]), "zero": i64([0])}, opset=13)
    feeds = {"scores": rng.standard_normal((1, 20)).astype(np.float32),
             "boxes": rng.standard_normal((1, 20, 4)).astype(np.float32)}
    want, got = run_onnxruntime(m, feeds), run_float(import_onnx(m), feeds)
    for k in want:
        np.testing.assert_array_equal(got[k], want[k], err_msg=k)


def test_nonzero_of_a_constant_folds():
    nodes = [helper.make_node("NonZero", ["mask"], ["nz"]), helper.make_node("Cast", ["nz"], ["nzf"], to=TensorProto.FLOAT),
             helper.make_node("ReduceSum", ["nzf"], ["s"], keepdims=0), helper.make_node("Add", ["x", "s"], ["y"])]
    m = model(nodes, {"x": (3,)}, ["y"], {"mask": np.array([[0, 1, 0], [1, 1, 0]], np.float32)}, opset=13)
    g = import_onnx(m)
    assert [type(n.op) for n in g.nodes] == [ops.Add]
    x = np.arange(3, dtype=np.float32)
    np.testing.assert_array_equal(run_float(g, {"x": x})["y"], run_onnxruntime(m, {"x": x})["y"])


@pytest.mark.parametrize("node, inits, pattern", [
    (helper.make_node("ScatterND", ["x", "i", "u"], ["y"], reduction="add"), {"u": np.ones((3, 4), np.int64)},
     "data is f32 but updates are i64"),
    (helper.make_node("NonZero", ["x"], ["y"]), {}, "op NonZero is not supported with inputs computed at run time"),
    (helper.make_node("OneHot", ["i", "d", "v"], ["y"]), {"v": np.array([0, 1], np.float32)},
     "depth \\(input 1\\) is computed at run time"),
])
def test_errors_name_the_node(node, inits, pattern):
    node.name = "mover"
    inputs = {k: s for k, s in {"x": (3, 4), "i": (3, 4), "d": ()}.items() if k in node.input}
    m = model([node], inputs, ["y"], inits, opset=16, dtypes={"i": TensorProto.INT64, "d": TensorProto.INT64})
    with pytest.raises(UnsupportedModelError, match=pattern) as e:
        import_onnx(m)
    assert "'mover'" in str(e.value)
