"""Float-fallback regions (Dequantize -> Softmax / LayerNorm -> Quantize) through --emulate (both
kept in float with --skip: otherwise they run as the integer Softmax and LayerNorm).

Only these regions may differ from qcomp/ref, by at most 1 LSB at the re-quantization point
(ARCHITECTURE.md section 3): the graphs end with the re-quantized value (raw int8 output) and the
test allows |diff| <= 1 there, and requires most values to match exactly.
"""
from __future__ import annotations

import numpy as np
import pytest

from cuda_harness import emulation_skip, run_cuda_emulated
from qcomp.ir import DType, Graph, TensorType, ops, verify
from qcomp.passes.calibrate import calibrate
from qcomp.passes.lower_integer import lower_integer
from qcomp.passes.quantize import QuantOptions, quantize
from qcomp.ref import run_integer

F = DType.FLOAT32
pytestmark = pytest.mark.skipif(emulation_skip() is not None, reason=str(emulation_skip()))


def _conv_then(g: Graph, rng, c: int) -> str:
    g.add_input("x", TensorType((2, 5, 6, 4), F))
    w = g.add_constant("w", (rng.standard_normal((c, 3, 3, 4)) * 0.4).astype(np.float32))
    b = g.add_constant("b", (rng.standard_normal(c) * 0.1).astype(np.float32))
    g.add_node(ops.Conv2D(pads=(1, 1, 1, 1)), ["x", w, b], "conv")
    return "conv"


def _build(kind: str):
    rng = np.random.default_rng(0)
    g = Graph(name=kind)
    c = 7
    prev = _conv_then(g, rng, c)
    if kind == "softmax":
        g.add_node(ops.Softmax(axis=3), [prev], "norm")
    else:
        scale = g.add_constant("scale", (1 + rng.standard_normal(c) * 0.2).astype(np.float32))
        bias = g.add_constant("bias", (rng.standard_normal(c) * 0.2).astype(np.float32))
        g.add_node(ops.LayerNorm(axis=3, epsilon=1e-5), [prev, scale, bias], "norm")
    g.add_node(ops.MaxPool2D((2, 2), (2, 2)), ["norm"], "pool")   # int8 again: the re-quantization point
    g.outputs = ["pool"]
    samples = [{"x": rng.standard_normal((2, 5, 6, 4)).astype(np.float32)} for _ in range(5)]
    ranges = calibrate(verify(g), samples[:4]).ranges
    skip = frozenset({"norm"})   # otherwise the integer Softmax / LayerNorm
    return verify(lower_integer(verify(quantize(g, ranges, QuantOptions(skip=skip))))), samples[4]


@pytest.mark.parametrize("kind", ["softmax", "layer_norm"])
def test_float_fallback_within_one_lsb(kind):
    graph, feeds = _build(kind)
    kinds = {n.op.kind for n in graph.nodes}
    assert {"Dequantize", "Quantize", "Softmax" if kind == "softmax" else "LayerNorm"} <= kinds, kinds
    want = run_integer(graph, feeds, raw=True)["pool"]
    got = run_cuda_emulated(graph, feeds, raw=True)["pool"]
    assert got.dtype == np.int8 and want.dtype == np.int8
    diff = np.abs(got.astype(int) - want.astype(int))
    assert diff.max() <= 1 and (diff == 0).mean() > 0.95, (diff.max(), (diff == 0).mean())
    assert np.unique(want).size > 8
