"""fold_dynamic_bias: a DynamicDense with a +0.0 bias and the constant bias Add after it become one
DynamicDense carrying that bias (llvm builds only, after fuse_dynamic).

The folded graph's outputs equal the unfused graph's exactly, on ref and on x86-vnni; the algebra
(p + 0.0) + c == p + c for every float32 p and every c but -0.0 is checked on the special values;
every non-foldable pattern comes back unchanged, with its reason."""
import numpy as np
import pytest

from qcomp.ir import DType, Graph, TensorType, ops, verify
from qcomp.passes.fold_dynamic_bias import fold_dynamic_bias, why_not_foldable
from qcomp.passes.fuse_dynamic import fuse_dynamic
from qcomp.passes.lower_integer import lower_integer
from qcomp.passes.quantize_weights import quantize_weights
from qcomp.ref import run_integer

F = DType.FLOAT32
SHAPE, N = (1, 37, 96), 70       # a row tail of the GEMM tiles, a channel tail (70 = 4 * 16 + 6)


def _graph(*, b=None, bias=None, dense_clamp=False, add_clamp=False, d_output=False, two_readers=False,
           bias_first=True) -> Graph:
    """x -> Dense(w, b) -> Add(bias, d) (a constant [1, 1, N] bias, as torch exports it), lowered for
    --quant dynamic (seeded weights)."""
    rng = np.random.default_rng(0)
    g = Graph(name="qkv")
    g.add_input("x", TensorType(SHAPE, F))
    g.add_constant("w", (rng.standard_normal((N, SHAPE[-1])) * 0.15).astype(np.float32))
    g.add_constant("b", np.zeros(N, np.float32) if b is None else b)
    g.add_constant("bias", (rng.standard_normal((1, 1, N)) * 0.3).astype(np.float32) if bias is None else bias)
    g.add_node(ops.Dense(act_min=0.0) if dense_clamp else ops.Dense(), ["x", "w", "b"], "d")
    add = ops.Add(act_max=1.0) if add_clamp else ops.Add()
    g.add_node(add, ["bias", "d"] if bias_first else ["d", "bias"], "h")
    g.outputs = ["h"]
    if two_readers:
        g.add_node(ops.Mul(), ["d", "d"], "sq")
        g.outputs.append("sq")
    if d_output:
        g.outputs.append("d")
    return verify(lower_integer(verify(quantize_weights(verify(g), dynamic=True))))


def _feeds():
    return {"x": np.random.default_rng(1).standard_normal(SHAPE).astype(np.float32)}


@pytest.mark.parametrize("bias_first", [True, False])
def test_bias_add_folds_and_ref_results_are_unchanged(bias_first):
    unfused = _graph(bias_first=bias_first)
    folded = verify(fold_dynamic_bias(unfused))
    assert [n.kind for n in folded.nodes] == ["DynamicDense"]
    node = folded.nodes[0]
    dense = next(n for n in unfused.nodes if n.kind == "DynamicDense")
    assert node.outputs == ("h",) and node.inputs[0] == dense.inputs[0]
    np.testing.assert_array_equal(folded.constants[node.inputs[2]], unfused.constants["bias"].reshape(N))
    want = run_integer(unfused, _feeds())["h"]
    assert np.unique(want).size > 1000
    np.testing.assert_array_equal(run_integer(folded, _feeds())["h"], want)
    zeros = {"x": np.zeros(SHAPE, np.float32)}         # scale 0: p = +0.0 everywhere, h = bias
    np.testing.assert_array_equal(run_integer(folded, zeros)["h"], run_integer(unfused, zeros)["h"])


def test_the_algebra_holds_on_special_values():
    """(p + 0.0) + c == p + c bit for bit, p over the special float32 values, c any but -0.0."""
    p = np.array([-0.0, 0.0, 1.5, -1.5, np.inf, -np.inf, np.nan, 1e-45, -1e-45, 3.4e38, -3.4e38], np.float32)
    c = np.array([0.0, 1.5, -1.5, np.inf, -np.inf, 1e-45, -1e-45, 3.4e38, -3.4e38], np.float32)
    pp, cc = np.meshgrid(p, c)
    with np.errstate(over="ignore", invalid="ignore"):           # inf + -inf, 3.4e38 + 3.4e38: on purpose
        unfused, folded = (pp + np.float32(0.0)) + cc, pp + cc
    np.testing.assert_array_equal(unfused.view(np.uint32), folded.view(np.uint32))
    minus_zero = np.float32(-0.0)
    assert ((np.float32(-0.0) + np.float32(0.0)) + minus_zero).view(np.uint32) != (np.float32(-0.0) + minus_zero).view(np.uint32)


NOT_FOLDED = {
    "nonzero_b": (dict(b=np.full(N, 0.25, np.float32)), "not a constant of +0.0"),
    "negative_zero_b": (dict(b=np.full(N, -0.0, np.float32)), "not a constant of +0.0"),
    "negative_zero_bias": (dict(bias=np.where(np.arange(N) % 7 == 0, -0.0, 0.5).astype(np.float32).reshape(1, 1, N)),
                           "holds -0.0"),
    "dense_clamp": (dict(dense_clamp=True), "clamps its output"),
    "add_clamp": (dict(add_clamp=True), "has a fused clamp"),
    "d_output": (dict(d_output=True), "graph output"),
    "two_readers": (dict(two_readers=True), "not by one Add alone"),
}


@pytest.mark.parametrize("case", sorted(NOT_FOLDED))
def test_not_folded(case):
    kwargs, reason = NOT_FOLDED[case]
    g = _graph(**kwargs)
    assert fold_dynamic_bias(g) is g
    dense = next(n for n in g.nodes if n.kind == "DynamicDense")
    assert reason in why_not_foldable(g, dense, g.consumers())


def test_runs_after_fuse_dynamic_on_llvm_only():
    from qcomp.builder import BACKEND_FUSIONS
    llvm = BACKEND_FUSIONS["llvm"]
    assert llvm.index(fuse_dynamic) < llvm.index(fold_dynamic_bias)
    assert all(fold_dynamic_bias not in passes for backend, passes in BACKEND_FUSIONS.items() if backend != "llvm")


def test_folded_node_is_bit_exact_on_x86_vnni():
    from tests.opcases.targets import host_skip, run_x86_vnni
    why = host_skip("x86-vnni")()
    if why:
        pytest.skip(why)
    unfused = _graph()
    folded = fold_dynamic_bias(unfused)
    got, want = run_x86_vnni(folded, _feeds()), run_integer(unfused, _feeds())
    np.testing.assert_array_equal(got["h"], want["h"])
