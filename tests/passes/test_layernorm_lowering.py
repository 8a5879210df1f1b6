"""LayerNorm through quantize and lower_integer: the int8 LayerNorm where the spec has a form for its
params (QLayerNorm with fixedpoint.layernorm_params' integers), the float region where it does not
(and with --skip), the refusal naming the node, and the lowered graph within 1/2 LSB (the output's
rounding) of the float LayerNorm of the same int8 input."""
from __future__ import annotations

import numpy as np
import pytest

from qcomp import fixedpoint
from qcomp.errors import QcompError
from qcomp.ir import DType, Graph, QuantParams, TensorType, ops, verify
from qcomp.ir.qops_norm import QLayerNorm
from qcomp.passes import quantize_norm
from qcomp.passes.calibrate import calibrate
from qcomp.passes.lower_integer import lower_integer
from qcomp.passes.quantize import QuantOptions, quantize
from qcomp.ref import run_float, run_integer

from .helpers import F, body


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


def test_quantize_makes_an_int8_layer_norm_and_lower_integer_its_integers():
    g = _graph()
    q = verify(quantize(g, {"x": (-4.0, 4.0), "ln": (-3.0, 3.0)}))
    assert body(q)[1] == ("%ln_q = LayerNorm(%x_q, %gamma, %beta) {axis=2, epsilon=1e-05} : i8[1x8x32] "
                          "q(scale=0.0235294, zp=0)   # 'ln'")
    t = verify(lower_integer(q))
    node = t.node("ln")
    assert isinstance(node.op, QLayerNorm)
    s_in, s_out = float(q.types["x_q"].quant.scale[0]), float(q.types["ln_q"].quant.scale[0])
    p = fixedpoint.layernorm_params(32, 1e-5, s_in, g.constants["gamma"], g.constants["beta"], s_out)
    assert node.op == QLayerNorm(2, p.eps_q, 0, 0, -128, 127)
    np.testing.assert_array_equal(t.constants[node.inputs[1]], p.gamma_q)
    np.testing.assert_array_equal(t.constants[node.inputs[2]], p.beta_q)


def test_the_integer_layer_norm_is_the_rounded_float_layer_norm_of_its_int8_input():
    g = _graph((2, 5, 4, 6), axis=2)       # two trailing axes: a row of 24 elements
    rng = np.random.default_rng(3)
    samples = [{"x": (rng.standard_normal((2, 5, 4, 6)) * 2).astype(np.float32)} for _ in range(4)]
    ranges = calibrate(g, samples).ranges
    integer = lower_integer(quantize(g, ranges))
    region = lower_integer(quantize(g, ranges, QuantOptions(skip=frozenset({"ln"}))))
    assert any(isinstance(n.op, QLayerNorm) for n in integer.nodes)
    assert not any(isinstance(n.op, QLayerNorm) for n in region.nodes)
    feeds = {"x": (rng.standard_normal((2, 5, 4, 6)) * 2).astype(np.float32)}
    values = {}
    run_integer(integer, feeds, on_value=values.__setitem__)
    x_q, y_q = values["x_q"].astype(np.float64), values["ln_q"]
    assert y_q.dtype == np.int8 and np.unique(y_q).size > 40
    x = (x_q - int(integer.types["x_q"].quant.zero_point[0])) * float(integer.types["x_q"].quant.scale[0])
    float_ln = run_float(g, {"x": x.astype(np.float32)})["ln"]   # the float LayerNorm of the same int8 input
    qp = integer.types["ln_q"].quant
    s, zp = float(qp.scale[0]), int(qp.zero_point[0])
    got = (y_q.astype(np.float64) - zp) * s
    assert np.abs(got - np.clip(float_ln, (-128 - zp) * s, (127 - zp) * s)).max() <= 0.51 * s


def test_an_output_scale_too_small_for_gamma_keeps_the_float_op():
    g = _graph(gamma_scale=1000.0)
    q = verify(quantize(g, {"x": (-4.0, 4.0), "ln": (-1.0, 1.0)}))
    assert q.types[q.node("ln").outputs[0]].dtype is DType.FLOAT32
    assert all(not isinstance(n.op, QLayerNorm) for n in lower_integer(q).nodes)


def test_skip_keeps_the_float_op():
    q = quantize(_graph(), {"x": (-4.0, 4.0), "ln": (-3.0, 3.0)}, QuantOptions(skip=frozenset({"ln"})))
    assert q.types[q.node("ln").outputs[0]].dtype is DType.FLOAT32


def test_lowering_an_int8_layer_norm_outside_the_spec_names_the_node():
    q = quantize(_graph(), {"x": (-4.0, 4.0), "ln": (-3.0, 3.0)})   # fits at this output scale
    out = q.types[q.node("ln").outputs[0]]
    q.types[q.node("ln").outputs[0]] = TensorType(out.shape, DType.INT8, QuantParams(np.float32(1e-5), 0))
    with pytest.raises(QcompError, match="node 'ln' \\(LayerNorm\\): output scale .* --skip ln"):
        lower_integer(q)


def test_a_layer_norm_with_run_time_gamma_is_not_int8():
    g = Graph(name="ln")
    for v, s in (("x", (2, 6)), ("gamma", (6,)), ("beta", (6,))):
        g.add_input(v, TensorType(s, F))
    g.add_node(ops.LayerNorm(1, 1e-5), ["x", "gamma", "beta"], "ln")
    assert quantize_norm.int8_mode(g, g.node("ln")) is None
