"""fuse_dynamic: DynamicDense + bias Add + GELU (Erf form) becomes one DynamicDenseGelu (llvm builds only).

The fused graph's float32 outputs equal the unfused graph's exactly: on ref (the unfused ops' kernels
in sequence), and on x86-vnni and arm-sdot (the chain in the GEMM's epilogue against the unfused
nodes' own llvm kernels). Each non-fusable chain: the graph comes back unchanged, with the reason. The
C backend refuses the fused node by design (it never receives one: BACKEND_FUSIONS has no entry for it).
"""
import math

import numpy as np
import pytest

from qcomp.ir import DType, Graph, TensorType, ops, verify
from qcomp.passes.fuse_dynamic import fuse_dynamic, why_not_fusable
from qcomp.passes.lower_integer import lower_integer
from qcomp.passes.quantize_weights import quantize_weights
from qcomp.ref import run_integer

F = DType.FLOAT32
SHAPE, N = (2, 37, 96), 70       # row tails of the GEMM tiles (74 rows), a channel tail (70 = 4 * 16 + 6)


def _graph(*, bias_clamp=False, h_output=False, x_half_first=False, mul_const=False) -> Graph:
    """x -> Dense -> Add(bias, d) -> Div(h, sqrt 2) -> Erf -> Add(e, 1) -> Mul(h, a) -> Mul(m, 0.5), lowered
    for --quant dynamic (seeded weights)."""
    rng = np.random.default_rng(0)
    g = Graph(name="gelu")
    g.add_input("x", TensorType(SHAPE, F))
    g.add_constant("w", (rng.standard_normal((N, SHAPE[-1])) * 0.15).astype(np.float32))
    g.add_constant("b", (rng.standard_normal(N) * 0.2).astype(np.float32))
    g.add_constant("bias", (rng.standard_normal((1, 1, N)) * 0.3).astype(np.float32))   # as torch exports it
    g.add_constant("sqrt2", np.asarray(math.sqrt(2.0), np.float32))
    g.add_constant("one", np.asarray([1.0], np.float32))
    g.add_constant("half", np.asarray(0.5, np.float32))
    g.add_node(ops.Dense(), ["x", "w", "b"], "d")
    g.add_node(ops.Add(act_min=-1.0) if bias_clamp else ops.Add(), ["bias", "d"], "h")
    g.add_node(ops.Mul() if mul_const else ops.Div(), ["h", "sqrt2"], "t")
    g.add_node(ops.Erf(), ["t"], "e")
    g.add_node(ops.Add(), ["e", "one"], "a")
    if x_half_first:
        g.add_node(ops.Mul(), ["h", "half"], "m")
        g.add_node(ops.Mul(), ["a", "m"], "y")
    else:
        g.add_node(ops.Mul(), ["a", "h"], "m")
        g.add_node(ops.Mul(), ["half", "m"], "y")
    g.outputs = ["y", "h"] if h_output else ["y"]
    return verify(lower_integer(verify(quantize_weights(verify(g), dynamic=True))))


def _feeds():
    return {"x": np.random.default_rng(1).standard_normal(SHAPE).astype(np.float32)}


def test_gelu_chain_fuses_and_ref_results_are_unchanged():
    unfused = _graph()
    fused = verify(fuse_dynamic(unfused))
    kinds = [n.kind for n in fused.nodes]
    assert kinds == ["DynamicDenseGelu"], kinds
    node = fused.nodes[0]
    dense = next(n for n in unfused.nodes if n.kind == "DynamicDense")
    assert node.inputs[:4] == dense.inputs and node.outputs == ("y",)
    np.testing.assert_array_equal(fused.constants[node.inputs[4]], unfused.constants["bias"].reshape(N))
    assert (node.op.div, node.op.one, node.op.half) == (float(np.float32(math.sqrt(2.0))), 1.0, 0.5)
    want = run_integer(unfused, _feeds())["y"]
    assert np.unique(want).size > 1000 and (want < 0).any()   # GELU's negative lobe is exercised
    np.testing.assert_array_equal(run_integer(fused, _feeds())["y"], want)


NOT_FUSED = {
    "bias_clamp": (dict(bias_clamp=True), "has a fused clamp"),
    "h_output": (dict(h_output=True), "not by one Div"),
    "x_half_first": (dict(x_half_first=True), "does not multiply"),
    "mul_by_reciprocal": (dict(mul_const=True), "not by one Div"),
}


@pytest.mark.parametrize("case", sorted(NOT_FUSED))
def test_gelu_chain_is_not_fused(case):
    kwargs, reason = NOT_FUSED[case]
    g = _graph(**kwargs)
    assert fuse_dynamic(g) is g
    dense = next(n for n in g.nodes if n.kind == "DynamicDense")
    assert reason in why_not_fusable(g, dense, g.consumers())


@pytest.mark.parametrize("kind", ["DynamicDenseGelu", "DynamicDenseAddNorm"])
def test_c_backend_refuses_the_fused_node(kind):
    from qcomp.protocol import backend_module
    from qcomp.target import get_target
    fused = fuse_dynamic(_graph() if kind == "DynamicDenseGelu" else _norm_graph())
    assert [n.kind for n in fused.nodes] == [kind]
    problems = backend_module("c").check(fused, get_target("dsp-c"))
    assert any(kind in str(p) for p in problems), problems


def test_builds_fuse_on_llvm_only():
    from qcomp.builder import BACKEND_FUSIONS
    assert fuse_dynamic in BACKEND_FUSIONS["llvm"]
    assert all(fuse_dynamic not in passes for backend, passes in BACKEND_FUSIONS.items() if backend != "llvm")


# ---- DynamicDense + bias Add + residual Add + LayerNorm -> DynamicDenseAddNorm ----

def _norm_graph(*, residual_first=False, broadcast=False, h_output=False) -> Graph:
    """x -> Dense -> Add(d, bias) -> Add(h, r) -> LayerNorm (last axis), lowered for --quant dynamic."""
    rng = np.random.default_rng(2)
    g = Graph(name="addnorm")
    g.add_input("x", TensorType(SHAPE, F))
    g.add_input("r", TensorType((1, 1, N) if broadcast else (*SHAPE[:-1], N), F))
    g.add_constant("w", (rng.standard_normal((N, SHAPE[-1])) * 0.15).astype(np.float32))
    g.add_constant("b", np.zeros(N, np.float32))
    g.add_constant("bias", (rng.standard_normal(N) * 0.3).astype(np.float32))
    g.add_constant("gamma", (1 + rng.standard_normal(N) * 0.2).astype(np.float32))
    g.add_constant("beta", (rng.standard_normal(N) * 0.2).astype(np.float32))
    g.add_node(ops.Dense(), ["x", "w", "b"], "d")
    g.add_node(ops.Add(), ["d", "bias"], "h")
    g.add_node(ops.Add(), ["r", "h"] if residual_first else ["h", "r"], "s")
    g.add_node(ops.LayerNorm(2, 1e-12), ["s", "gamma", "beta"], "y")
    g.outputs = ["y", "h"] if h_output else ["y"]
    return verify(lower_integer(verify(quantize_weights(verify(g), dynamic=True))))


def _norm_feeds():
    rng = np.random.default_rng(3)
    return {"x": rng.standard_normal(SHAPE).astype(np.float32),
            "r": rng.standard_normal((*SHAPE[:-1], N)).astype(np.float32)}


@pytest.mark.parametrize("residual_first", [False, True])
def test_residual_norm_chain_fuses_and_ref_results_are_unchanged(residual_first):
    unfused = _norm_graph(residual_first=residual_first)
    fused = verify(fuse_dynamic(unfused))
    assert [n.kind for n in fused.nodes] == ["DynamicDenseAddNorm"]
    node = fused.nodes[0]
    assert node.inputs[4:] == ("bias", "r", "gamma", "beta") and node.op.epsilon == 1e-12
    want = run_integer(unfused, _norm_feeds())["y"]
    assert np.unique(want).size > 1000
    np.testing.assert_array_equal(run_integer(fused, _norm_feeds())["y"], want)


@pytest.mark.parametrize("kwargs,reason", [(dict(broadcast=True), "residual of"), (dict(h_output=True), "graph output")])
def test_residual_norm_chain_is_not_fused(kwargs, reason):
    g = _norm_graph(**kwargs)
    assert fuse_dynamic(g) is g
    dense = next(n for n in g.nodes if n.kind == "DynamicDense")
    assert reason in why_not_fusable(g, dense, g.consumers())


def _both() -> Graph:
    """The GELU chain and the residual LayerNorm chain in one graph (one artifact per target)."""
    gelu, norm = _graph(), _norm_graph()
    g = gelu.copy()
    g.memory = None
    for name in norm.inputs:
        if name not in g.types:
            g.add_input(name, norm.types[name])
    for name, value in norm.constants.items():
        g.constants[f"n_{name}"] = value
        g.types[f"n_{name}"] = norm.types[name]
    rename = {v: (v if v in norm.inputs else f"n_{v}") for v in norm.types}
    from qcomp.ir import Node
    for n in norm.nodes:
        g.nodes.append(Node(f"n_{n.name}", n.op, tuple(rename[v] for v in n.inputs), tuple(rename[v] for v in n.outputs)))
        for v in n.outputs:
            g.types[rename[v]] = norm.types[v]
    g.outputs = ["y", "n_y"]
    return verify(g)


@pytest.mark.parametrize("target", ["x86-vnni", "arm-sdot"])
def test_fused_nodes_are_bit_exact_to_the_unfused_nodes_on_llvm(target):
    """Both chains fused against the same graph unfused, on one backend; the residual LayerNorm also
    against the reference (the llvm LayerNorm is the reference's value); the GELU within erf's last bits."""
    from tests.opcases.targets import host_skip, run_arm, run_x86_vnni
    why = host_skip(target)()
    if why:
        pytest.skip(why)
    run = run_x86_vnni if target == "x86-vnni" else run_arm(target)
    unfused = _both()
    fused = fuse_dynamic(unfused)
    assert sorted(n.kind for n in fused.nodes) == ["DynamicDenseAddNorm", "DynamicDenseGelu"]
    feeds = {**_feeds(), "r": _norm_feeds()["r"]}
    got, want, ref = run(fused, feeds), run(unfused, feeds), run_integer(unfused, feeds)
    for name in ("y", "n_y"):
        np.testing.assert_array_equal(got[name], want[name], err_msg=name)
    np.testing.assert_array_equal(got["n_y"], ref["n_y"])
    np.testing.assert_allclose(got["y"], ref["y"], rtol=1e-5, atol=1e-6)
