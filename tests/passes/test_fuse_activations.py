import numpy as np

from qcomp.ir import DType, Graph, TensorType, ops
from qcomp.passes import run_passes
from qcomp.passes.fold_batchnorm import fold_batchnorm
from qcomp.passes.fuse_activations import fuse_activations
from qcomp.ref import run_float

from .helpers import body, conv_bn_graph


def test_conv_bn_relu_becomes_one_conv_with_clamp():
    rng = np.random.default_rng(0)
    before = conv_bn_graph(rng)
    after = run_passes(before, (fold_batchnorm, fuse_activations))
    assert body(after) == [
        "%relu = Conv2D(%x, %w_bnfold, %b_bnfold) {strides=(1, 1), pads=(1, 1, 1, 1), dilations=(1, 1), "
        "group=1, act_min=0} : f32[1x9x7x5]   # 'conv'"]
    x = rng.standard_normal((1, 9, 7, 3)).astype(np.float32)
    np.testing.assert_allclose(run_float(after, {"x": x})["relu"], run_float(before, {"x": x})["relu"],
                               rtol=1e-5, atol=1e-5)


def _add_clip_graph(second_use: bool) -> Graph:
    g = Graph()
    g.add_input("a", TensorType((1, 4, 4, 3), DType.FLOAT32))
    g.add_input("b", TensorType((1, 4, 4, 3), DType.FLOAT32))
    g.add_node(ops.Add(), ["a", "b"], "add")
    g.add_node(ops.Clip(min=0.0, max=6.0), ["add"], "relu6")
    g.add_node(ops.Clip(min=-1.0, max=4.0), ["relu6"], "clip")
    g.outputs = ["clip"]
    if second_use:
        g.outputs.append("add")
    return g


def test_chained_clips_tighten_the_range():
    g = _add_clip_graph(second_use=False)
    after = run_passes(g, (fuse_activations,))
    assert body(after) == ["%clip = Add(%a, %b) {act_min=0, act_max=4} : f32[1x4x4x3]   # 'add'"]
    rng = np.random.default_rng(1)
    feeds = {k: (3 * rng.standard_normal((1, 4, 4, 3))).astype(np.float32) for k in "ab"}
    np.testing.assert_array_equal(run_float(after, feeds)["clip"], run_float(g, feeds)["clip"])


def test_not_fused_when_producer_output_is_used_elsewhere():
    g = _add_clip_graph(second_use=True)
    after = fuse_activations(g)
    assert after is g and after.node("add").op.act_min is None
    assert [n.kind for n in after.nodes] == ["Add", "Clip", "Clip"]
