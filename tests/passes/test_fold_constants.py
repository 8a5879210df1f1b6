import numpy as np

from qcomp.ir import DType, Graph, TensorType, ops
from qcomp.passes import run_passes
from qcomp.passes.eliminate_dead_code import eliminate_dead_code
from qcomp.passes.fold_constants import fold_constants
from qcomp.ref import run_float

from .helpers import body


def weights_behind_ops() -> Graph:
    """A weight stored transposed and scaled, as some exporters write it, plus a dead branch."""
    rng = np.random.default_rng(0)
    g = Graph()
    g.add_input("x", TensorType((2, 6), DType.FLOAT32))
    wt = g.add_constant("w_t", rng.standard_normal((6, 4)).astype(np.float32))
    two = g.add_constant("two", np.array(2.0, np.float32))
    g.add_node(ops.Transpose(perm=(1, 0)), [wt], "w_nk")
    g.add_node(ops.Mul(), ["w_nk", two], "w")
    b = g.add_constant("b", np.zeros(4, np.float32))
    g.add_node(ops.Dense(), ["x", "w", b], "fc")
    g.add_node(ops.Sigmoid(), ["x"], "unused")
    g.outputs = ["fc"]
    return g


def test_constant_subgraphs_fold_and_dead_code_goes():
    before = weights_behind_ops()
    after = run_passes(before, (fold_constants, eliminate_dead_code))
    assert body(before)[:2] == ["%w_nk = Transpose(%w_t) {perm=(1, 0)} : f32[4x6]",
                                "%w = Mul(%w_nk, %two) : f32[4x6]"]
    assert body(after) == ["%fc = Dense(%x, %w, %b) : f32[2x4]"]
    assert after.is_constant("w") and "unused" not in after.types and "w_t" not in after.constants
    x = {"x": np.random.default_rng(1).standard_normal((2, 6)).astype(np.float32)}
    np.testing.assert_array_equal(run_float(after, x)["fc"], run_float(before, x)["fc"])
    np.testing.assert_array_equal(after.constants["w"], 2 * before.constants["w_t"].T)


def test_nothing_to_fold_returns_the_same_graph():
    g = weights_behind_ops()
    once = fold_constants(g)
    assert fold_constants(once) is once and eliminate_dead_code(eliminate_dead_code(once)) is not None


def test_folding_with_a_wrong_constant_would_not_match():
    """The negative case: folding is only right when it evaluates the op; a copy of the raw
    constant (skipping the Transpose/Mul) gives other results."""
    g = weights_behind_ops()
    wrong = run_passes(g, (fold_constants, eliminate_dead_code))
    wrong.constants["w"] = g.constants["w_t"].T.copy()
    wrong.constants["w"].flags.writeable = False
    x = {"x": np.ones((2, 6), np.float32)}
    assert not np.allclose(run_float(wrong, x)["fc"], run_float(g, x)["fc"])
