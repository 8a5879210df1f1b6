import numpy as np
import pytest

from qcomp.ir import DType, Graph, TensorType, ops, verify
from qcomp.passes import run_passes
from qcomp.passes.fold_batchnorm import fold_batchnorm
from qcomp.ref import run_float

from .helpers import body, conv_bn_graph


def test_conv_bn_folds_into_conv():
    rng = np.random.default_rng(0)
    before = conv_bn_graph(rng)
    after = run_passes(before, (fold_batchnorm,))
    assert body(before) == [
        "%conv = Conv2D(%x, %w, %b) {strides=(1, 1), pads=(1, 1, 1, 1), dilations=(1, 1), group=1} : f32[1x9x7x5]",
        "%bn = BatchNorm(%conv, %gamma, %beta, %mean, %var) {epsilon=0.001} : f32[1x9x7x5]",
        "%relu = Relu(%bn) : f32[1x9x7x5]"]
    assert body(after) == [
        "%bn = Conv2D(%x, %w_bnfold, %b_bnfold) {strides=(1, 1), pads=(1, 1, 1, 1), dilations=(1, 1), "
        "group=1} : f32[1x9x7x5]   # 'conv'",
        "%relu = Relu(%bn) : f32[1x9x7x5]"]
    x = rng.standard_normal((1, 9, 7, 3)).astype(np.float32)
    np.testing.assert_allclose(run_float(after, {"x": x})["relu"], run_float(before, {"x": x})["relu"],
                               rtol=1e-5, atol=1e-5)


def test_dense_bn_folds():
    rng = np.random.default_rng(1)
    g = Graph()
    g.add_input("x", TensorType((2, 6), DType.FLOAT32))
    w = g.add_constant("w", rng.standard_normal((4, 6)).astype(np.float32))
    b = g.add_constant("b", np.zeros(4, np.float32))
    g.add_node(ops.Dense(), ["x", w, b], "fc")
    ps = [g.add_constant(k, rng.uniform(0.5, 1.5, 4).astype(np.float32)) for k in "gbmv"]
    g.add_node(ops.BatchNorm(), ["fc", *ps], "bn")
    g.outputs = ["bn"]
    after = run_passes(g, (fold_batchnorm,))
    assert [n.kind for n in after.nodes] == ["Dense"]
    x = rng.standard_normal((2, 6)).astype(np.float32)
    np.testing.assert_allclose(run_float(after, {"x": x})["bn"], run_float(g, {"x": x})["bn"], rtol=1e-5, atol=1e-6)


def test_shared_conv_output_is_not_folded_but_bn_becomes_affine():
    rng = np.random.default_rng(2)
    before = conv_bn_graph(rng, bn_parents_used_twice=True)
    after = fold_batchnorm(before)
    verify(after)
    kinds = [n.kind for n in after.nodes]
    assert kinds == ["Conv2D", "Mul", "Add", "Relu", "Sigmoid"]
    x = rng.standard_normal((1, 9, 7, 3)).astype(np.float32)
    ref, got = run_float(before, {"x": x}), run_float(after, {"x": x})
    for k in ref:
        np.testing.assert_allclose(got[k], ref[k], rtol=1e-5, atol=1e-5)


def test_folding_changes_results_if_epsilon_were_ignored():
    """The negative case: a fold that forgot epsilon would not match the float graph."""
    rng = np.random.default_rng(3)
    before = conv_bn_graph(rng)
    bn = before.node("bn")
    wrong = before.copy()
    wrong.node("bn").op = ops.BatchNorm(epsilon=0.0)
    after_wrong = fold_batchnorm(wrong)
    x = rng.standard_normal((1, 9, 7, 3)).astype(np.float32)
    with pytest.raises(AssertionError):
        np.testing.assert_allclose(run_float(after_wrong, {"x": x})["relu"],
                                   run_float(before, {"x": x})["relu"], rtol=1e-6, atol=1e-6)
    assert bn.op.epsilon == 1e-3
