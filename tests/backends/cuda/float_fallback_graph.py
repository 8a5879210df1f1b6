"""One TARGET graph holding every float-fallback kernel of emit_float_fallback.py and
emit_float_products.py, each node a graph output, with seeded feeds: one emulation build serves
test_float_fallback_ops.py, and test_nvcc.py compiles its kernels for every architecture.

EXACT outputs must equal the reference's float32 values (the kernels follow its order of
operations); ULPS outputs go through a transcendental (the host libm under --emulate, numpy in the
reference) and get that many float32 ulps. CLOSE outputs agree to float32 rounding (|diff| <= 1e-5
max|y|, the llvm float products' bound): the products sum in k order where the reference sums
through BLAS, and Gelu "tanh" computes 1 + tanh(t) for t near -1, where the libms' last-bit
difference in tanh becomes a few float32 ulps of a tiny result.
"""
from __future__ import annotations

import numpy as np

from qcomp.ir import DType, Graph, Stage, TensorType, ops, verify

EXACT = ("relu", "clip", "clip_hi", "leaky", "hsig", "hswish", "sqrt", "gelu", "prelu", "bn", "avg",
         "avg_ceil", "maxp", "gmean", "cmean", "rmax", "rmax_all", "dw", "resize_hp", "resize_ac")
ULPS = {"sigmoid": 3, "tanh": 3, "exp": 3, "erf": 1, "pow": 2}
CLOSE = ("conv", "conv_g2", "dense", "mm", "gelu_tanh")


def _normal(rng, shape, scale=2.0):
    return (rng.standard_normal(shape) * scale).astype(np.float32)


def float_fallback_graph() -> tuple[Graph, dict[str, np.ndarray]]:
    rng = np.random.default_rng(0)
    f32 = DType.FLOAT32
    g = Graph(name="float_fallback", stage=Stage.TARGET)
    x_shape, c = (1, 9, 8, 6), 6
    g.add_input("x", TensorType(x_shape, f32))
    g.add_input("d", TensorType((3, 33), f32))
    g.add_input("a", TensorType((2, 5, 13), f32))
    g.add_input("b", TensorType((1, 13, 7), f32))

    def const(name, array):
        return g.add_constant(name, np.asarray(array, np.float32))

    unary = {"relu": ops.Relu(), "clip": ops.Clip(0.0, 6.0), "clip_hi": ops.Clip(None, 0.5),
             "leaky": ops.LeakyRelu(0.1), "hsig": ops.HardSigmoid(), "hswish": ops.HardSwish(),
             "gelu": ops.Gelu(), "gelu_tanh": ops.Gelu("tanh"), "sigmoid": ops.Sigmoid(), "tanh": ops.Tanh(),
             "exp": ops.Exp(), "erf": ops.Erf(),
             "avg": ops.AvgPool2D((3, 3), (2, 2), (1, 1, 1, 1)),
             "avg_ceil": ops.AvgPool2D((2, 2), (2, 2), (0, 1, 0, 0), True, True),
             "maxp": ops.MaxPool2D((3, 3), (2, 2), (1, 1, 1, 1)), "gmean": ops.ReduceMean((1, 2), True),
             "cmean": ops.ReduceMean((3,), False), "rmax": ops.ReduceMax((1,), True),
             "rmax_all": ops.ReduceMax((0, 1, 2, 3), False)}
    for name, op in unary.items():
        g.add_node(op, ["x"], name)
    g.add_node(ops.Sqrt(), ["relu"], "sqrt")
    g.add_node(ops.Pow(), ["sigmoid", const("exponent", _normal(rng, (c,), 1.0))], "pow")
    g.add_node(ops.PRelu(), ["x", const("slope", _normal(rng, (1, 1, 1, c), 0.5))], "prelu")
    bn = [const(f"bn{i}", _normal(rng, (c,), 1.0)) for i in range(3)] + [const("bn_var", np.abs(_normal(rng, (c,), 1)))]
    g.add_node(ops.BatchNorm(1e-3), ["x", *bn], "bn")
    g.add_node(ops.Conv2D((2, 1), (1, 0, 1, 2), (1, 1), 1),
               ["x", const("w1", _normal(rng, (12, 3, 3, c), 0.3)), const("b1", _normal(rng, 12, 0.1))], "conv")
    g.add_node(ops.Conv2D((1, 1), (2, 2, 2, 2), (2, 2), 2, act_max=1.0),
               ["x", const("w2", _normal(rng, (4, 3, 3, 3), 0.3)), const("b2", _normal(rng, 4, 0.1))], "conv_g2")
    g.add_node(ops.Conv2D((2, 1), (1, 0, 1, 2), (1, 1), c, act_min=0.0, act_max=6.0),
               ["x", const("w3", _normal(rng, (c, 3, 3, 1), 0.5)), const("b3", _normal(rng, c, 0.1))], "dw")
    dense_params = [const("wd", _normal(rng, (13, 33), 0.3)), const("bd", _normal(rng, 13, 0.1))]
    g.add_node(ops.Dense(act_min=0.0), ["d", *dense_params], "dense")
    g.add_node(ops.MatMul(), ["a", "b"], "mm")
    g.add_node(ops.Resize((1, 13, 5, c), (1.0, 13 / 9, 5 / 8, 1.0), "linear", "half_pixel", "round_prefer_floor"),
               ["x"], "resize_hp")
    g.add_node(ops.Resize((1, 4, 15, c), (1.0, 4 / 9, 15 / 8, 1.0), "linear", "align_corners", "round_prefer_floor"),
               ["x"], "resize_ac")
    g.outputs = [*EXACT, *ULPS, *CLOSE]
    feeds = {"x": _normal(rng, x_shape), "d": _normal(rng, (3, 33)), "a": _normal(rng, (2, 5, 13)),
             "b": _normal(rng, (1, 13, 7))}
    return verify(g), feeds
