"""Matching int8 values to float values, and the comparison loop, on a small graph that has every
renaming the quantizer does: a quantized graph input, a Lut, Requantize in front of a Concat, a
float-fallback node, a Quantize after it, and a graph output produced in int8."""
import math

import numpy as np
import pytest

from qcomp.ir import DType, Graph, TensorType, ops
from qcomp.passes.calibrate import calibrate
from qcomp.passes.quantize import QuantOptions, quantize
from qcomp.report import compare
from qcomp.report.match import float_counterparts, probes

F = DType.FLOAT32


def small_graph(rng) -> Graph:
    g = Graph(name="small")
    g.add_input("x", TensorType((1, 6, 6, 3), F))
    for name, scale in (("conv_a", 1.0), ("conv_b", 3.0)):   # different ranges: Concat requantizes
        w = g.add_constant(f"{name}.w", (scale * rng.standard_normal((4, 3, 3, 3))).astype(np.float32))
        b = g.add_constant(f"{name}.b", rng.standard_normal(4).astype(np.float32))
        g.add_node(ops.Conv2D(pads=(1, 1, 1, 1)), ["x", w, b], name)
    g.add_node(ops.Sigmoid(), ["conv_a"], "sig")
    g.add_node(ops.Concat(axis=3), ["sig", "conv_b"], "cat")
    g.add_node(ops.Softmax(axis=3), ["cat"], "soft")           # kept in float (graphs: --skip soft)
    g.add_node(ops.MaxPool2D(kernel=(2, 2), strides=(2, 2)), ["soft"], "pool")
    g.outputs = ["pool"]
    return g


@pytest.fixture
def graphs(rng):
    g = small_graph(rng)
    samples = [{"x": rng.standard_normal((1, 6, 6, 3)).astype(np.float32)} for _ in range(6)]
    q = quantize(g, calibrate(g, samples).ranges, QuantOptions(skip=frozenset({"soft"})))
    return g, q, samples


def test_every_int8_value_finds_its_float_value(graphs):
    g, q, _ = graphs
    match = float_counterparts(g, q)
    int8 = {v for n in q.nodes for v in n.outputs if q.types[v].dtype is DType.INT8}
    assert int8 <= set(match)
    assert match["x_q"] == "x" and match["pool_q"] == "pool" and match["sig"] == "sig"
    assert match["soft_q"] == "soft"   # the Quantize after the float Softmax
    requantized = [n.outputs[0] for n in q.nodes if isinstance(n.op, ops.Requantize)]
    assert requantized and {match[v] for v in requantized} <= {"sig", "conv_b"}
    assert all(g.types[match[v]].shape == q.types[v].shape for v in int8)


def test_probes_know_their_ops_and_upstream(graphs):
    g, q, _ = graphs
    found, notes = probes(g, q)
    assert notes == []
    by_value = {p.value: p for p in found}
    assert by_value["sig"].op == "Lut(Sigmoid)" and by_value["x_q"].op == "Quantize"
    assert by_value["conv_a"].upstream == ("x_q",)
    assert by_value["soft_q"].upstream == ("cat",)        # through the float Softmax and its Dequantize
    assert by_value["pool_q"].upstream == ("soft_q",)
    assert [p.value for p in found] == [v for n in q.nodes for v in n.outputs if v in by_value]  # graph order


def test_compare_rows(graphs):
    g, q, samples = graphs
    calls = []
    result = compare(g, q, samples, total=len(samples), progress=lambda done, total: calls.append((done, total)))
    assert calls == [(k + 1, len(samples)) for k in range(len(samples))]
    layers, weights, outputs = result.layers, result.weights, result.outputs
    assert result.samples == len(samples) and result.notes == ()
    assert {r.value for r in layers} == {p.value for p in probes(g, q)[0]}
    by_value = {r.value: r for r in layers}
    for r in layers:
        assert r.error.count == len(samples) * math.prod(r.shape)
        assert math.isfinite(r.error.snr_db) and r.error.cosine > 0.9, r
        assert r.distribution.min <= r.distribution.median <= r.distribution.max
    for v in ("x_q", "conv_a", "conv_b", "sig"):
        assert by_value[v].error.cosine > 0.999, by_value[v]
    # sigmoid's [0, 1] squeezed onto the Concat's grid (conv_b's range, about 50x wider): the
    # Requantize loses most of its levels, and the report says that is where the error enters
    (rq,) = [r for r in layers if r.op == "Requantize" and r.float_value == "sig"]
    drops = sorted((r.snr_drop_db for r in layers if r.snr_drop_db is not None), reverse=True)
    assert rq.snr_drop_db == drops[0] and drops[0] > 10 > drops[1]
    assert {w.node for w in weights} == {"conv_a", "conv_b"}
    assert all(w.per_channel and w.error.snr_db > 30 for w in weights)
    (out,) = outputs
    assert out.name == "pool" and out.error.cosine > 0.99
    assert out.top1_agreement is None       # a 1x3x3x8 map is not logits
    assert out.accuracy_float is None
