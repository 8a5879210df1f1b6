"""Op cases of the int16 LayerNorm (QLayerNorm16, qcomp/ir/qops_norm16.py): built by hand with the
spec's build-time integers (fixedpoint.layernorm16_params), int16 and int8 outputs, rows of 1, 17,
24, 48, 768, the int16 extremes, constant rows; and float graphs the compiler's way (a residual
stream marked int16 read by LayerNorms writing int8 and int16, an int8 input with its LayerNorm
output marked)."""
from __future__ import annotations

import numpy as np

from qcomp import fixedpoint
from qcomp.ir import DType, Graph, TensorType, ops
from qcomp.ir.qops_norm16 import QLayerNorm16

from .cases import Case, _p
from .float_cases16 import _finish16, _weights
from .graphs16 import Builder16

F = DType.FLOAT32


def layer_norm16(name: str, rng: np.random.Generator, shape, axis: int, *, out_dtype: str = "i16", zp_out: int = 0,
                 s_in: float = 2e-4, eps: float = 1e-5, rows: dict[int, list[int]] | None = None,
                 x_range: tuple[int, int] = (-32768, 32767)):
    """QLayerNorm16 over axes [axis, rank), random gamma (negative and zero entries among them) and
    beta; the output scale puts |gamma z| ~ 8000 int16 steps or ~ 40 int8 steps per unit z."""
    b = Builder16(name, rng)
    x = b.input16("x", shape, *x_range)
    n = int(np.prod(shape[axis:]))
    gamma = (1.0 + 0.5 * rng.standard_normal(n)).astype(np.float32)
    gamma[: max(1, n // 7)] *= -1
    gamma[n // 2] = 0.0
    beta = (0.6 * rng.standard_normal(n)).astype(np.float32)
    flat = b.feeds[x].reshape(-1, n)
    for r, values in (rows or {}).items():
        flat[r] = values
    s_out = 1 / 8000 if out_dtype == "i16" else 1 / 40
    p = fixedpoint.layernorm16_params(n, eps, s_in, gamma, beta, s_out)
    g_q = b.const("gamma_q", p.gamma_q.astype(np.int32))
    b_q = b.const("beta_q", p.beta_q.astype(np.int64))
    lo, hi = (-32768, 32767) if out_dtype == "i16" else (-128, 127)
    op = QLayerNorm16(axis, p.eps_q, zp_out, lo, hi, out_dtype)
    return b.done(b.node16(op, [x, g_q, b_q], "layer_norm", zp_out, s_out))


def edge_rows16(n: int) -> dict[int, list[int]]:
    """A constant row (variance 0), rows at the int16 extremes, one outlier, a row of small values."""
    return {0: [-1234] * n, 1: [-32768] * n, 2: [(-32768, 32767)[i % 2] for i in range(n)],
            3: [32767] * (n - 1) + [-32768], 4: [(i * 7) % 5 - 2 for i in range(n)]}


def _layer_norm(g: Graph, rng, x: str, name: str) -> str:
    c = g.types[x].shape[-1]
    gamma = g.add_constant(f"{name}_gamma", (1.0 + 0.3 * rng.standard_normal(c)).astype(np.float32))
    beta = g.add_constant(f"{name}_beta", (0.2 * rng.standard_normal(c)).astype(np.float32))
    g.add_node(ops.LayerNorm(g.types[x].rank - 1, 1e-5), [x, gamma, beta], name)
    return name


def _dense(g: Graph, rng, x: str, name: str, o: int) -> str:
    c = g.types[x].shape[-1]
    w, b = _weights(g, rng, f"{name}_w", (o, c), 0.2), _weights(g, rng, f"{name}_b", (o,), 0.1)
    g.add_node(ops.Dense(), [x, w, b], name)
    return name


def residual_stream(name: str, rng: np.random.Generator):
    """tokens x -> Dense (int16) -> Add x (the residual stream, int16) -> LayerNorm writing int8 (a
    graph output) and LayerNorm writing int16 (marked) -> Dense -> int8 output."""
    g = Graph(name=name)
    g.add_input("x", TensorType((1, 7, 40), F))
    fc = _dense(g, rng, "x", "fc", 40)
    g.add_node(ops.Add(), [fc, "x"], "res")
    ln8 = _layer_norm(g, rng, "res", "ln_i8")
    ln16 = _layer_norm(g, rng, "res", "ln_i16")
    g.outputs = [ln8, _dense(g, rng, ln16, "head", 9)]
    return _finish16(g, rng, {"fc", "res", "ln_i16"}, {"QDense16", "QAdd16", "QLayerNorm16"}, {"x": 3.0})


def marked_output(name: str, rng: np.random.Generator):
    """An int8 input converted to int16 for a LayerNorm whose output is marked int16 (two axes)."""
    g = Graph(name=name)
    g.add_input("x", TensorType((1, 3, 4, 6), F))
    g.add_node(ops.LayerNorm(2, 1e-3), ["x", g.add_constant("gamma", (0.5 + rng.random((4, 6))).astype(np.float32)),
                                        g.add_constant("beta", (0.3 * rng.standard_normal((4, 6))).astype(np.float32))],
               "ln")
    g.outputs = [_dense(g, rng, "ln", "head", 5)]
    graph, feeds = _finish16(g, rng, {"ln"}, {"QLayerNorm16", "QConvert", "QDense16"}, {"x": 2.0})
    return graph, feeds


CASES_NORM16 = [
    Case("i16_layer_norm_tokens_8x48", _p(layer_norm16, (1, 8, 48), 2)),
    Case("i16_layer_norm_edge_rows_17_to_i8", _p(layer_norm16, (7, 17), 1, out_dtype="i8", zp_out=-9, eps=0.0,
                                                 rows=edge_rows16(17))),
    Case("i16_layer_norm_row_768", _p(layer_norm16, (6, 768), 1, s_in=1e-3, rows=edge_rows16(768))),
    Case("i16_layer_norm_two_axes_nhwc_to_i8", _p(layer_norm16, (1, 3, 4, 5), 2, out_dtype="i8", zp_out=20,
                                                  eps=1e-3, x_range=(-3000, 2000))),
    Case("i16_layer_norm_row_of_one", _p(layer_norm16, (5, 1), 1), min_distinct=1),
    Case("i16_layer_norm_300_rows_of_24_jobs", _p(layer_norm16, (1, 300, 24), 2)),   # llvm: several jobs
    Case("i16f_layer_norm_residual_stream", residual_stream),
    Case("i16f_layer_norm_marked_output", marked_output),
]
