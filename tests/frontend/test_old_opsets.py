"""Models of opsets 7 to 10: converted to opset 11 on import (frontend/convert_opset.py), with one
note line, and an error naming the node the converter cannot convert."""
from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper

from qcomp.errors import ModelLoadError
from qcomp.frontend import import_onnx
from qcomp.ref import run_float

from .onnx_util import assert_matches, model, run_onnxruntime


def _opset9_cnn(rng):
    """Conv -> BatchNormalization -> Relu -> Upsample (opset 9: scales as an input) -> Flatten."""
    w = (rng.standard_normal((4, 3, 3, 3)) / 5).astype(np.float32)
    inits = {"w": w, "b": rng.standard_normal(4).astype(np.float32),
             "g": rng.uniform(0.5, 1.5, 4).astype(np.float32), "beta": rng.standard_normal(4).astype(np.float32),
             "mean": rng.standard_normal(4).astype(np.float32), "var": rng.uniform(0.5, 2, 4).astype(np.float32),
             "scales": np.array([1, 1, 2, 2], np.float32)}
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], name="conv", pads=[1, 1, 1, 1]),
             helper.make_node("BatchNormalization", ["c", "g", "beta", "mean", "var"], ["n"], name="bn"),
             helper.make_node("Relu", ["n"], ["r"], name="relu"),
             helper.make_node("Upsample", ["r", "scales"], ["u"], name="up", mode="nearest"),
             helper.make_node("Flatten", ["u"], ["y"], name="flat")]
    return model(nodes, {"x": (1, 3, 5, 6)}, ["y"], inits, opset=9)


def test_opset9_model_is_converted_and_matches_onnxruntime(rng, capfd):
    m = _opset9_cnn(rng)
    x = rng.standard_normal((1, 3, 5, 6)).astype(np.float32)
    g = import_onnx(m)
    assert "opset 9; converted to opset 11 on import with onnx.version_converter" in capfd.readouterr().err
    assert g.meta["converted_from_opset"] == "9" and g.meta["opset"] == "11"
    assert_matches(run_float(g, {"x": x}), run_onnxruntime(m, {"x": x}))


@pytest.mark.parametrize("opset", [7, 8, 10])
def test_older_opsets_convert(opset, rng):
    m = model([helper.make_node("Relu", ["x"], ["r"]), helper.make_node("Add", ["r", "x"], ["y"])],
              {"x": (2, 3)}, ["y"], opset=opset)
    x = rng.standard_normal((2, 3)).astype(np.float32)
    np.testing.assert_array_equal(run_float(import_onnx(m), {"x": x})["y"], np.maximum(x, 0) + x)


def test_unconvertible_node_is_named():
    m = model([helper.make_node("Relu", ["x"], ["r"], name="fine"),
               helper.make_node("Frobnicate", ["r"], ["y"], name="odd_one")], {"x": (2, 3)}, ["y"], opset=9)
    with pytest.raises(ModelLoadError, match=r"node 'odd_one' \(Frobnicate, opset 9\) cannot be converted to "
                                             r"opset 11 by onnx.version_converter.*Re-export"):
        import_onnx(m)


def test_opset8_scan_the_converter_refuses_is_named():
    body = helper.make_graph([helper.make_node("Identity", ["s_in"], ["s_out"])], "body",
                             [helper.make_tensor_value_info("s_in", TensorProto.FLOAT, [2])],
                             [helper.make_tensor_value_info("s_out", TensorProto.FLOAT, [2])])
    # the converter has no adapter for an opset-8 Scan with sequence lengths
    scan = helper.make_node("Scan", ["lens", "x"], ["y"], name="old_scan", body=body, num_scan_inputs=1)
    m = model([scan], {"x": (1, 3, 2)}, ["y"], {"lens": np.array([3], np.int32)}, opset=8)
    with pytest.raises(ModelLoadError, match=r"node 'old_scan' \(Scan, opset 8\) cannot be converted"):
        import_onnx(m)
