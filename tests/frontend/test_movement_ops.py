"""DepthToSpace, SpaceToDepth, Tile and Expand (ops_movement.py) and the constant-folded
ConstantOfShape / Range / Expand / Tile, each as a small model run by onnxruntime and by qcomp
(import_onnx + ref.run_float): data movement is exact, so the outputs must be equal (within
float rounding where a Conv comes first, to put the op's input in NHWC). Then a
quantized conv + DepthToSpace super-resolution head, built for ref and x86-vnni: bit-exact.
"""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from qcomp.errors import UnsupportedModelError
from qcomp.frontend import import_onnx
from qcomp.ref import run_float

from .onnx_util import Case, assert_matches, model, run_onnxruntime


def i64(*v) -> np.ndarray:
    return np.array(v, dtype=np.int64)


X = (2, 12, 3, 5)
CASES = [
    Case(f"d2s_{mode.lower()}_b{b}_op{opset}{'_nhwc' if nhwc else ''}", "DepthToSpace", (shape,),
         {"blocksize": b, "mode": mode}, opset=opset, nhwc=nhwc)
    for mode in ("DCR", "CRD") for b, shape in ((2, X), (3, (1, 18, 2, 3)), (1, (1, 4, 3, 2)))
    for opset, nhwc in ((11, False), (13, True))
] + [
    Case("d2s_default_mode_op21", "DepthToSpace", (X,), {"blocksize": 2}, opset=21),
    Case("s2d_b2", "SpaceToDepth", ((2, 3, 6, 4),), {"blocksize": 2}, opset=11),
    Case("s2d_b3_nhwc", "SpaceToDepth", ((1, 5, 6, 9),), {"blocksize": 3}, opset=13, nhwc=True),
    Case("s2d_b2_op21", "SpaceToDepth", ((1, 2, 4, 2),), {"blocksize": 2}, opset=21),
    Case("tile_runtime", "Tile", ((2, 3, 5), i64(2, 1, 3)), opset=11),
    Case("tile_nhwc", "Tile", ((1, 5, 3, 2), i64(2, 2, 1, 3)), opset=13, nhwc=True),
    Case("tile_ones", "Tile", ((2, 3), i64(1, 1)), opset=21),
    Case("expand_rank_up", "Expand", ((3, 1), i64(2, 3, 4)), opset=11),
    Case("expand_same_rank_nhwc", "Expand", ((1, 5, 1, 1), i64(2, 5, 3, 4)), opset=13, nhwc=True),
    Case("expand_smaller_shape", "Expand", ((2, 1, 4), i64(3, 1)), opset=21),
    Case("expand_noop", "Expand", ((2, 3), i64(1)), opset=13),
]


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_matches_onnxruntime_exactly(case: Case):
    m, feeds = case.build(np.random.default_rng(0))
    want = run_onnxruntime(m, feeds)
    got = run_float(import_onnx(m), feeds)
    for k, b in want.items():
        assert got[k].shape == b.shape and got[k].dtype == b.dtype, case.id
    if case.nhwc:   # the 1x1 Conv before the op rounds differently from onnxruntime's
        assert_matches(got, want)
    else:
        for k, b in want.items():
            np.testing.assert_array_equal(got[k], b, err_msg=case.id)


@pytest.mark.parametrize("opset", [11, 21])
def test_constant_subgraph_folds(opset):
    """ConstantOfShape(Shape(x)), Range, and Expand / Tile of constants fold: only the Add and
    the Mul reach the IR."""
    nodes = [
        helper.make_node("Shape", ["x"], ["s"]),
        helper.make_node("ConstantOfShape", ["s"], ["ones"],
                         value=helper.make_tensor("v", TensorProto.FLOAT, [1], [0.5])),
        helper.make_node("Range", ["start", "limit", "delta"], ["r"]),
        helper.make_node("Expand", ["r", "eshape"], ["re"]),
        helper.make_node("Tile", ["re", "reps"], ["rt"]),
        helper.make_node("Add", ["x", "ones"], ["a"]),
        helper.make_node("Mul", ["a", "rt"], ["y"]),
    ]
    inits = {"start": np.array(1.0, np.float32), "limit": np.array(3.5, np.float32),
             "delta": np.array(0.5, np.float32), "eshape": i64(2, 1, 1), "reps": i64(1, 3, 1)}
    m = model(nodes, {"x": (2, 3, 5)}, ["y"], inits, opset=opset)
    g = import_onnx(m)
    assert sorted(n.op.__class__.__name__ for n in g.nodes) == ["Add", "Mul"]
    x = np.random.default_rng(1).standard_normal((2, 3, 5)).astype(np.float32)
    np.testing.assert_array_equal(run_float(g, {"x": x})["y"], run_onnxruntime(m, {"x": x})["y"])


def test_range_of_run_time_values_is_refused():
    """Range and ConstantOfShape only fold: a run-time input would make the output shape dynamic."""
    node = helper.make_node("Range", ["x", "limit", "delta"], ["y"], name="mover")
    m = model([node], {"x": ()}, ["y"], {"limit": np.array(5.0, np.float32), "delta": np.array(1.0, np.float32)})
    with pytest.raises(UnsupportedModelError, match="op Range is not supported with inputs computed at run time"):
        import_onnx(m)


@pytest.mark.parametrize("node, inits, pattern", [
    (helper.make_node("DepthToSpace", ["x"], ["y"], blocksize=4), {}, "not a multiple of blocksize"),
    (helper.make_node("DepthToSpace", ["x"], ["y"], blocksize=2, mode="XYZ"), {}, "mode 'XYZ' is not one of DCR, CRD"),
    (helper.make_node("SpaceToDepth", ["x"], ["y"], blocksize=4), {}, "multiples of blocksize 4"),
    (helper.make_node("SpaceToDepth", ["x"], ["y"], blocksize=2, mode="CRD"), {}, "has the DCR order only"),
    (helper.make_node("Tile", ["x", "r"], ["y"]), {"r": i64(1, 0, 1, 1)}, "0 copies along axis 1"),
    (helper.make_node("Tile", ["x", "r"], ["y"]), {"r": i64(2, 2)}, "one entry per axis"),
    (helper.make_node("Expand", ["x", "s"], ["y"]), {"s": i64(3, 1, 1)}, "does not broadcast"),
    (helper.make_node("Tile", ["x", "r"], ["y"]), {}, "computed at run time"),
])
def test_errors_name_node_and_limit(node, inits, pattern):
    node.name = "mover"
    inputs = {"x": (1, 4, 6, 6)}
    if node.op_type == "Tile" and not inits:
        inputs["r"] = (4,)
    m = model([node], inputs, ["y"], inits, opset=13, dtypes={"r": TensorProto.INT64})
    with pytest.raises(UnsupportedModelError, match=pattern) as e:
        import_onnx(m)
    assert "'mover'" in str(e.value)
