"""share_dynamic_input: the DynamicDense nodes of one activation (attention's Q, K, V) become one
DynamicDenseSplit that quantizes it once (llvm builds only, after fold_dynamic_bias).

The merged graph prints as expected, its outputs equal the unmerged graph's exactly on ref and on
x86-vnni (x86's GEMM writes each part's blocks into its own output); every DynamicDense that joins
no group comes back unchanged, with its reason."""
import numpy as np
import pytest

from qcomp.ir import DType, Graph, TensorType, ops, verify
from qcomp.passes.lower_integer import lower_integer
from qcomp.passes.quantize_weights import quantize_weights
from qcomp.passes.share_dynamic_input import share_dynamic_input, why_not_shared
from qcomp.ref import run_integer

from .helpers import body

F = DType.FLOAT32
SHAPE, N = (1, 37, 70), 32        # a row tail of the GEMM tiles, a K tail (70 = 4 * 16 + 6)


def _graph(widths=(N, N, N), clamps=None, other_input=False) -> Graph:
    """x -> one Dense per width (seeded weights and biases), each an output; lowered for --quant dynamic.
    other_input: the last Dense reads x2 instead of x."""
    rng = np.random.default_rng(0)
    g = Graph(name="qkv")
    g.add_input("x", TensorType(SHAPE, F))
    if other_input:
        g.add_input("x2", TensorType(SHAPE, F))
    for i, n in enumerate(widths):
        g.add_constant(f"w{i}", (rng.standard_normal((n, SHAPE[-1])) * 0.15 * (i + 1)).astype(np.float32))
        g.add_constant(f"b{i}", (rng.standard_normal(n) * 0.3).astype(np.float32))
        x = "x2" if other_input and i == len(widths) - 1 else "x"
        g.add_node(ops.Dense(**(clamps[i] if clamps else {})), [x, f"w{i}", f"b{i}"], f"y{i}")
    g.outputs = [f"y{i}" for i in range(len(widths))]
    return verify(lower_integer(verify(quantize_weights(verify(g), dynamic=True))))


def _feeds(g):
    rng = np.random.default_rng(1)
    return {i: rng.standard_normal(SHAPE).astype(np.float32) for i in g.inputs}


def test_three_projections_merge_and_print():
    merged = verify(share_dynamic_input(_graph()))
    assert body(merged) == [
        "%y0, %y1, %y2 = DynamicDenseSplit(%x, %y0/w_stacked, %y0/b_stacked, %y0/w_scale_stacked) {parts=3} "
        ": f32[1x37x32], f32[1x37x32], f32[1x37x32]   # 'y0'"]
    node = merged.nodes[0]
    assert merged.types[node.inputs[1]].shape == (3 * N, SHAPE[-1])
    assert merged.types[node.inputs[1]].quant.axis == 0 and merged.types[node.inputs[1]].quant.scale.size == 3 * N


def test_ref_results_are_unchanged():
    g = _graph(clamps=[{"act_min": -0.25, "act_max": 1.0}] * 3)
    merged = verify(share_dynamic_input(g))
    want, got = run_integer(g, _feeds(g)), run_integer(merged, _feeds(g))
    for name in g.outputs:
        assert np.unique(want[name]).size > 100 and want[name].min() == np.float32(-0.25)
        np.testing.assert_array_equal(got[name], want[name])


def test_x86_results_equal_the_unmerged_graph():
    from tests.opcases.targets import host_skip, run_x86_vnni
    why = host_skip("x86-vnni")()
    if why:
        pytest.skip(why)
    g = _graph()
    got, want = run_x86_vnni(verify(share_dynamic_input(g)), _feeds(g)), run_integer(g, _feeds(g))
    for name in g.outputs:
        np.testing.assert_array_equal(got[name], want[name])


NOT_SHARED = {
    "alone": (dict(widths=(N,)), "the only DynamicDense of 'x'"),
    "width_not_aligned": (dict(widths=(N, 24)), "not a multiple of 16"),
    "other_clamp": (dict(widths=(N, N), clamps=[{}, {"act_min": 0.0}]), "clamp (0.0, None)"),
    "other_input": (dict(widths=(N, N), other_input=True), "the only DynamicDense of 'x2'"),
}


@pytest.mark.parametrize("case", sorted(NOT_SHARED))
def test_not_shared(case):
    kwargs, reason = NOT_SHARED[case]
    g = _graph(**kwargs)
    assert share_dynamic_input(g) is g
    last = [n for n in g.nodes if n.kind == "DynamicDense"][-1]
    assert reason in why_not_shared(g, last)


def test_runs_after_fold_dynamic_bias_on_llvm_only():
    from qcomp.builder import BACKEND_FUSIONS
    from qcomp.passes.fold_dynamic_bias import fold_dynamic_bias
    llvm = BACKEND_FUSIONS["llvm"]
    assert llvm.index(fold_dynamic_bias) < llvm.index(share_dynamic_input)
    assert all(share_dynamic_input not in passes for backend, passes in BACKEND_FUSIONS.items() if backend != "llvm")
