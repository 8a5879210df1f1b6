"""LayerNorm on int16 activations through quantize and lower_integer: QLayerNorm16 when its input is
int16 (writing int8 itself when the output is not marked) or its output is marked (an int8 input
converted), with fixedpoint.layernorm16_params' integers; the int8 LayerNorm (or the float op)
where the int16 spec has no form; the refusal naming the node; and the lowered graph within
1/2 LSB of the float LayerNorm of the same int16 input."""
from __future__ import annotations

import numpy as np
import pytest

from qcomp import fixedpoint
from qcomp.errors import QcompError
from qcomp.ir import DType, Graph, QuantParams, TensorType, ops, verify
from qcomp.ir.qops16 import QConvert
from qcomp.ir.qops_norm import QLayerNorm
from qcomp.ir.qops_norm16 import QLayerNorm16
from qcomp.passes.calibrate import calibrate
from qcomp.passes.lower_integer import lower_integer
from qcomp.passes.quantize import QuantOptions, quantize
from qcomp.ref import run_float, run_integer

from .helpers import F


def _graph(shape=(1, 8, 32), axis=2, gamma_scale=1.0) -> Graph:
    rng = np.random.default_rng(0)
    g = Graph(name="ln")
    g.add_input("x", TensorType(shape, F))
    norm = shape[axis:]
    w = g.add_constant("gamma", (gamma_scale * (1 + 0.3 * rng.standard_normal(norm))).astype(np.float32))
    b = g.add_constant("beta", (0.2 * rng.standard_normal(norm)).astype(np.float32))
    g.add_node(ops.LayerNorm(axis, 1e-5), ["x", w, b], "ln")
    g.outputs = ["ln"]
    return verify(g)


def _int16(*names: str) -> QuantOptions:
    return QuantOptions(int16=frozenset(names))


RANGES = {"x": (-4.0, 4.0), "ln": (-3.0, 3.0)}


def test_an_int16_input_makes_qlayernorm16_writing_int8_itself():
    g = _graph()
    q = verify(quantize(g, RANGES, _int16("x")))
    assert q.types[q.node("ln").outputs[0]].dtype is DType.INT16        # then a conversion to int8
    t = verify(lower_integer(q))
    node = t.node("ln")
    assert isinstance(node.op, QLayerNorm16) and node.op.out_dtype == "i8"
    assert not any(isinstance(n.op, QConvert) for n in t.nodes)          # folded into QLayerNorm16
    s_in = float(t.types[node.inputs[0]].quant.scale[0])
    s_out = float(t.types[node.outputs[0]].quant.scale[0])
    assert s_in == pytest.approx(4.0 / 32767) and s_out == pytest.approx(6.0 / 255)
    p = fixedpoint.layernorm16_params(32, 1e-5, s_in, g.constants["gamma"], g.constants["beta"], s_out)
    assert node.op == QLayerNorm16(2, p.eps_q, 0, -128, 127, "i8")
    np.testing.assert_array_equal(t.constants[node.inputs[1]], p.gamma_q)
    np.testing.assert_array_equal(t.constants[node.inputs[2]], p.beta_q)


def test_a_marked_output_converts_the_int8_input_and_writes_int16():
    t = verify(lower_integer(quantize(_graph(), RANGES, _int16("ln"))))
    kinds = [n.kind for n in t.nodes]
    assert kinds.index("QConvert") < kinds.index("QLayerNorm16")
    node = t.node("ln")
    assert node.op.out_dtype == "i16" and (node.op.qmin, node.op.qmax) == (-32768, 32767)
    assert t.types[node.outputs[0]].quant.scale[0] == pytest.approx(3.0 / 32767)


def test_the_int16_layer_norm_is_the_rounded_float_layer_norm_of_its_int16_input():
    g = _graph((2, 5, 4, 6), axis=2)       # two trailing axes: a row of 24 elements
    rng = np.random.default_rng(3)
    samples = [{"x": (rng.standard_normal((2, 5, 4, 6)) * 2).astype(np.float32)} for _ in range(4)]
    t = lower_integer(quantize(g, calibrate(g, samples).ranges, _int16("x", "ln")))
    feeds = {"x": (rng.standard_normal((2, 5, 4, 6)) * 2).astype(np.float32)}
    values = {}
    run_integer(t, feeds, on_value=values.__setitem__)
    node = t.node("ln")
    x_q, y_q = values[node.inputs[0]].astype(np.float64), values[node.outputs[0]]
    assert y_q.dtype == np.int16 and np.unique(y_q).size > 200
    x = x_q * float(t.types[node.inputs[0]].quant.scale[0])
    float_ln = run_float(g, {"x": x.astype(np.float32)})["ln"]   # the float LayerNorm of the same int16 input
    s = float(t.types[node.outputs[0]].quant.scale[0])
    assert np.abs(y_q * s - np.clip(float_ln, -32768 * s, 32767 * s)).max() <= 0.51 * s


def test_a_row_beyond_the_int16_limit_keeps_the_int8_layer_norm():
    n = fixedpoint.LAYERNORM_MAX_ROW16 + 8
    t = verify(lower_integer(quantize(_graph((1, n), axis=1), RANGES, _int16("x"))))
    assert isinstance(t.node("ln").op, QLayerNorm)                     # reads the int8 conversion of x
    assert t.types[t.node("ln").inputs[0]].dtype is DType.INT8


def test_an_output_scale_too_small_for_gamma_keeps_the_float_op():
    q = verify(quantize(_graph(gamma_scale=3e4), {"x": (-4.0, 4.0), "ln": (-1.0, 1.0)}, _int16("x")))
    assert q.types[q.node("ln").outputs[0]].dtype is DType.FLOAT32


def test_lowering_an_int16_layer_norm_outside_the_spec_names_the_node():
    q = quantize(_graph(), RANGES, _int16("x", "ln"))
    y = q.node("ln").outputs[0]
    q.types[y] = TensorType(q.types[y].shape, DType.INT16, QuantParams(np.float32(1e-9), 0))
    with pytest.raises(QcompError, match="node 'ln' \\(LayerNorm\\) in int16: output scale .*drop its --precision"):
        lower_integer(q)
