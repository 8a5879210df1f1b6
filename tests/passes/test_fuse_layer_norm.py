"""fuse_layer_norm: the exporters' LayerNorm decomposition becomes one LayerNorm (Before/After in the
printed form, numeric equivalence through the float reference), its variants (Div or Mul by Div(1, .),
operands swapped, no gamma or beta, two trailing axes), and a reason for every non-match."""
from __future__ import annotations

import numpy as np
import pytest

from qcomp.ir import Graph, TensorType, ops, verify
from qcomp.passes import run_passes
from qcomp.passes.fuse_layer_norm import fuse_layer_norm, why_not_layer_norm
from qcomp.ref import run_float

from .helpers import F, body


def decomposed(shape=(1, 4, 6), axes=(2,), recip=False, swap=False, gamma=True, beta=True, eps=1e-5,
               mean_read_twice=False, var_axes=None) -> Graph:
    rng = np.random.default_rng(0)
    g = Graph(name="ln")
    g.add_input("x", TensorType(shape, F))
    norm = shape[axes[0]:]
    g.add_node(ops.ReduceMean(axes, True), ["x"], "mean")
    g.add_node(ops.Sub(), ["x", "mean"], "d")
    g.add_node(ops.Mul(), ["d", "d"], "sq")
    g.add_node(ops.ReduceMean(var_axes or axes, True), ["sq"], "var")
    e = g.add_constant("eps", np.full((1,) * len(shape), eps, np.float32))
    g.add_node(ops.Add(), [e, "var"] if swap else ["var", e], "var_eps")
    g.add_node(ops.Sqrt(), ["var_eps"], "std")
    if recip:
        one = g.add_constant("one", np.ones((), np.float32))
        g.add_node(ops.Div(), [one, "std"], "inv")
        g.add_node(ops.Mul(), ["inv", "d"] if swap else ["d", "inv"], "n")
    else:
        g.add_node(ops.Div(), ["d", "std"], "n")
    out = "n"
    if gamma:
        w = g.add_constant("gamma", (1 + 0.3 * rng.standard_normal(norm)).astype(np.float32))
        g.add_node(ops.Mul(), [w, out] if swap else [out, w], "scaled")
        out = "scaled"
    if beta:
        b = g.add_constant("beta", (0.2 * rng.standard_normal((1,) * (len(shape) - len(norm)) + norm)).astype(np.float32))
        g.add_node(ops.Add(), [b, out] if swap else [out, b], "y")
        out = "y"
    g.outputs = [out] + (["mean"] if mean_read_twice else [])
    return verify(g)


def test_before_and_after():
    before = decomposed()
    after = run_passes(before, (fuse_layer_norm,))
    assert [line.split(" = ")[1].split("(")[0] for line in body(before)] == [
        "ReduceMean", "Sub", "Mul", "ReduceMean", "Add", "Sqrt", "Div", "Mul", "Add"]
    assert body(after) == [
        "%y = LayerNorm(%x, %mean_ln_gamma, %mean_ln_beta) {axis=2, epsilon=1e-05} : f32[1x4x6]   "
        "# 'mean_layer_norm'"]


@pytest.mark.parametrize("kwargs", [dict(), dict(recip=True), dict(swap=True), dict(recip=True, swap=True),
                                    dict(gamma=False), dict(beta=False), dict(gamma=False, beta=False),
                                    dict(shape=(2, 3, 4, 5), axes=(2, 3), eps=1e-3)])
def test_every_variant_fuses_and_computes_the_same(kwargs):
    before = decomposed(**kwargs)
    after = run_passes(before, (fuse_layer_norm,))
    assert [n.kind for n in after.nodes] == ["LayerNorm"]
    x = np.random.default_rng(1).standard_normal(before.types["x"].shape).astype(np.float32) * 3 + 1
    out = before.outputs[0]
    np.testing.assert_allclose(run_float(after, {"x": x})[out], run_float(before, {"x": x})[out], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kwargs, reason", [
    (dict(mean_read_twice=True), "the mean is not read by one Sub(x, mean)"),
    (dict(var_axes=(1, 2)), "the squares are not averaged over the same axes"),
    (dict(shape=(2, 3, 4), axes=(1,)), "does not keep the trailing axes"),
])
def test_non_matches_give_their_reason_and_leave_the_graph(kwargs, reason):
    g = decomposed(**kwargs)
    assert reason in why_not_layer_norm(g, g.node("mean"))
    assert fuse_layer_norm(g) is g


def test_a_negative_epsilon_is_not_a_layer_norm():
    g = decomposed(eps=-1.0)
    assert "epsilon >= 0" in why_not_layer_norm(g, g.node("mean"))
