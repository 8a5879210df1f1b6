"""GatherElements, GatherND, ScatterElements and ScatterND with indices computed at run time
(frontend/ops_index.py -> qcomp/ir/ops_index.py) against onnxruntime, exactly: negative and
repeated indices, batch_dims, every reduction, int32 indices, data arriving in NHWC layout; and an
index out of range is one InputError naming the op and the index."""
from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper

from qcomp.errors import InputError, UnsupportedModelError
from qcomp.frontend import import_onnx
from qcomp.ref import run_float

from .onnx_util import Case, Ints, assert_matches, model, run_onnxruntime

CASES = [
    Case("gather_elements_axis1", "GatherElements", ((3, 5, 4), Ints((3, 2, 4), -5, 5)), {"axis": 1}, opset=13),
    Case("gather_elements_axis0_op11", "GatherElements", ((4, 3), Ints((6, 3), -4, 4)), opset=11),
    Case("gather_elements_nhwc", "GatherElements", ((1, 4, 3, 3), Ints((1, 4, 3, 3), -4, 4)), {"axis": 1},
         opset=13, nhwc=True),
    Case("gather_nd_pairs", "GatherND", ((3, 4, 5), Ints((2, 3, 2), -3, 3)), opset=13),
    Case("gather_nd_batch_dims", "GatherND", ((2, 5, 3), Ints((2, 4, 1), -5, 5)), {"batch_dims": 1}, opset=12),
    Case("scatter_elements_none", "ScatterElements", ((4, 6), Ints((4, 3), -6, 6), (4, 3)), {"axis": 1},
         opset=13),
    Case("scatter_elements_add", "ScatterElements", ((5, 3), Ints((7, 3), -5, 5), (7, 3)), {"reduction": "add"},
         opset=16),
    Case("scatter_elements_max", "ScatterElements", ((3, 6), Ints((3, 4), 0, 6), (3, 4)),
         {"axis": 1, "reduction": "max"}, opset=18),
    Case("scatter_elements_min", "ScatterElements", ((6, 2), Ints((5, 2), -6, 6), (5, 2)), {"reduction": "min"},
         opset=18),
    Case("scatter_nd_rows_mul", "ScatterND", ((5, 4), Ints((3, 1), -5, 5), (3, 4)), {"reduction": "mul"}, opset=16),
    Case("scatter_nd_elements", "ScatterND", ((3, 4, 2), Ints((4, 2), 0, 3), (4, 2)), opset=13),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_run_time_indices_match_onnxruntime(case: Case):
    m, feeds = case.build(np.random.default_rng(3))
    if case.op == "ScatterND" and case.attrs.get("reduction", "none") == "none":   # distinct rows: ONNX leaves
        feeds["in1"] = np.array([[0, 1], [2, 3], [1, 0], [0, 3]], np.int64)         # repeats' order open
    want = run_onnxruntime(m, feeds)
    g = import_onnx(m)
    assert any(type(n.op).__name__ == case.op for n in g.nodes), [n.kind for n in g.nodes]
    got = run_float(g, feeds)
    if case.nhwc:   # the 1x1 Conv before the op rounds differently from onnxruntime's
        assert_matches(got, want)
    else:
        for k, b in want.items():
            assert got[k].dtype == b.dtype
            np.testing.assert_array_equal(got[k], b, err_msg=case.id)


def test_int32_indices():
    m = model([helper.make_node("GatherElements", ["x", "i"], ["y"], axis=0)], {"x": (4, 2), "i": (3, 2)}, ["y"],
              opset=13, dtypes={"i": TensorProto.INT32})
    feeds = {"x": np.arange(8, dtype=np.float32).reshape(4, 2), "i": np.array([[3, -4], [0, 1], [-1, 2]], np.int32)}
    np.testing.assert_array_equal(run_float(import_onnx(m), feeds)["y"], run_onnxruntime(m, feeds)["y"])


@pytest.mark.parametrize("op, attrs, bad", [("GatherElements", {"axis": 1}, 4), ("GatherND", {}, -4),
                                             ("ScatterElements", {}, 3), ("ScatterND", {}, 7)])
def test_out_of_range_index_is_an_input_error(op, attrs, bad):
    ins = ["x", "i"] + (["u"] if op.startswith("Scatter") else [])
    shapes = {"x": (3, 4), "i": (2, 1) if op.endswith("ND") else (2, 4), "u": (2, 4)}
    m = model([helper.make_node(op, ins, ["y"], **attrs)], {k: shapes[k] for k in ins}, ["y"], opset=16,
              dtypes={"i": TensorProto.INT64})
    feeds = {"x": np.zeros((3, 4), np.float32), "u": np.ones((2, 4), np.float32),
             "i": np.zeros(shapes["i"], np.int64)}
    feeds["i"][1, 0] = bad
    with pytest.raises(InputError, match=f"index {bad} is out of range"):   # GatherND of rows: a Gather
        run_float(import_onnx(m), {k: feeds[k] for k in ins})


def test_float_indices_are_refused_by_name():
    node = helper.make_node("GatherElements", ["x", "i"], ["y"], name="mover")
    m = model([node], {"x": (3, 4), "i": (3, 4)}, ["y"], opset=13)
    with pytest.raises(UnsupportedModelError, match="'mover'.*indices") as e:
        import_onnx(m)
    assert "int32 or int64" in str(e.value)


@pytest.mark.parametrize("data_shape, idx_shape, batch_dims, ir_op", [
    ((5, 3, 2), (2, 4, 1), 0, "Gather"),   # rows of axis 0: data[idx[..., 0]]
    ((6,), (3, 1), 0, "Gather"),            # rank-1 data: scalars
    ((2, 5, 3), (2, 4, 1), 1, "GatherND"),  # batch_dims 1: rows of axis 1, per batch
])
def test_gather_nd_of_rows_is_exact(data_shape, idx_shape, batch_dims, ir_op):
    """GatherND whose index rows have length 1 and batch_dims 0 imports as Gather along axis 0 (the same
    selection, negative indices counting from the end in both); with batch_dims > 0 it stays GatherND."""
    m = model([helper.make_node("GatherND", ["x", "i"], ["y"], batch_dims=batch_dims)],
              {"x": data_shape, "i": idx_shape}, ["y"], opset=13, dtypes={"i": TensorProto.INT64})
    rng = np.random.default_rng(5)
    d = data_shape[batch_dims]
    feeds = {"x": rng.standard_normal(data_shape).astype(np.float32),
             "i": rng.integers(-d, d, idx_shape).astype(np.int64)}
    feeds["i"].reshape(-1)[:2] = (-d, d - 1)   # both ends of the range
    g = import_onnx(m)
    assert [type(n.op).__name__ for n in g.nodes if type(n.op).__name__ in ("Gather", "GatherND")] == [ir_op]
    np.testing.assert_array_equal(run_float(g, feeds)["y"], run_onnxruntime(m, feeds)["y"])
