"""Importing QDQ models (onnxruntime's quantize_static, QuantFormat.QDQ): the model's own scales are
kept, and qcomp's integer reference agrees with onnxruntime running the QDQ model."""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from qcomp.builder import BuildOptions, quantize_model
from qcomp.errors import UnsupportedModelError
from qcomp.frontend import import_onnx
from qcomp.frontend.export_qdq import export_qdq
from qcomp.ir import Stage, ops
from qcomp.ir.prequant import prequant_of
from qcomp.ref.integer import run_integer
from qcomp.passes.lower_integer import lower_integer

from . import models
from .helpers import (EXAMPLE, compare, example_samples, import_and_quantize, ort_quantize, session)

ACTIVATIONS = ["QInt8", "QUInt8"]


def _model_params(path) -> tuple[dict[str, tuple[float, int]], dict[str, np.ndarray]]:
    """Scales/zero points of the QuantizeLinear nodes (int8 zero points) and weight scales by DQ input."""
    m = onnx.load(path)
    inits = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
    acts, weights = {}, {}
    for n in m.graph.node:
        if n.op_type == "QuantizeLinear":
            zp = inits[n.input[2]]
            acts[n.input[0]] = (float(inits[n.input[1]]), int(zp) - (128 if zp.dtype == np.uint8 else 0))
        elif n.op_type == "DequantizeLinear" and n.input[0] in inits and inits[n.input[0]].dtype == np.int8:
            weights[n.input[0]] = inits[n.input[1]]
    return acts, weights


@pytest.fixture(scope="module", params=ACTIVATIONS)
def example_qdq(request, tmp_path_factory):
    calib = example_samples(64)  # the first test images; the agreement test runs on the next ones
    return ort_quantize(EXAMPLE / "model.onnx", tmp_path_factory.mktemp("ort"), calib, "QDQ", request.param)


def test_example_qdq_agrees_with_onnxruntime(example_qdq):
    q = import_and_quantize(example_qdq)   # no --calib: the model's scales are the calibration
    assert q.stage is Stage.QUANTIZED
    samples = example_samples(164)[64:]
    diffs, top1 = compare(q, session(example_qdq), samples, "logits")
    within = np.mean(diffs <= 1)
    print(f"\n{example_qdq.name}: {diffs.size} logits, |qcomp - onnxruntime| histogram (LSB) "
          f"{np.bincount(diffs).tolist()}, within 1 LSB {within:.2%}, top-1 agreement {top1:.0%}")
    assert within >= 0.99
    assert top1 >= 0.98


def test_example_qdq_keeps_the_model_scales(example_qdq):
    acts, weights = _model_params(example_qdq)
    g = import_onnx(example_qdq)
    table = prequant_of(g)
    assert table.source == "QDQ"
    # every weighted node's weights: the model's per-channel scales, bit for bit
    weighted = [n for n in g.nodes if isinstance(n.op, (ops.Conv2D, ops.Dense))]
    assert len(weighted) == 4 and all(n.inputs[1] in table.weights for n in weighted)
    model_scales = sorted(s.tobytes() for s in weights.values())
    assert sorted(table.weights[n.inputs[1]].scale.tobytes() for n in weighted) == model_scales
    q, _ = quantize_model(g, BuildOptions())
    # every int8 activation of the quantized graph carries one of the model's (scale, zero point)
    model_params = set(acts.values())
    used = {(float(t.quant.scale[0]), int(t.quant.zero_point[0])) for v, t in q.types.items()
            if t.quant is not None and t.quant.axis is None and v not in q.constants}
    assert used <= model_params, used - model_params
    # the weights are the model's integers (w_q - zero point, zero point 0 here)
    for n in q.nodes:
        if isinstance(n.op, (ops.Conv2D, ops.Dense)):
            assert np.abs(q.constants[n.inputs[1]]).max() <= 127


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_residual_lut_model_qdq_agrees(tmp_path, activation):
    calib = [{"x": x} for x in models.random_inputs((1, 3, 12, 12), 32)]
    path = ort_quantize(models.residual_lut_cnn(final_tanh=False), tmp_path, calib, "QDQ", activation)
    q = import_and_quantize(path)
    samples = [{"x": x} for x in models.random_inputs((1, 3, 12, 12), 40, seed=5)]
    diffs, _ = compare(q, session(path), samples, "y")
    assert diffs.max() <= 1, np.bincount(diffs)


def test_ops_the_model_keeps_in_float_stay_float(tmp_path):
    """onnxruntime leaves Tanh unquantized; qcomp keeps it in float too (no calibration needed)."""
    calib = [{"x": x} for x in models.random_inputs((1, 3, 12, 12), 16)]
    path = ort_quantize(models.residual_lut_cnn(final_tanh=True), tmp_path, calib, "QDQ")
    q = import_and_quantize(path)
    tanh = [n for n in q.nodes if isinstance(n.op, ops.Tanh)]
    assert len(tanh) == 1 and q.types[tanh[0].outputs[0]].quant is None
    x = models.random_inputs((1, 3, 12, 12), 1, seed=4)[0]
    ours = run_integer(lower_integer(q), {"x": x})["y"]
    theirs = session(path).run(None, {"x": x})[0]
    dequantize = q.producers()[tanh[0].inputs[0]]
    assert isinstance(dequantize.op, ops.Dequantize)
    fc_scale = float(q.types[dequantize.inputs[0]].quant.scale[0])
    assert np.abs(ours - theirs).max() <= fc_scale  # tanh is 1-Lipschitz: within one LSB of its input


def test_export_import_round_trip_is_exact(tmp_path):
    path = tmp_path / "calib.npz"
    np.savez(path, x=models.random_inputs((1, 3, 12, 12), 16))
    q = import_and_quantize(models.residual_lut_cnn(), calib=str(path))
    q2 = import_and_quantize(export_qdq(q))
    qconst = sorted(a.tobytes() for k, a in q.constants.items() if q.types[k].quant is not None)
    q2const = sorted(a.tobytes() for k, a in q2.constants.items() if q2.types[k].quant is not None)
    assert qconst == q2const   # int8 weights, int32 biases and lookup tables, identical
    params = {t.quant for v, t in q.types.items() if t.quant is not None and v not in q.constants}
    params2 = {t.quant for v, t in q2.types.items() if t.quant is not None and v not in q2.constants}
    assert params == params2
    for x in models.random_inputs((1, 3, 12, 12), 3, seed=8):
        a = run_integer(lower_integer(q), {"x": x}, raw=True)["y"]
        b = run_integer(lower_integer(q2), {"x": x}, raw=True)["y"]
        np.testing.assert_array_equal(a, b)


# ---- handmade QDQ models: conversions and errors -------------------------------------------------

def _qdq_conv(w_q: np.ndarray, w_zp: np.ndarray, w_scale: np.ndarray, act_q: bool = True,
              act_scale=np.float32(0.02), act_axis: int | None = None) -> onnx.ModelProto:
    """x -> Q -> DQ -> Conv(DQ(w_q)) -> Q -> DQ -> y, uint8 activations with zero point 128."""
    c_out = w_q.shape[0]
    inits = [numpy_helper.from_array(w_q, "w_q"), numpy_helper.from_array(w_zp, "w_zp"),
             numpy_helper.from_array(w_scale, "w_scale"), numpy_helper.from_array(np.zeros(c_out, np.float32), "b"),
             numpy_helper.from_array(np.asarray(act_scale, np.float32), "s"),
             numpy_helper.from_array(np.full(np.shape(act_scale), 128, np.uint8), "zp"),
             numpy_helper.from_array(np.float32(0.05), "s_y"), numpy_helper.from_array(np.uint8(100), "zp_y")]
    axis = {} if act_axis is None else {"axis": act_axis}
    nodes = [helper.make_node("DequantizeLinear", ["w_q", "w_scale", "w_zp"], ["w"], axis=0, name="dq_w")]
    x = "x"
    if act_q:
        nodes += [helper.make_node("QuantizeLinear", ["x", "s", "zp"], ["xq"], name="q_x", **axis),
                  helper.make_node("DequantizeLinear", ["xq", "s", "zp"], ["xd"], name="dq_x", **axis)]
        x = "xd"
    nodes += [helper.make_node("Conv", [x, "w", "b"], ["c"], pads=[1, 1, 1, 1], name="conv"),
              helper.make_node("QuantizeLinear", ["c", "s_y", "zp_y"], ["cq"], name="q_c"),
              helper.make_node("DequantizeLinear", ["cq", "s_y", "zp_y"], ["y"], name="dq_c")]
    g = helper.make_graph(nodes, "qdq_conv", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 2, 5, 5])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, c_out, 5, 5])], inits)
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)], ir_version=models.IR_VERSION)


def _uint8_weights(lo: int, hi: int) -> np.ndarray:
    return np.random.default_rng(0).integers(lo, hi + 1, size=(3, 2, 3, 3)).astype(np.uint8)


def test_uint8_weights_that_fit_convert_exactly():
    w_q = _uint8_weights(1, 255)                    # q - 128 in [-127, 127]
    scale = np.array([0.01, 0.02, 0.03], np.float32)
    m = _qdq_conv(w_q, np.full(3, 128, np.uint8), scale)
    q = import_and_quantize(m)
    conv = next(n for n in q.nodes if isinstance(n.op, ops.Conv2D))
    w = q.constants[conv.inputs[1]]                 # OHWI
    np.testing.assert_array_equal(w, (w_q.astype(np.int64) - 128).transpose(0, 2, 3, 1))
    np.testing.assert_array_equal(q.types[conv.inputs[1]].quant.scale, scale)
    assert q.types[conv.inputs[0]].quant.zero_point[0] == 0     # uint8 zero point 128 -> int8 0
    assert q.types[conv.outputs[0]].quant.zero_point[0] == -28  # 100 - 128
    x = np.random.default_rng(1).standard_normal((1, 2, 5, 5)).astype(np.float32)
    theirs = session(m, "ort_unfused").run(None, {"x": x})[0]
    ours = run_integer(lower_integer(q), {"x": x})["y"]
    assert np.abs(theirs - ours).max() <= 0.05 + 1e-6


def test_asymmetric_weights_that_do_not_fit_are_an_error():
    m = _qdq_conv(_uint8_weights(0, 255), np.full(3, 128, np.uint8), np.full(3, 0.01, np.float32))
    with pytest.raises(UnsupportedModelError, match=r"node 'conv'.*zero point 128.*\[-128, 127\].*\[-127, 127\]"):
        import_onnx(m)


def test_per_channel_activation_is_an_error():
    m = _qdq_conv(_uint8_weights(1, 255), np.full(3, 128, np.uint8), np.full(3, 0.01, np.float32),
                  act_scale=np.array([0.02, 0.03], np.float32), act_axis=1)
    with pytest.raises(UnsupportedModelError, match="q_x.*per channel"):
        import_onnx(m)


def test_values_without_model_scale_stay_float_unless_calibrated(tmp_path):
    """The model does not quantize x, so its Conv runs in float there (as onnxruntime runs it);
    with --calib, qcomp calibrates x and runs the Conv in int8 with the model's output scale."""
    m = _qdq_conv(_uint8_weights(1, 255), np.full(3, 128, np.uint8), np.full(3, 0.01, np.float32), act_q=False)
    g = import_onnx(m)
    q, _ = quantize_model(g, BuildOptions())
    conv = next(n for n in q.nodes if isinstance(n.op, ops.Conv2D))
    assert q.types[conv.outputs[0]].quant is None
    calib = tmp_path / "calib.npz"
    np.savez(calib, x=np.random.default_rng(2).standard_normal((8, 1, 2, 5, 5)).astype(np.float32))
    q, _ = quantize_model(g, BuildOptions(calib=str(calib)))
    conv = next(n for n in q.nodes if isinstance(n.op, ops.Conv2D))
    assert q.types[conv.inputs[0]].quant is not None
    assert q.types[conv.outputs[0]].quant.zero_point[0] == -28   # the model's scale still wins
