"""Softmax through quantize and lower_integer: the integer Softmax where its rows and input scale fit
the spec (output scale 1/256, zero point -128, the spec's parameters worked out by hand), the float
region where they do not, the refusals that name the node, the verifier's rejection of an unlowered
int8 Softmax, and the lowered graph's accuracy against the float softmax."""
from __future__ import annotations

import numpy as np
import pytest

from qcomp.errors import QcompError
from qcomp.ir import DType, Graph, IRError, QuantParams, Stage, TensorType, format_node, ops, qops, verify
from qcomp.passes.calibrate import calibrate
from qcomp.passes.lower_integer import lower_integer
from qcomp.passes.quantize import QuantOptions, quantize
from qcomp.ref import run_float, run_integer

from .helpers import F, body


def _softmax_graph(shape=(2, 10), axis=1) -> Graph:
    g = Graph(name="sm")
    g.add_input("x", TensorType(shape, F))
    g.add_node(ops.Softmax(axis=axis), ["x"], "softmax")
    g.outputs = ["softmax"]
    return g


def test_quantize_makes_an_int8_softmax_at_the_spec_output_scale():
    q = verify(quantize(_softmax_graph(), {"x": (-12.8, 12.7)}))
    assert body(q) == [
        "%x_q = Quantize(%x) {dtype=i8} : i8[2x10] q(scale=0.1, zp=0)   # 'x_quantize'",
        "%softmax_q = Softmax(%x_q) {axis=1} : i8[2x10] q(scale=0.00390625, zp=-128)   # 'softmax'",
        "%softmax = Dequantize(%softmax_q) : f32[2x10]   # 'softmax_dequantize'"]


def test_lower_integer_parameters_by_hand():
    """s_in = 0.1, beta 1: real = 0.1 * 2^26 = 6710886.4 = 0.8 * 2^23 -> multiplier round(0.8 * 2^31)
    = 1717986918 (0.1 in float32 is 0.100000001490116, which rounds to 1717986944), left shift 23;
    diff_min = -floor(31 * 2^26 / 2^23) = -248."""
    t = verify(lower_integer(quantize(_softmax_graph(), {"x": (-12.8, 12.7)})))
    assert format_node(t, t.node("softmax")) == (
        "%softmax_q = QSoftmax(%x_q) {axis=1, input_multiplier=1717986944, input_left_shift=23, diff_min=-248} "
        ": i8[2x10] q(scale=0.00390625, zp=-128)   # 'softmax'")


@pytest.mark.parametrize("shape, ranges, why", [
    ((1, 4100), {"x": (-1.0, 1.0)}, "row of 4100 elements"),
    ((2, 10), {"x": (0.0, 1e-6)}, "input scale below 2^-26 / beta"),
])
def test_rows_over_4095_or_a_tiny_input_scale_stay_in_float(shape, ranges, why):
    q = verify(quantize(_softmax_graph(shape), ranges))
    softmax = q.node("softmax")
    assert softmax.kind == "Softmax" and q.types[softmax.outputs[0]].dtype is DType.FLOAT32, why
    assert all(n.kind != "QSoftmax" for n in lower_integer(q).nodes)


def test_skip_keeps_the_softmax_in_float():
    q = quantize(_softmax_graph(), {"x": (-12.8, 12.7)}, QuantOptions(skip=frozenset({"softmax"})))
    assert q.types["softmax"].dtype is DType.FLOAT32


def _quantized_softmax(s_out: float, zp_out: int, s_in: float = 0.05, depth: int = 10) -> Graph:
    g = Graph(name="q", stage=Stage.QUANTIZED)
    g.add_input("x", TensorType((3, depth), DType.INT8, QuantParams(s_in, 0)))
    g.add_node(ops.Softmax(axis=1), ["x"], "my softmax",
               out_types=[TensorType((3, depth), DType.INT8, QuantParams(s_out, zp_out))])
    g.outputs = [g.node("my softmax").outputs[0]]
    return g


def test_lower_integer_refuses_another_output_scale_naming_the_node():
    with pytest.raises(QcompError, match=r"'my softmax'.*scale 1/256, zero point -128"):
        lower_integer(_quantized_softmax(0.01, 0))


def test_lower_integer_refuses_rows_over_4095_naming_the_node():
    with pytest.raises(QcompError, match=r"'my softmax'.*4096 elements.*--skip my softmax"):
        lower_integer(_quantized_softmax(1 / 256, -128, depth=4096))


def test_verifier_rejects_an_unlowered_int8_softmax_in_a_target_graph():
    g = _quantized_softmax(1 / 256, -128)
    g.stage = Stage.TARGET
    with pytest.raises(IRError, match="must be lowered"):
        verify(g)


@pytest.mark.parametrize("op, message", [
    (qops.QSoftmax(axis=1, input_multiplier=1 << 30, input_left_shift=20, diff_min=-100), "row of 4096"),
    (qops.QSoftmax(axis=1, input_multiplier=0, input_left_shift=20, diff_min=-100), "out of range"),
    (qops.QSoftmax(axis=1, input_multiplier=1 << 30, input_left_shift=31, diff_min=-100), "out of range"),
    (qops.QSoftmax(axis=2, input_multiplier=1 << 30, input_left_shift=20, diff_min=-100), "axis 2"),
])
def test_qsoftmax_infer_refuses_what_the_spec_does_not_define(op, message):
    depth = 4096 if "4096" in message else 8
    with pytest.raises(IRError, match=message):
        op.infer([TensorType((2, depth), DType.INT8, QuantParams(0.1, 0))])


def test_lowered_softmax_is_within_one_lsb_of_the_float_softmax_of_its_int8_input(rng):
    """The integer Softmax against float64 softmax of the dequantized input, on the 1/256 grid."""
    g = _softmax_graph((64, 10), 1)
    samples = [{"x": (rng.standard_normal((64, 10)) * 3).astype(np.float32)} for _ in range(4)]
    t = verify(lower_integer(quantize(g, calibrate(g, samples).ranges)))
    s_in = float(t.types["x_q"].quant.scale[0])
    for s in samples:
        got = run_integer(t, s, raw=True)["softmax"].astype(np.int64)
        xq = np.clip(np.rint(s["x"] / np.float32(s_in)), -128, 127)       # zero point 0: symmetric range
        z = s_in * (xq - xq.max(axis=1, keepdims=True))
        want = np.clip(np.rint(np.exp(z) / np.exp(z).sum(axis=1, keepdims=True) * 256) - 128, -128, 127)
        assert np.abs(got - want).max() <= 1
        assert np.abs(run_float(g, s)["softmax"] - run_integer(t, s)["softmax"]).max() < 0.02
