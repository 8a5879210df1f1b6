"""fuse_attention: the head split, DynamicMatMulScaleAdd, Softmax, DynamicMatMul and head merge of a
--quant dynamic attention layer become one DynamicAttention (llvm builds only).

The fused graph's outputs equal the unfused graph's exactly: on ref (the unfused ops' kernels in
sequence), and on each llvm target (the fused kernel against the unfused nodes' own llvm kernels:
the Softmax is the backend's, within float32 rounding of the reference's, so llvm is compared with
the llvm build of the unfused graph). Each non-fusable chain comes back unchanged, with the reason."""
import numpy as np
import pytest

from qcomp.ir import DType, Graph, TensorType, ops, verify
from qcomp.passes.fuse_attention import fuse_attention, why_not_fusable
from qcomp.passes.fuse_dynamic_attention import fuse_dynamic_attention
from qcomp.passes.lower_integer import lower_integer
from qcomp.passes.quantize_weights import quantize_weights
from qcomp.ref import run_integer

F = DType.FLOAT32
# row tails of the tiles (Sq = 21), a channel tail of the scores (Sk = 43 columns) and of the
# context (Dv = 10), K tails of both products (D = 6, Sk = 43 are no multiples of 4 or 8), 2 x 3 heads
B, SQ, SK, H, D, DV = 2, 21, 43, 3, 6, 10
PADDED = 16          # the mask's columns from 16 on: a padded sentence (whole vectors of masked scores)
UNFUSED = ["Transpose", "Transpose", "DynamicMatMulScaleAdd", "Softmax", "Transpose", "DynamicMatMul", "Transpose"]


def _graph(*, merge_perm=(0, 2, 1, 3), softmax_axis=3, scores_output=False, probs_readers=1, dv=DV,
           sk=SK, mask_shape=None, q_batch=None, kt_input=False, q_dense=False) -> Graph:
    """q [B, Sq, H, D], k [B, Sk, H, D], v [B, Sk, H, Dv] -> attention's core (a BERT export's order:
    the splits, Q K^T * scale + mask, Softmax, P V, the merge), lowered for --quant dynamic and
    with the scores fused (fuse_dynamic_attention), as fuse_attention receives it. q_dense: q is
    Reshape(Dense(x)) as in an encoder (its DynamicDense runs first and leaves its packs in the scratch)."""
    g = Graph(name="attention")
    q_shape = (B if q_batch is None else q_batch, SQ, H, D)
    if q_dense:
        g.add_input("x", TensorType((*q_shape[:2], 40), F))
        g.add_constant("w", (np.random.default_rng(3).standard_normal((H * D, 40)) * 0.3).astype(np.float32))
        g.add_constant("b", np.zeros(H * D, np.float32))
        g.add_node(ops.Dense(), ["x", "w", "b"], "q_rows")
        g.add_node(ops.Reshape(q_shape), ["q_rows"], "q")
    else:
        g.add_input("q", TensorType(q_shape, F))
    if kt_input:
        g.add_input("kt", TensorType((B, H, D, sk), F))
    else:
        g.add_input("k", TensorType((B, sk, H, D), F))
    g.add_input("v", TensorType((B, sk, H, dv), F))
    g.add_input("mask", TensorType(mask_shape or (1, 1, 1, sk), F))
    g.add_constant("scale", np.asarray(0.4082483, np.float32))
    g.add_node(ops.Transpose((0, 2, 1, 3)), ["q"], "qt")
    if not kt_input:
        g.add_node(ops.Transpose((0, 2, 3, 1)), ["k"], "kt")
    g.add_node(ops.Transpose((0, 2, 1, 3)), ["v"], "vt")
    g.add_node(ops.MatMul(), ["qt", "kt"], "scores")
    g.add_node(ops.Mul(), ["scores", "scale"], "scaled")
    g.add_node(ops.Add(), ["scaled", "mask"], "masked")
    g.add_node(ops.Softmax(softmax_axis), ["masked"], "probs")
    g.add_node(ops.MatMul(), ["probs", "vt"], "ctx")
    g.add_node(ops.Transpose(merge_perm), ["ctx"], "y")
    g.outputs = ["y"] + (["masked"] if scores_output else [])
    if probs_readers == 2:
        g.add_node(ops.Mul(), ["probs", "probs"], "sq")
        g.outputs.append("sq")
    lowered = verify(lower_integer(verify(quantize_weights(verify(g), dynamic=True))))
    return verify(fuse_dynamic_attention(lowered))


def _feeds(g: Graph) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(7)
    feeds = {name: (rng.standard_normal(g.types[name].shape) * 2).astype(np.float32) for name in g.inputs}
    mask = rng.random(g.types["mask"].shape) < 0.25
    mask[..., PADDED:] = True
    feeds["mask"] = np.where(mask, -10000.0, 0.0).astype(np.float32)
    return feeds


@pytest.mark.parametrize("mask_shape", [None, (SK,)])
def test_attention_core_fuses_and_ref_results_are_unchanged(mask_shape):
    unfused = _graph(mask_shape=mask_shape)
    assert sorted(n.kind for n in unfused.nodes) == sorted(UNFUSED)
    fused = verify(fuse_attention(unfused))
    assert [n.kind for n in fused.nodes] == ["DynamicAttention"]
    node = fused.nodes[0]
    assert node.inputs == ("q", "k", "v", "mask") and node.outputs == ("y",)
    assert node.op.scale == float(np.float32(0.4082483))
    feeds = _feeds(unfused)
    want = run_integer(unfused, feeds)["y"]
    assert want.shape == (B, SQ, H, DV) and np.unique(want).size > 1000
    np.testing.assert_array_equal(run_integer(fused, feeds)["y"], want)


NOT_FUSED = {
    "merge_perm": (dict(merge_perm=(0, 2, 3, 1)), "not (0, 2, 1, 3)"),
    "softmax_axis": (dict(softmax_axis=2, sk=SQ), "along axis 2, not the last"),
    "scores_output": (dict(scores_output=True), "graph output"),
    "probs_two_readers": (dict(probs_readers=2), "not by one DynamicMatMul"),
    "kt_no_split": (dict(kt_input=True), "comes from a graph input or constant"),
    "batch_broadcast": (dict(q_batch=1), "are not [B, Sq, H, D], [B, Sk, H, D], [B, Sk, H, Dv]"),
}


@pytest.mark.parametrize("case", sorted(NOT_FUSED))
def test_not_fused(case):
    kwargs, reason = NOT_FUSED[case]
    g = _graph(**kwargs)
    assert fuse_attention(g) is g
    sa = next(n for n in g.nodes if n.kind == "DynamicMatMulScaleAdd")
    assert reason in why_not_fusable(g, sa, g.consumers())


def test_runs_on_llvm_only_after_the_scores_fusion():
    from qcomp.builder import BACKEND_FUSIONS
    llvm = BACKEND_FUSIONS["llvm"]
    assert llvm.index(fuse_dynamic_attention) < llvm.index(fuse_attention)
    assert all(fuse_attention not in passes for backend, passes in BACKEND_FUSIONS.items() if backend != "llvm")


def test_c_backend_refuses_the_fused_node():
    from qcomp.protocol import backend_module
    from qcomp.target import get_target
    fused = fuse_attention(_graph())
    problems = backend_module("c").check(fused, get_target("dsp-c"))
    assert any("DynamicAttention" in str(p) for p in problems), problems


def _runners():
    """target -> (its runner without batching, its skip reason) from the op-case table's harness."""
    from tests.opcases import targets as t
    return {"x86-vnni": (t._run_x86_vnni, t.host_skip("x86-vnni")),
            "x86-avx2": (t._run_x86_avx2, t.host_skip("x86-avx2")),    # also asserts no AVX-512 instruction
            "x86-avxvnni-proxy": (t._run_x86_avxvnni_proxy, t._proxy_skip),
            **{name: (t.run_arm(name), t.host_skip(name)) for name in ("arm-sdot", "arm-neon", "arm-i8mm")}}


@pytest.mark.parametrize("target", ["x86-vnni", "x86-avx2", "x86-avxvnni-proxy", "arm-sdot", "arm-neon", "arm-i8mm"])
def test_fused_node_is_bit_exact_to_the_unfused_nodes_on_llvm(target):
    """The fused kernel against the unfused nodes built for the same target (one artifact each), and
    within float32 noise of the reference."""
    run, skip = _runners()[target]
    why = skip()
    if why:
        pytest.skip(why)
    unfused = _graph(q_dense=True)
    fused = fuse_attention(unfused)
    assert [n.kind for n in fused.nodes] == ["DynamicDense", "Reshape", "DynamicAttention"]
    feeds = _feeds(unfused)
    got, want = run(fused, feeds)["y"], run(unfused, feeds)["y"]
    np.testing.assert_array_equal(got, want)
    np.testing.assert_allclose(got, run_integer(unfused, feeds)["y"], rtol=1e-3, atol=1e-3)
