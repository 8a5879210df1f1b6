"""Float regions of quantized models on cuda --emulate, through the real passes (calibrate, quantize
with `--skip`, lower_integer), against the integer reference:

- a LogSoftmax kept in float (its ReduceMax, Sub, Exp, ReduceSum, Log, Sub: the float kernels of
  emit_float_fallback.py, emit_float.py, emit_math.py and emit_logic.py) after an int8 conv, quantized
  again at the output: both int8 outputs equal the reference's;
- a CNN with one conv and one Sigmoid kept in float (float Conv2D and Sigmoid between a Dequantize
  and a Quantize) and int8 layers after them: every int8 output equals the reference's (the
  region's sums run in k order where the reference uses BLAS; ARCHITECTURE.md section 3 allows 1
  LSB at the region's Quantize, this graph with its seeds has none).
"""
from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto as T
from onnx import helper

from cuda_harness import emulation_skip, run_cuda_emulated
from qcomp.frontend import import_onnx
from qcomp.ir import DType, Graph, TensorType, ops, verify
from qcomp.passes.calibrate import calibrate
from qcomp.passes.lower_integer import lower_integer
from qcomp.passes.quantize import QuantOptions, quantize
from qcomp.ref import run_integer

pytestmark = pytest.mark.skipif(emulation_skip() is not None, reason=str(emulation_skip()))
LOG_SOFTMAX = frozenset({"logp/max", "logp/shift", "logp/exp", "logp/sum", "logp/log", "logp"})


def _log_softmax_model():
    rng = np.random.default_rng(5)
    inits = [helper.make_tensor("w", T.FLOAT, (6, 3, 3, 3), (rng.standard_normal((6, 3, 3, 3)) * 0.4).ravel()),
             helper.make_tensor("b", T.FLOAT, (6,), (rng.standard_normal(6) * 0.1).ravel())]
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["conv"], name="conv", pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["conv"], ["relu"], name="relu"),
             helper.make_node("MaxPool", ["relu"], ["pool"], name="pool", kernel_shape=[2, 2], strides=[2, 2]),
             helper.make_node("LogSoftmax", ["conv"], ["logp"], name="logp", axis=1)]
    graph = helper.make_graph(nodes, "log_softmax", [helper.make_tensor_value_info("x", T.FLOAT, [1, 3, 8, 9])],
                              [helper.make_tensor_value_info("pool", T.FLOAT, None),
                               helper.make_tensor_value_info("logp", T.FLOAT, None)], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])


def test_log_softmax_kept_in_float():
    g = import_onnx(_log_softmax_model())
    rng = np.random.default_rng(0)
    samples = [{"x": rng.standard_normal((1, 3, 8, 9)).astype(np.float32)} for _ in range(5)]
    t = verify(lower_integer(quantize(g, calibrate(g, samples[:4]).ranges, QuantOptions(skip=LOG_SOFTMAX))))
    kinds = {n.name: (n.kind, t.types[n.inputs[0]].dtype) for n in t.nodes}
    for name, kind in [("logp/max", "ReduceMax"), ("logp/exp", "Exp"), ("logp/sum", "ReduceSum"), ("logp/log", "Log")]:
        assert kinds[name] == (kind, DType.FLOAT32), kinds
    want, got = run_integer(t, samples[4], raw=True), run_cuda_emulated(t, samples[4], raw=True)
    for name in ("pool", "logp"):   # the region ends at logp's Quantize: int8 again
        assert got[name].dtype == np.int8 and np.unique(want[name]).size > 8, name
        np.testing.assert_array_equal(got[name], want[name], err_msg=name)


def _cnn():
    rng = np.random.default_rng(7)
    g = Graph(name="skip_cnn")
    g.add_input("x", TensorType((1, 12, 11, 3), DType.FLOAT32))

    def conv(name, src, o, c, **kw):
        w = g.add_constant(f"{name}_w", (rng.standard_normal((o, 3, 3, c)) * 0.4).astype(np.float32))
        b = g.add_constant(f"{name}_b", (rng.standard_normal(o) * 0.1).astype(np.float32))
        g.add_node(ops.Conv2D(pads=(1, 1, 1, 1), **kw), [src, w, b], name)
    conv("conv0", "x", 8, 3, act_min=0.0)
    conv("conv1", "conv0", 8, 8, strides=(2, 2))
    g.add_node(ops.Sigmoid(), ["conv1"], "sig")
    conv("conv2", "sig", 6, 8, act_min=0.0)
    g.add_node(ops.MaxPool2D((2, 2), (2, 2)), ["conv2"], "pool")
    g.add_node(ops.ReduceMean((1, 2), True), ["conv2"], "gap")
    g.outputs = ["pool", "gap", "conv0"]
    samples = [{"x": rng.standard_normal((1, 12, 11, 3)).astype(np.float32)} for _ in range(5)]
    ranges = calibrate(verify(g), samples[:4]).ranges
    skip = QuantOptions(skip=frozenset({"conv1", "sig"}))
    return verify(lower_integer(verify(quantize(g, ranges, skip)))), samples[4]


def test_cnn_with_skipped_conv_and_sigmoid():
    t, feeds = _cnn()
    float_nodes = {n.name for n in t.nodes if type(n.op) in (ops.Conv2D, ops.Sigmoid)}
    assert float_nodes == {"conv1", "sig"}, float_nodes
    want, got = run_integer(t, feeds, raw=True), run_cuda_emulated(t, feeds, raw=True)
    for name in t.outputs:
        assert got[name].dtype == np.int8 and np.unique(want[name]).size > 5, name
        np.testing.assert_array_equal(got[name], want[name], err_msg=name)


def test_quant_weight_dequantizes_per_channel_then_runs_float(rng):
    """--quant weight: int8 weights per output channel -> per-channel Dequantize at run time -> float
    Dense / grouped Conv2D reading the dequantized weights (the llvm backend's test, on cuda; one
    graph): within float32 rounding of the reference (k-order sums against BLAS)."""
    from qcomp.passes.quantize_weights import quantize_weights
    g = Graph(name="weight_only")
    layers = {"dense": ((3, 33), (13, 33), ops.Dense()),
              "conv": ((1, 7, 6, 4), (6, 3, 3, 2), ops.Conv2D(pads=(1, 1, 1, 1), group=2, act_min=0.0))}
    feeds = {}
    for name, (shape, w_shape, op) in layers.items():
        g.add_input(f"{name}_x", TensorType(shape, DType.FLOAT32))
        spread = np.linspace(0.1, 3, w_shape[0], dtype=np.float32).reshape((-1,) + (1,) * (len(w_shape) - 1))
        w = g.add_constant(f"{name}_w", (rng.standard_normal(w_shape) * 0.3).astype(np.float32) * spread)
        b = g.add_constant(f"{name}_b", (rng.standard_normal(w_shape[0]) * 0.1).astype(np.float32))
        g.add_node(op, [f"{name}_x", w, b], name)
        feeds[f"{name}_x"] = (rng.standard_normal(shape) * 2).astype(np.float32)
    g.outputs = list(layers)
    t = verify(lower_integer(verify(quantize_weights(verify(g)))))
    deq = [n for n in t.nodes if type(n.op) is ops.Dequantize]
    assert len(deq) == 2 and all(t.types[n.inputs[0]].quant.per_channel for n in deq)
    got, want = run_cuda_emulated(t, feeds), run_integer(t, feeds)
    for name in layers:
        assert np.unique(want[name]).size > 10
        np.testing.assert_allclose(got[name], want[name], rtol=0, atol=1e-5 * np.abs(want[name]).max(), err_msg=name)
