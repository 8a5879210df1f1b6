"""fuse_dynamic_attention: DynamicMatMul + Mul by a scalar + Add of a [1, ..., 1, N] mask becomes one
DynamicMatMulScaleAdd (llvm builds only).

The fused graph's outputs equal the unfused graph's exactly on ref (the backends against naive.py:
the op case dynamic_matmul_scale_add_tails); each non-fusable chain comes back unchanged, with the reason."""
import numpy as np
import pytest

from qcomp.ir import DType, Graph, TensorType, ops, verify
from qcomp.passes.fuse_dynamic_attention import fuse_dynamic_attention, why_not_fusable
from qcomp.passes.lower_integer import lower_integer
from qcomp.passes.quantize_weights import quantize_weights
from qcomp.ref import run_integer

F = DType.FLOAT32
H, S, D = 3, 21, 12


def _graph(*, mask_shape=(1, 1, 1, S), scale=(0.2886751,), mask_const=False, add_clamp=False, scores_output=False,
           scaled_readers=1) -> Graph:
    g = Graph(name="scores")
    g.add_input("q", TensorType((1, H, S, D), F))
    g.add_input("kt", TensorType((1, H, D, S), F))
    if mask_const:
        g.add_constant("mask", np.where(np.arange(S) % 4 == 0, -10000.0, 0.0).astype(np.float32).reshape(mask_shape))
    else:
        g.add_input("mask", TensorType(mask_shape, F))
    g.add_constant("scale", np.asarray(scale, np.float32))
    g.add_node(ops.MatMul(), ["q", "kt"], "scores")
    g.add_node(ops.Mul(), ["scores", "scale"], "scaled")
    g.add_node(ops.Add(act_min=-5.0) if add_clamp else ops.Add(), ["scaled", "mask"], "y")
    g.outputs = ["y"] + (["scores"] if scores_output else [])
    if scaled_readers == 2:
        g.add_node(ops.Mul(), ["scaled", "scaled"], "sq")
        g.outputs.append("sq")
    return verify(lower_integer(verify(quantize_weights(verify(g), dynamic=True))))


def _feeds(g: Graph):
    rng = np.random.default_rng(5)
    feeds = {"q": rng.standard_normal((1, H, S, D)).astype(np.float32),
             "kt": rng.standard_normal((1, H, D, S)).astype(np.float32)}
    if "mask" in g.inputs:
        feeds["mask"] = np.where(rng.random(g.types["mask"].shape) < 0.3, -10000.0, 0.0).astype(np.float32)
    return feeds


@pytest.mark.parametrize("kwargs", [{}, dict(mask_const=True), dict(mask_shape=(S,)), dict(scale=0.125)])
def test_scores_chain_fuses_and_ref_results_are_unchanged(kwargs):
    unfused = _graph(**kwargs)
    fused = verify(fuse_dynamic_attention(unfused))
    assert [n.kind for n in fused.nodes] == ["DynamicMatMulScaleAdd"]
    node = fused.nodes[0]
    assert node.inputs == ("q", "kt", "mask") and node.outputs == ("y",)
    assert node.op.scale == float(np.float32(kwargs.get("scale", 0.2886751)))
    feeds = _feeds(unfused)
    want = run_integer(unfused, feeds)["y"]
    assert np.unique(want).size > 500 and (want < -9000).any()
    np.testing.assert_array_equal(run_integer(fused, feeds)["y"], want)


NOT_FUSED = {
    "mask_per_row": (dict(mask_shape=(1, 1, S, S)), "varies along the last axis only"),
    "mask_per_head": (dict(mask_shape=(1, H, 1, S)), "varies along the last axis only"),
    "scale_vector": (dict(scale=np.full(S, 0.25)), "not a scalar f32 constant"),
    "add_clamp": (dict(add_clamp=True), "has a fused clamp"),
    "scores_output": (dict(scores_output=True), "graph output"),
    "scaled_two_readers": (dict(scaled_readers=2), "not by one Add"),
}


@pytest.mark.parametrize("case", sorted(NOT_FUSED))
def test_not_fused(case):
    kwargs, reason = NOT_FUSED[case]
    g = _graph(**kwargs)
    assert fuse_dynamic_attention(g) is g
    mm = next(n for n in g.nodes if n.kind == "DynamicMatMul")
    assert reason in why_not_fusable(g, mm, g.consumers())


def test_too_deep_products_are_not_fused():
    """K = 33026: K * 255 * 255 > 2^31 - 1, the scalar int64 loop's product (the fused node has no such form)."""
    g = Graph(name="deep")
    g.add_input("q", TensorType((1, 33026), F))
    g.add_input("kt", TensorType((33026, 2), F))
    g.add_input("mask", TensorType((2,), F))
    g.add_constant("scale", np.asarray(0.5, np.float32))
    g.add_node(ops.MatMul(), ["q", "kt"], "scores")
    g.add_node(ops.Mul(), ["scores", "scale"], "scaled")
    g.add_node(ops.Add(), ["scaled", "mask"], "y")
    g.outputs = ["y"]
    g = verify(lower_integer(verify(quantize_weights(verify(g), dynamic=True))))
    assert fuse_dynamic_attention(g) is g
    mm = next(n for n in g.nodes if n.kind == "DynamicMatMul")
    assert "too deep" in why_not_fusable(g, mm, g.consumers())


def test_runs_on_llvm_only():
    from qcomp.builder import BACKEND_FUSIONS
    assert fuse_dynamic_attention in BACKEND_FUSIONS["llvm"]
    assert all(fuse_dynamic_attention not in passes for backend, passes in BACKEND_FUSIONS.items() if backend != "llvm")
