import numpy as np

from qcomp.ir import DType, Graph, TensorType, ops
from qcomp.passes import run_passes
from qcomp.passes.absorb_flatten_transpose import absorb_flatten_transpose
from qcomp.ref import run_float

from .helpers import body


def classifier(extra_use: bool = False) -> Graph:
    rng = np.random.default_rng(0)
    g = Graph()
    g.add_input("x", TensorType((1, 3, 5, 4), DType.FLOAT32))      # NHWC features, H=3 W=5 C=4
    g.add_node(ops.Transpose(perm=(0, 3, 1, 2)), ["x"], "to_nchw")
    g.add_node(ops.Reshape(shape=(1, 60)), ["to_nchw"], "flatten")
    w = g.add_constant("w", rng.standard_normal((7, 60)).astype(np.float32))
    g.add_node(ops.Dense(), ["flatten", w, g.add_constant("b", np.zeros(7, np.float32))], "fc")
    g.outputs = ["fc"] + (["to_nchw"] if extra_use else [])
    return g


def test_transpose_disappears_and_results_match():
    before = classifier()
    after = run_passes(before, (absorb_flatten_transpose,))
    assert body(after) == ["%flatten = Reshape(%x) {shape=(1, 60)} : f32[1x60]",
                           "%fc = Dense(%flatten, %w, %b) : f32[1x7]"]
    x = {"x": np.random.default_rng(1).standard_normal((1, 3, 5, 4)).astype(np.float32)}
    np.testing.assert_allclose(run_float(after, x)["fc"], run_float(before, x)["fc"], rtol=1e-5, atol=1e-5)


def test_unpermuted_weights_would_not_match():
    before = classifier()
    after = absorb_flatten_transpose(before)
    wrong = after.copy()
    wrong.constants["w"] = before.constants["w"]
    x = {"x": np.random.default_rng(2).standard_normal((1, 3, 5, 4)).astype(np.float32)}
    assert not np.allclose(run_float(wrong, x)["fc"], run_float(before, x)["fc"], atol=1e-3)


def test_not_applied_when_the_transposed_value_has_another_use():
    g = classifier(extra_use=True)
    assert absorb_flatten_transpose(g) is g
