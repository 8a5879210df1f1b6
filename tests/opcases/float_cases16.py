"""A16W8 op cases built as the compiler builds them: a FLOAT graph with some values marked int16
(`--precision NAME=int16`) -> calibrate on a few seeded samples -> quantize (quantize16.py) ->
lower_integer (lower_integer16.py) -> TARGET graph.

They check what the hand-built cases of cases16.py cannot: the conversions the quantizer inserts
at int8 <-> int16 boundaries, a dot product writing int8 straight from its int16 input, Quantize /
Dequantize of int16 values at the model boundary, Concat of an int8 and an int16 operand, and an
int16 Softmax reading an int16 value and feeding an int16 MatMul. Each graph holds only the A16W8 ops, QConvert,
type-generic ops and Quantize / Dequantize; `_finish16` asserts
the A16W8 kinds each case exists for, so a quantizer that fell back to int8 fails here.
"""
from __future__ import annotations

import numpy as np

from qcomp.ir import DType, Graph, TensorType, ops, verify
from qcomp.passes.calibrate import calibrate
from qcomp.passes.lower_integer import lower_integer
from qcomp.passes.quantize import QuantOptions, quantize

F = DType.FLOAT32
_INT8_ONLY = {"QConv2D", "QDense", "QMatMul", "QAdd", "QSub", "QMul", "QAvgPool2D", "QMean", "Lut", "QRequantize",
              "QSoftmax"}


def _finish16(g: Graph, rng: np.random.Generator, int16, kinds, scales=None):
    """Calibrate on 4 samples, quantize with `int16` marked, lower; assert the A16W8 `kinds` are
    there and no int8 arithmetic op is; feeds: a fifth sample."""
    scales = scales or {}

    def sample():
        return {i: (rng.standard_normal(g.types[i].shape) * scales.get(i, 1.0)).astype(np.float32)
                for i in g.inputs}

    ranges = calibrate(verify(g), [sample() for _ in range(4)]).ranges
    target = verify(lower_integer(verify(quantize(g, ranges, QuantOptions(int16=frozenset(int16))))))
    found = {n.kind for n in target.nodes}
    assert set(kinds) <= found, f"{g.name}: expected {sorted(kinds)} in {sorted(found)}"
    assert not found & _INT8_ONLY, f"{g.name}: int8 ops {sorted(found & _INT8_ONLY)}"
    return target, sample()


def _weights(g: Graph, rng, name: str, shape, std: float = 0.3) -> str:
    return g.add_constant(name, (rng.standard_normal(shape) * std).astype(np.float32))


def _conv(g: Graph, rng, x: str, name: str, o: int, k: int = 3, group: int = 1, **kw) -> str:
    c = g.types[x].shape[-1]
    w = _weights(g, rng, f"{name}_w", (o, k, k, c // group))
    b = _weights(g, rng, f"{name}_b", (o,), 0.1)
    g.add_node(ops.Conv2D(group=group, **kw), [x, w, b], name)
    return name


def conv_chain(name: str, rng: np.random.Generator):
    """conv (Relu) writing an int16 tensor from its int8 input (converted) -> conv (Relu6) reading
    it, its int8 output written by the dot product itself."""
    g = Graph(name=name)
    g.add_input("x", TensorType((1, 9, 7, 5), F))
    c1 = _conv(g, rng, "x", "c1", 11, pads=(1, 1, 1, 1), act_min=0.0)
    g.outputs = [_conv(g, rng, c1, "c2", 13, pads=(1, 0, 1, 2), act_min=0.0, act_max=6.0)]
    return _finish16(g, rng, {"c1"}, {"QConv2D16", "QConvert"})


def depthwise(name: str, rng: np.random.Generator):
    """Depthwise 3x3 stride 2 (Relu) of an int16 model input (Quantize to int16), int8 output."""
    g = Graph(name=name)
    g.add_input("x", TensorType((1, 8, 9, 13), F))
    g.outputs = [_conv(g, rng, "x", "dw", 13, group=13, strides=(2, 2), pads=(1, 0, 1, 1), act_min=0.0)]
    return _finish16(g, rng, {"x"}, {"QConv2D16"}, {"x": 2.0})


def dense(name: str, rng: np.random.Generator):
    """Dense of an int8 input with an int16 output (dequantized from int16 at the boundary)."""
    g = Graph(name=name)
    g.add_input("x", TensorType((3, 40), F))
    w, b = _weights(g, rng, "w", (9, 40)), _weights(g, rng, "b", (9,), 0.2)
    g.add_node(ops.Dense(), ["x", w, b], "fc")
    g.outputs = ["fc"]
    return _finish16(g, rng, {"fc"}, {"QDense16", "QConvert"})


def residual(name: str, rng: np.random.Generator):
    """Add (Relu) of an int8 input and an int16 one, int8 result (QAdd16, then a conversion); Mul
    and Sub of the sum with the int16 input, the product int16."""
    g = Graph(name=name)
    g.add_input("x", TensorType((1, 6, 5, 7), F))
    g.add_input("skip", TensorType((1, 6, 5, 7), F))
    g.add_node(ops.Add(act_min=0.0), ["x", "skip"], "add")
    g.add_node(ops.Mul(), ["add", "skip"], "mul")
    g.add_node(ops.Sub(), ["mul", "skip"], "sub")
    g.outputs = ["add", "sub"]
    return _finish16(g, rng, {"skip", "mul"}, {"QAdd16", "QMul16", "QSub16", "QConvert"}, {"skip": 3.0})


def luts(name: str, rng: np.random.Generator):
    """513-entry tables of an int16 input: Sigmoid and Gelu to int8, HardSwish and Tanh to int16."""
    g = Graph(name=name)
    g.add_input("x", TensorType((2, 3, 5, 7), F))
    for op, out in ((ops.Sigmoid(), "sigmoid"), (ops.HardSwish(), "hardswish"), (ops.Gelu(), "gelu"),
                    (ops.Tanh(), "tanh")):
        g.add_node(op, ["x"], out)
    g.outputs = ["sigmoid", "hardswish", "gelu", "tanh"]
    return _finish16(g, rng, {"x", "hardswish", "tanh"}, {"Lut16"}, {"x": 3.0})


def pools(name: str, rng: np.random.Generator):
    """AvgPool2D (padded, int8 output via a conversion) and a global mean (int16) of an int16 input."""
    g = Graph(name=name)
    g.add_input("x", TensorType((1, 9, 8, 5), F))
    g.add_node(ops.AvgPool2D(kernel=(3, 3), strides=(2, 2), pads=(1, 1, 1, 1)), ["x"], "avgpool")
    g.add_node(ops.ReduceMean(axes=(1, 2), keepdims=True), ["x"], "gap")
    g.outputs = ["avgpool", "gap"]
    return _finish16(g, rng, {"x", "gap"}, {"QAvgPool2D16", "QMean16", "QConvert"})


def concat(name: str, rng: np.random.Generator):
    """Concat (int16) of a max-pooled int8 value and a max-pooled int16 one (MaxPool keeps each
    input's dtype): both converted to the output's int16 params."""
    g = Graph(name=name)
    g.add_input("a", TensorType((1, 4, 6, 3), F))
    g.add_input("b", TensorType((1, 4, 6, 5), F))
    pool = ops.MaxPool2D(kernel=(2, 2), strides=(1, 1))
    g.add_node(pool, ["a"], "pool_a")
    g.add_node(pool, ["b"], "pool_b")
    g.add_node(ops.Concat(axis=3), ["pool_a", "pool_b"], "concat")
    g.outputs = ["concat"]
    return _finish16(g, rng, {"pool_b", "concat"}, {"QConvert"}, {"a": 0.2, "b": 4.0})


def softmax(name: str, rng: np.random.Generator):
    """A Dense writing int16, read by Softmax: QSoftmax16 (int16 at 1/32768), then converted to
    the int8 output (1/256, zero point -128)."""
    g = Graph(name=name)
    g.add_input("x", TensorType((4, 24), F))
    w, b = _weights(g, rng, "w", (10, 24)), _weights(g, rng, "b", (10,), 0.2)
    g.add_node(ops.Dense(), ["x", w, b], "fc")
    g.add_node(ops.Softmax(axis=1), ["fc"], "softmax")
    g.outputs = ["softmax"]
    return _finish16(g, rng, {"fc"}, {"QDense16", "QConvert", "QSoftmax16"})


def matmul(name: str, rng: np.random.Generator):
    """MatMul of two int16 activations (attention scores), int8 result."""
    g = Graph(name=name)
    g.add_input("q", TensorType((2, 5, 13), F))
    g.add_input("k", TensorType((2, 13, 7), F))
    g.add_node(ops.MatMul(), ["q", "k"], "scores")
    g.outputs = ["scores"]
    return _finish16(g, rng, {"q", "k"}, {"QMatMul16"}, {"k": 0.5})


def attention(name: str, rng: np.random.Generator):
    """scores = q @ k written int16 from int8 inputs, the int16 Softmax marked int16 (1/32768), probs @ v
    in int16 with an int8 result: the model boundary stays int8, so every target runs it."""
    g = Graph(name=name)
    g.add_input("q", TensorType((2, 5, 13), F))
    g.add_input("k", TensorType((2, 13, 7), F))
    g.add_input("v", TensorType((2, 7, 6), F))
    g.add_node(ops.MatMul(), ["q", "k"], "scores")
    g.add_node(ops.Softmax(axis=2), ["scores"], "probs")
    g.add_node(ops.MatMul(), ["probs", "v"], "ctx")
    g.outputs = ["ctx"]
    return _finish16(g, rng, {"scores", "probs"}, {"QMatMul16", "QSoftmax16", "QConvert"}, {"q": 1.5})


def softmax_of_int8(name: str, rng: np.random.Generator):
    """An int8 input converted to int16 for a Softmax whose output is marked int16, read by a Dense
    (A16W8, int8 result)."""
    g = Graph(name=name)
    g.add_input("x", TensorType((3, 4, 19), F))
    g.add_node(ops.Softmax(axis=2), ["x"], "probs")
    w, b = _weights(g, rng, "w", (5, 19)), _weights(g, rng, "b", (5,), 0.2)
    g.add_node(ops.Dense(), ["probs", w, b], "fc")
    g.outputs = ["fc"]
    return _finish16(g, rng, {"probs"}, {"QConvert", "QSoftmax16", "QDense16"}, {"x": 3.0})
