"""The int16 Softmax rule of the quantizer and its lowering (passes/quantize_softmax16.py): when a
Softmax computes in int16, the conversions around it, the fixed output scale, the fallback for long
rows, the refusal of a wrong output scale, and the accuracy it buys over the int8 Softmax."""
import numpy as np
import pytest

from qcomp.errors import QcompError
from qcomp.ir import DType, Graph, QuantParams, TensorType, ops, verify
from qcomp.passes import quantize_softmax16
from qcomp.passes.calibrate import calibrate
from qcomp.passes.lower_integer import lower_integer
from qcomp.passes.quantize import QuantOptions, quantize
from qcomp.ref import run_float, run_integer

F = DType.FLOAT32


def _graph(depth: int = 24) -> Graph:
    """x -> Mul by 2 (a Lut) = logits -> Softmax (last axis) = probs."""
    g = Graph(name="sm16")
    g.add_input("x", TensorType((3, depth), F))
    two = g.add_constant("two", np.float32(2.0))
    g.add_node(ops.Mul(), ["x", two], "logits")
    g.add_node(ops.Softmax(axis=1), ["logits"], "probs")
    g.outputs = ["probs"]
    return verify(g)


def _build(g: Graph, int16, rng):
    samples = [{"x": rng.standard_normal(g.types["x"].shape).astype(np.float32)} for _ in range(4)]
    q = verify(quantize(g, calibrate(g, samples).ranges, QuantOptions(int16=frozenset(int16))))
    return q, verify(lower_integer(q))


def _kinds(t: Graph) -> list[str]:
    return [n.kind for n in t.nodes]


def test_int16_input_unmarked_output_converts_to_the_int8_softmax_grid(rng):
    q, t = _build(_graph(), {"logits"}, rng)
    assert _kinds(t)[-3:] == ["QSoftmax16", "QConvert", "Dequantize"]
    sm = next(n for n in t.nodes if n.kind == "QSoftmax16")
    y = t.types[sm.outputs[0]]
    assert y.dtype is DType.INT16 and float(y.quant.scale[0]) == 2.0**-15 and int(y.quant.zero_point[0]) == 0
    home = t.types[next(n for n in t.nodes if n.kind == "QConvert" and n.inputs[0] == sm.outputs[0]).outputs[0]]
    assert home.dtype is DType.INT8 and float(home.quant.scale[0]) == 1 / 256 and int(home.quant.zero_point[0]) == -128
    assert sum(1 for c in t.constants if c.startswith("softmax16_")) == 2


def test_marked_output_with_an_int8_input_reads_a_conversion(rng):
    _, t = _build(_graph(), {"probs"}, rng)
    sm = next(n for n in t.nodes if n.kind == "QSoftmax16")
    producer = next(n for n in t.nodes if sm.inputs[0] in n.outputs)
    assert producer.kind == "QConvert" and t.types[producer.inputs[0]].dtype is DType.INT8
    assert t.types[sm.outputs[0]].dtype is DType.INT16 and _kinds(t)[-1] == "Dequantize"


def test_int16_softmax_is_more_exact_than_the_int8_one(rng):
    g = _graph()
    _, t8 = _build(g, set(), np.random.default_rng(5))
    _, t16 = _build(g, {"x", "logits", "probs"}, np.random.default_rng(5))
    assert "QSoftmax16" in _kinds(t16) and "QSoftmax" in _kinds(t8)
    x = {"x": rng.standard_normal((3, 24)).astype(np.float32)}
    want = run_float(g, x)["probs"]
    err8 = np.abs(run_integer(t8, x)["probs"] - want).max()
    err16 = np.abs(run_integer(t16, x)["probs"] - want).max()
    assert err16 < err8 / 4, (err16, err8)


def test_rows_beyond_the_int16_spec_keep_the_int8_rules(rng):
    q, _ = _build(_graph(depth=65537), {"logits"}, rng)
    assert "QSoftmax16" not in _kinds(lower_integer(q))


def test_lowering_refuses_another_output_scale(rng):
    q, _ = _build(_graph(), {"logits", "probs"}, rng)
    n = next(n for n in q.nodes if n.kind == "Softmax")
    bad = q.copy()
    y = n.outputs[0]
    bad.types[y] = TensorType(q.types[y].shape, DType.INT16, QuantParams(np.float32(0.001), 0))
    with pytest.raises(QcompError, match=r"node 'probs' \(Softmax\) in int16: its output has scale 0.001"):
        quantize_softmax16.lower(bad, Graph(name="out"), n)
