"""Op-case graphs of the integer LayerNorm (QLayerNorm, qcomp/ir/qops_norm.py): built by hand with the
spec's build-time integers (fixedpoint.layernorm_params), and one float graph the compiler's way
(LayerNorm -> calibrate -> quantize -> lower_integer)."""
from __future__ import annotations

import numpy as np

from qcomp import fixedpoint
from qcomp.ir import DType, Graph, TensorType, ops
from qcomp.ir.qops_norm import QLayerNorm

from .float_cases import _finish
from .graphs import Builder


def layer_norm(name: str, rng: np.random.Generator, shape, axis: int, *, s_in: float = 0.05, zp_in: int = 0,
               s_out: float = 0.04, zp_out: int = 0, eps: float = 1e-5, gamma_mean: float = 1.0,
               rows: dict[int, list[int]] | None = None, x_range: tuple[int, int] = (-128, 127)):
    """QLayerNorm over axes [axis, rank) with random gamma (negative and zero entries among them) and
    beta; `rows` overwrites rows of the flattened feed (constant rows, extremes)."""
    b = Builder(name, rng)
    x = b.input("x", shape, zp_in, *x_range)
    n = int(np.prod(shape[axis:]))
    gamma = (gamma_mean + 0.5 * rng.standard_normal(n)).astype(np.float32)
    gamma[: max(1, n // 7)] *= -1
    gamma[n // 2] = 0.0
    beta = (0.6 * rng.standard_normal(n)).astype(np.float32)
    flat = b.feeds[x].reshape(-1, n)
    for r, values in (rows or {}).items():
        flat[r] = values
    p = fixedpoint.layernorm_params(n, eps, s_in, gamma, beta, s_out)
    g_q = b.const("gamma_q", p.gamma_q.astype(np.int32))
    b_q = b.const("beta_q", p.beta_q.astype(np.int32))
    op = QLayerNorm(axis, p.eps_q, zp_in, zp_out, -128, 127)
    return b.done(b.node(op, [x, g_q, b_q], "layer_norm", zp_out, s_out))


def edge_rows(n: int) -> dict[int, list[int]]:
    """A constant row (variance 0), rows at the int8 extremes, one outlier."""
    return {0: [7] * n, 1: [-128] * n, 2: [(-128, 127)[i % 2] for i in range(n)],
            3: [127] * (n - 1) + [-128]}


def float_layer_norm(name: str, rng: np.random.Generator):
    """Tokens (1, 8, 32) -> LayerNorm(axis 2) with random gamma and beta, the compiler's way."""
    g = Graph(name=name)
    g.add_input("x", TensorType((1, 8, 32), DType.FLOAT32))
    gamma = g.add_constant("gamma", (1.0 + 0.3 * rng.standard_normal(32)).astype(np.float32))
    beta = g.add_constant("beta", (0.2 * rng.standard_normal(32)).astype(np.float32))
    g.add_node(ops.LayerNorm(2, 1e-5), ["x", gamma, beta], "layer_norm")
    g.outputs = ["layer_norm"]
    graph, feeds = _finish(g, rng, {"x": 2.0})
    assert any(isinstance(n.op, QLayerNorm) for n in graph.nodes), "the float LayerNorm was not lowered"
    return graph, feeds
