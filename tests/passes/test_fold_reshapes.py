import numpy as np

from qcomp.ir import DType, Graph, TensorType, ops
from qcomp.passes import run_passes
from qcomp.passes.fold_reshapes import fold_reshapes, keeps_order, why_not_foldable
from qcomp.passes.fold_transposes import fold_transposes
from qcomp.ref import run_float

from .helpers import body

F = DType.FLOAT32


def _chain(moves, shape, outputs=("r",)) -> Graph:
    """x -> Sigmoid -> the moves (Reshape shapes as lists, Transpose perms as tuples) -> Relu."""
    g = Graph()
    g.add_input("x", TensorType(shape, F))
    g.add_node(ops.Sigmoid(), ["x"], "s")
    prev = "s"
    for i, m in enumerate(moves):
        op = ops.Reshape(shape=tuple(m)) if isinstance(m, list) else ops.Transpose(perm=m)
        prev = g.add_node(op, [prev], f"m{i}").outputs[0]
    g.add_node(ops.Relu(), [prev], "r")
    g.outputs = list(outputs)
    return g


def _same_outputs(before: Graph, after: Graph):
    shape = before.types["x"].shape
    x = {"x": np.random.default_rng(0).standard_normal(shape).astype(np.float32)}
    want, got = run_float(before, x), run_float(after, x)
    for k in want:
        np.testing.assert_array_equal(got[k], want[k])


def test_reshape_chain_collapses():
    before = _chain([[1, 6, 20], [1, 120], [1, 2, 60]], (1, 2, 3, 20))
    after = run_passes(before, (fold_reshapes,))
    assert body(after) == ["%s = Sigmoid(%x) : f32[1x2x3x20]",
                           "%m2 = Reshape(%s) {shape=(1, 2, 60)} : f32[1x2x60]",
                           "%r = Relu(%m2) : f32[1x2x60]"]
    _same_outputs(before, after)


def test_transpose_of_unit_axes_becomes_a_reshape():
    before = _chain([(0, 2, 3, 1)], (1, 7, 1, 1))          # NCHW [1, C, 1, 1] -> NHWC
    after = run_passes(before, (fold_reshapes,))
    assert body(after) == ["%s = Sigmoid(%x) : f32[1x7x1x1]",
                           "%m0 = Reshape(%s) {shape=(1, 1, 1, 7)} : f32[1x1x1x7]",
                           "%r = Relu(%m0) : f32[1x1x1x7]"]
    _same_outputs(before, after)


def test_cancelling_split_transpose_merge_disappears():
    # [1, 8, 6] -> heads [1, 8, 1, 6] -> move the unit head axis -> back to [1, 8, 6]
    before = _chain([[1, 8, 1, 6], (0, 2, 1, 3), [1, 8, 6]], (1, 8, 6))
    after = run_passes(before, (fold_reshapes,))
    assert body(after) == ["%s = Sigmoid(%x) : f32[1x8x6]", "%r = Relu(%s) : f32[1x8x6]"]
    _same_outputs(before, after)


def test_graph_output_keeps_its_node():
    before = _chain([[2, 3], [3, 2], [6]], (6,), outputs=("r", "m2"))
    after = run_passes(before, (fold_reshapes,))
    assert body(after) == ["%s = Sigmoid(%x) : f32[6]",
                           "%m2 = Reshape(%s) {shape=(6,)} : f32[6]",
                           "%r = Relu(%m2) : f32[6]"]
    _same_outputs(before, after)
    assert fold_reshapes(after) is after


def test_transposes_then_reshapes_after_fold_transposes():
    # a transpose pair that composes to a unit-axis move, then a flatten
    before = _chain([(0, 3, 1, 2), (0, 1, 3, 2), [1, 5]], (1, 1, 1, 5))
    after = run_passes(before, (fold_transposes, fold_reshapes))
    assert body(after) == ["%s = Sigmoid(%x) : f32[1x1x1x5]",
                           "%m2 = Reshape(%s) {shape=(1, 5)} : f32[1x5]",
                           "%r = Relu(%m2) : f32[1x5]"]
    _same_outputs(before, after)


def test_a_real_reordering_does_not_match():
    g = _chain([[1, 4, 2, 3], (0, 2, 1, 3), [1, 24]], (1, 4, 6))    # a head split: reorders
    assert fold_reshapes(g) is g
    producers = g.producers()
    assert why_not_foldable(g, g.node("m1"), producers) == "each of the 2 chains ending here reorders the elements"
    assert why_not_foldable(g, g.node("m2"), producers) == \
        "the 2 longer chains ending here reorder the elements, and a Reshape alone to a new shape is already a view"
    assert why_not_foldable(g, g.node("r"), producers) == "Relu is not a Reshape or Transpose"
    assert not keeps_order([g.node("m1")], (1, 4, 2, 3))
