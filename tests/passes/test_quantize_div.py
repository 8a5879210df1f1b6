"""Div by a constant tensor quantizes to the int8 Mul by its reciprocal (passes/quantize_div.py), which
the C backend builds; a zero in the divisor, or a run-time divisor, keeps the float Div."""
from __future__ import annotations

import numpy as np

from qcomp.ir import DType, Graph, TensorType, ops, verify
from qcomp.passes import quantize_div
from qcomp.passes.calibrate import calibrate
from qcomp.passes.lower_integer import lower_integer
from qcomp.passes.quantize import quantize
from qcomp.protocol import backend_module
from qcomp.ref import run_float, run_integer
from qcomp.target import get_target

from .helpers import F


def _graph(divisor: np.ndarray | None) -> Graph:
    g = Graph(name="div")
    g.add_input("x", TensorType((2, 5, 6), F))
    if divisor is None:
        g.add_input("c", TensorType((6,), F))
        c = "c"
    else:
        c = g.add_constant("c", divisor.astype(np.float32))
    g.add_node(ops.Div(), ["x", c], "div")
    g.outputs = ["div"]
    return verify(g)


def _lowered(g: Graph, rng):
    samples = [{i: rng.standard_normal(g.types[i].shape).astype(np.float32) + (2.0 if i == "c" else 0.0)
                for i in g.inputs} for _ in range(4)]
    return verify(lower_integer(verify(quantize(g, calibrate(g, samples).ranges)))), samples


def test_div_by_a_constant_tensor_is_the_int8_mul_by_its_reciprocal(rng):
    divisor = np.array([0.5, 1.0, 2.0, 4.0, -3.0, 8.0])
    g = _graph(divisor)
    t, samples = _lowered(g, rng)
    assert [n.kind for n in t.nodes] == ["Quantize", "QMul", "Dequantize"]
    assert backend_module("c").check(t, get_target("dsp-c")) == []
    feeds = samples[0]
    got, want = run_integer(t, feeds)["div"], run_float(g, feeds)["div"]
    s = float(t.types[t.node("div").outputs[0]].quant.scale[0])
    assert np.abs(got - want).max() <= 3 * s     # input and reciprocal grids plus the output's rounding


def test_a_zero_divisor_or_a_run_time_divisor_keeps_the_float_div(rng):
    g = _graph(np.array([1.0, 0.0, 2.0, 3.0, 4.0, 5.0]))
    assert quantize_div.int8_mode(g, g.node("div")) is None
    t, _ = _lowered(_graph(None), rng)
    assert "Div" in [n.kind for n in t.nodes] and "QMul" not in [n.kind for n in t.nodes]
