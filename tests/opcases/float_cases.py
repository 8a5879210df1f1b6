"""Op cases built as the compiler builds them: a FLOAT graph (NHWC, as the frontend makes it from
ONNX) -> calibrate on a few seeded samples -> quantize -> lower_integer -> TARGET graph.

These graphs keep their float boundary (Quantize at the inputs, Dequantize at the outputs), so the
table also checks the boundary conversions; their feeds are float32. The --quant dynamic ops
(DynamicDense, DynamicMatMul: float in, float out) come from quantize_weights(dynamic=True).
"""
from __future__ import annotations

import numpy as np

from qcomp.ir import DType, Graph, TensorType, ops, verify
from qcomp.passes.calibrate import calibrate
from qcomp.passes.lower_integer import lower_integer
from qcomp.passes.quantize import quantize
from qcomp.passes.quantize_weights import quantize_weights

F = DType.FLOAT32


def _finish(g: Graph, rng: np.random.Generator, scales: dict[str, float] | None = None):
    """Calibrate on 4 samples, quantize, lower; feeds: a fifth sample (inside or near the range)."""
    scales = scales or {}

    def sample():
        return {i: (rng.standard_normal(g.types[i].shape) * scales.get(i, 1.0)).astype(np.float32)
                for i in g.inputs}

    ranges = calibrate(verify(g), [sample() for _ in range(4)]).ranges
    target = verify(lower_integer(verify(quantize(g, ranges))))
    return target, sample()


def _weights(g: Graph, rng, name: str, shape, std: float = 0.3) -> str:
    return g.add_constant(name, (rng.standard_normal(shape) * std).astype(np.float32))


def conv_relu(name: str, rng: np.random.Generator, depthwise: bool = False):
    g = Graph(name=name)
    c = 13 if depthwise else 5
    g.add_input("x", TensorType((1, 9, 7, c), F))
    o, cg, group = (c, 1, c) if depthwise else (17, c, 1)
    w = _weights(g, rng, "w", (o, 3, 3, cg))
    b = _weights(g, rng, "b", (o,), 0.1)
    g.add_node(ops.Conv2D(strides=(1, 1), pads=(1, 0, 1, 2), group=group, act_min=0.0,
                          act_max=6.0 if depthwise else None), ["x", w, b], "conv")
    g.outputs = ["conv"]
    return _finish(g, rng)


def add_broadcast(name: str, rng: np.random.Generator):
    g = Graph(name=name)
    g.add_input("a", TensorType((1, 5, 7, 3), F))
    g.add_input("b", TensorType((1, 1, 7, 1), F))
    g.add_node(ops.Add(act_min=0.0), ["a", "b"], "add")
    g.outputs = ["add"]
    return _finish(g, rng, {"b": 3.0})


def concat_scales(name: str, rng: np.random.Generator):
    """Concat of int8 values with different ranges (max-pooled, so already int8 with their input's
    params): each is requantized to the output's params."""
    g = Graph(name=name)
    g.add_input("a", TensorType((1, 4, 6, 3), F))
    g.add_input("b", TensorType((1, 4, 6, 5), F))
    pool = ops.MaxPool2D(kernel=(2, 2), strides=(1, 1))
    g.add_node(pool, ["a"], "pool_a")
    g.add_node(pool, ["b"], "pool_b")
    g.add_node(ops.Concat(axis=3), ["pool_a", "pool_b"], "concat")
    g.outputs = ["concat"]
    return _finish(g, rng, {"a": 0.2, "b": 4.0})


def sigmoid(name: str, rng: np.random.Generator):
    g = Graph(name=name)
    g.add_input("x", TensorType((2, 3, 5, 7), F))
    g.add_node(ops.Sigmoid(), ["x"], "sigmoid")
    g.outputs = ["sigmoid"]
    return _finish(g, rng, {"x": 3.0})


def math_luts(name: str, rng: np.random.Generator):
    """The math ops' lookup tables, each built from its float64 definition by quantize: Elu ->
    Softplus -> Log, and Mish, Sin, Cos, Shrink, Selu, Celu, Round, Softsign, Abs,
    ThresholdedRelu, Floor, Ceil of the input."""
    g = Graph(name=name)
    g.add_input("x", TensorType((2, 3, 5, 7), F))
    prev = "x"
    for op in (ops.Elu(0.7), ops.Softplus(), ops.Log()):
        prev = _add(g, op, prev)
    branches = (ops.Mish(), ops.Sin(), ops.Cos(), ops.Shrink(0.1, 0.2), ops.Selu(), ops.Celu(0.5), ops.Round(),
                ops.Softsign(), ops.Abs(), ops.ThresholdedRelu(0.4), ops.Floor(), ops.Ceil())
    g.outputs = ["log"] + [_add(g, op, "x") for op in branches]
    return _finish(g, rng, {"x": 3.0})


def _add(g: Graph, op, x: str) -> str:
    name = op.kind.lower()
    g.add_node(op, [x], name)
    return name


def min_max(name: str, rng: np.random.Generator):
    """Max(a, b) and Min(Max, a) of inputs with different ranges, b broadcast: every operand is
    requantized to its result's params."""
    g = Graph(name=name)
    g.add_input("a", TensorType((1, 5, 7, 3), F))
    g.add_input("b", TensorType((1, 1, 7, 3), F))
    g.add_node(ops.Max(), ["a", "b"], "max")
    g.add_node(ops.Min(), ["max", "a"], "min")
    g.outputs = ["max", "min"]
    return _finish(g, rng, {"b": 4.0})


def avg_pool(name: str, rng: np.random.Generator):
    g = Graph(name=name)
    g.add_input("x", TensorType((1, 9, 8, 5), F))
    g.add_node(ops.AvgPool2D(kernel=(3, 3), strides=(2, 2), pads=(1, 1, 1, 1)), ["x"], "avgpool")
    g.outputs = ["avgpool"]
    return _finish(g, rng)


def global_average(name: str, rng: np.random.Generator):
    """ONNX GlobalAveragePool, as the frontend writes it: ReduceMean over H and W."""
    g = Graph(name=name)
    g.add_input("x", TensorType((1, 7, 5, 17), F))
    g.add_node(ops.ReduceMean(axes=(1, 2), keepdims=True), ["x"], "gap")
    g.outputs = ["gap"]
    return _finish(g, rng)


def dense(name: str, rng: np.random.Generator):
    g = Graph(name=name)
    g.add_input("x", TensorType((3, 33), F))
    w = _weights(g, rng, "w", (13, 33))
    b = _weights(g, rng, "b", (13,), 0.2)
    g.add_node(ops.Dense(), ["x", w, b], "fc")
    g.outputs = ["fc"]
    return _finish(g, rng)


def matmul(name: str, rng: np.random.Generator):
    """MatMul of two activations (attention scores): both operands quantized per tensor."""
    g = Graph(name=name)
    g.add_input("q", TensorType((2, 5, 13), F))
    g.add_input("k", TensorType((2, 13, 7), F))
    g.add_node(ops.MatMul(), ["q", "k"], "scores")
    g.outputs = ["scores"]
    return _finish(g, rng, {"k": 0.5})


def _dynamic(g: Graph, rng: np.random.Generator):
    target = verify(lower_integer(verify(quantize_weights(verify(g), dynamic=True))))
    return target, {i: rng.standard_normal(g.types[i].shape).astype(np.float32) for i in g.inputs}


def dynamic_dense(name: str, rng: np.random.Generator):
    g = Graph(name=name)
    g.add_input("x", TensorType((3, 5, 33), F))
    w = _weights(g, rng, "w", (17, 33))
    b = _weights(g, rng, "b", (17,), 0.2)
    g.add_node(ops.Dense(act_min=0.0, act_max=6.0), ["x", w, b], "fc")
    g.outputs = ["fc"]
    return _dynamic(g, rng)


def dynamic_dense_shaped(name: str, rng: np.random.Generator, x_shape, n_out, act_min=None, act_max=None):
    """DynamicDense of a token block (a MiniLM projection, smaller): row and channel tails of the GEMM tiles."""
    g = Graph(name=name)
    g.add_input("x", TensorType(tuple(x_shape), F))
    w = _weights(g, rng, "w", (n_out, x_shape[-1]))
    b = _weights(g, rng, "b", (n_out,), 0.2)
    g.add_node(ops.Dense(act_min=act_min, act_max=act_max), ["x", w, b], "fc")
    g.outputs = ["fc"]
    return _dynamic(g, rng)


def dynamic_matmul(name: str, rng: np.random.Generator):
    g = Graph(name=name)
    g.add_input("a", TensorType((2, 5, 13), F))
    g.add_input("b", TensorType((2, 13, 7), F))
    g.add_node(ops.MatMul(), ["a", "b"], "matmul")
    g.outputs = ["matmul"]
    return _dynamic(g, rng)


def dynamic_matmul_heads(name: str, rng: np.random.Generator, a_shape, b_shape, act_min=None, act_max=None):
    """DynamicMatMul of head-batched operands (attention under --quant dynamic), optionally clamped."""
    g = Graph(name=name)
    g.add_input("a", TensorType(tuple(a_shape), F))
    g.add_input("b", TensorType(tuple(b_shape), F))
    g.add_node(ops.MatMul(act_min=act_min, act_max=act_max), ["a", "b"], "matmul")
    g.outputs = ["matmul"]
    return _dynamic(g, rng)


def dynamic_dense_rows(name: str, rng: np.random.Generator, x_shape, n_out, act_min=None, act_max=None):
    """DynamicDenseRows (--dynamic-granularity row): rows of different ranges (a scale 0 row, an
    all-positive row, rows scaled by 10^-2 .. 10^2) so the per-row scales and zero points differ."""
    g = Graph(name=name)
    g.add_input("x", TensorType(tuple(x_shape), F))
    w = _weights(g, rng, "w", (n_out, x_shape[-1]))
    b = _weights(g, rng, "b", (n_out,), 0.2)
    g.add_node(ops.Dense(act_min=act_min, act_max=act_max), ["x", w, b], "fc")
    g.outputs = ["fc"]
    target = verify(lower_integer(verify(quantize_weights(verify(g), dynamic=True, per_row=True))))
    x = rng.standard_normal(x_shape).astype(np.float32)
    rows = x.reshape(-1, x_shape[-1])
    rows *= (10.0 ** rng.uniform(-2, 2, (rows.shape[0], 1))).astype(np.float32)
    rows[0] = 0.0
    rows[1] = np.abs(rows[1])
    return target, {"x": rows.reshape(x_shape)}
