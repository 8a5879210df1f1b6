"""Importing QOperator models (QLinearConv, QLinearMatMul, QLinearAdd, QLinearGlobalAveragePool, ...)
and dynamically quantized models (DynamicQuantizeLinear, ConvInteger, MatMulInteger)."""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnxruntime.quantization import QuantType, quantize_dynamic

from qcomp.builder import BuildOptions, quantize_model
from qcomp.errors import UnsupportedModelError
from qcomp.frontend import import_onnx
from qcomp.ir import ops
from qcomp.ir.prequant import prequant_of
from qcomp.ref import run_float

from . import models
from .helpers import EXAMPLE, compare, example_samples, import_and_quantize, ort_quantize, session


@pytest.mark.parametrize("activation", ["QInt8", "QUInt8"])
def test_residual_lut_model_qoperator_agrees(tmp_path, activation):
    calib = [{"x": x} for x in models.random_inputs((1, 3, 12, 12), 32)]
    path = ort_quantize(models.residual_lut_cnn(final_tanh=False), tmp_path, calib, "QOperator", activation)
    used = {n.op_type for n in onnx.load(path).graph.node}
    assert {"QLinearConv", "QLinearAdd", "QLinearMul", "QLinearSigmoid", "QLinearConcat",
            "QLinearGlobalAveragePool", "QGemm"} <= used
    g = import_onnx(path)
    assert "QOperator" in prequant_of(g).source
    q, _ = quantize_model(g, BuildOptions())
    samples = [{"x": x} for x in models.random_inputs((1, 3, 12, 12), 40, seed=5)]
    diffs, _ = compare(q, session(path), samples, "y")
    assert diffs.max() <= 1, np.bincount(diffs)


def test_example_qoperator_agrees(tmp_path):
    path = ort_quantize(EXAMPLE / "model.onnx", tmp_path, example_samples(32), "QOperator", "QUInt8")
    q = import_and_quantize(path)
    diffs, top1 = compare(q, session(path), example_samples(132)[32:], "logits")
    assert np.mean(diffs <= 1) >= 0.99 and top1 >= 0.98, np.bincount(diffs)


def test_qlinear_matmul_of_two_activations():
    m = models.matmul_of_two_activations()
    q = import_and_quantize(m)
    mm = next(n for n in q.nodes if isinstance(n.op, ops.MatMul))
    assert [int(q.types[v].quant.zero_point[0]) for v in mm.inputs + mm.outputs] == [-8, -5, 2]
    rng = np.random.default_rng(0)
    samples = [{"a": rng.standard_normal((1, 4, 6)).astype(np.float32),
                "b": rng.standard_normal((1, 6, 5)).astype(np.float32)} for _ in range(10)]
    diffs, _ = compare(q, session(m), samples, "y")
    assert diffs.max() <= 1


def test_qlinear_global_average_pool_channels_last():
    m = models.global_average_channels_last()
    q = import_and_quantize(m)
    mean = next(n for n in q.nodes if isinstance(n.op, ops.ReduceMean))
    assert q.types[mean.inputs[0]].shape == (1, 5, 5, 6)
    samples = [{"x": x} for x in models.random_inputs((1, 5, 5, 6), 10)]
    diffs, _ = compare(q, session(m), samples, "y")
    assert diffs.max() <= 1


def _dynamic(tmp_path, weight_type) -> str:
    src, out = tmp_path / "float.onnx", tmp_path / f"dynamic_{weight_type.name}.onnx"
    onnx.save(models.conv_matmul(), src)
    quantize_dynamic(str(src), str(out), weight_type=weight_type, op_types_to_quantize=["Conv", "MatMul"],
                     extra_options={"DefaultTensorType": TensorProto.FLOAT})
    return str(out)


def _dequantized_float_model(path: str) -> onnx.ModelProto:
    """The float model with the weights the dynamic model encodes: (q - zp) * scale."""
    inits = {t.name: numpy_helper.to_array(t) for t in onnx.load(path).graph.initializer}
    m = models.conv_matmul()
    for t in m.graph.initializer:
        if t.name in ("wc", "w"):
            q, s, zp = (inits[f"{t.name}_{k}"] for k in ("quantized", "scale", "zero_point"))
            t.CopyFrom(numpy_helper.from_array(((q.astype(np.int64) - zp).astype(np.float32) * s), t.name))
    return m


def test_dynamic_model_imports_as_its_float_computation(tmp_path):
    path = _dynamic(tmp_path, QuantType.QInt8)
    used = {n.op_type for n in onnx.load(path).graph.node}
    assert {"DynamicQuantizeLinear", "ConvInteger", "MatMulInteger"} <= used
    g = import_onnx(path)
    table = prequant_of(g)
    assert table.source == "dynamic" and len(table.weights) == 2 and not table.activations
    reference = session(_dequantized_float_model(path), "ort_unfused")
    for x in models.random_inputs((1, 3, 4, 4), 5):
        np.testing.assert_allclose(run_float(g, {"x": x})["y"], reference.run(None, {"x": x})[0],
                                   rtol=1e-5, atol=1e-5)
    calib = tmp_path / "calib.npz"
    np.savez(calib, x=models.random_inputs((1, 3, 4, 4), 16))
    q, _ = quantize_model(g, BuildOptions(calib=str(calib)))    # activations calibrated, weight scales kept
    inits = {t.name: numpy_helper.to_array(t) for t in onnx.load(path).graph.initializer}
    dense = next(n for n in q.nodes if isinstance(n.op, ops.Dense))
    np.testing.assert_array_equal(q.types[dense.inputs[1]].quant.scale, np.full(8, inits["w_scale"], np.float32))


def test_dynamic_uint8_weights_are_an_error(tmp_path):
    with pytest.raises(UnsupportedModelError, match=r"(?s)Conv2D.*zero point.*\[-127, 127\].*Dense.*zero point"):
        import_onnx(_dynamic(tmp_path, QuantType.QUInt8))


def test_integer_ops_outside_the_dynamic_pattern_are_an_error():
    nodes = [helper.make_node("MatMulInteger", ["a", "b"], ["y"], name="mmi")]
    g = helper.make_graph(nodes, "mmi", [helper.make_tensor_value_info("a", TensorProto.UINT8, [2, 3])],
                          [helper.make_tensor_value_info("y", TensorProto.INT32, [2, 4])],
                          [numpy_helper.from_array(np.ones((3, 4), np.int8), "b")])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)], ir_version=models.IR_VERSION)
    with pytest.raises(UnsupportedModelError, match="mmi.*DynamicQuantizeLinear -> ConvInteger"):
        import_onnx(m)
