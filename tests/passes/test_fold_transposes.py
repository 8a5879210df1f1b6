import numpy as np

from qcomp.ir import DType, Graph, TensorType, ops
from qcomp.passes import run_passes
from qcomp.passes.fold_transposes import compose, fold_transposes, why_not_composable
from qcomp.ref import run_float

from .helpers import body

F = DType.FLOAT32


def _chain(perms, shape=(2, 3, 4, 5), extra_use: str | None = None) -> Graph:
    g = Graph()
    g.add_input("x", TensorType(shape, F))
    g.add_node(ops.Sigmoid(), ["x"], "s")
    prev = "s"
    for i, p in enumerate(perms):
        prev = g.add_node(ops.Transpose(perm=p), [prev], f"t{i}").outputs[0]
    g.add_node(ops.Relu(), [prev], "r")
    g.outputs = ["r"] + ([extra_use] if extra_use else [])
    return g


def _same_outputs(before: Graph, after: Graph, shape=(2, 3, 4, 5)):
    x = {"x": np.random.default_rng(0).standard_normal(shape).astype(np.float32)}
    want, got = run_float(before, x), run_float(after, x)
    assert want.keys() == got.keys()
    for k in want:
        np.testing.assert_array_equal(got[k], want[k])


def test_compose_is_numpy_transpose_of_transpose():
    x = np.arange(120).reshape(2, 3, 4, 5)
    p1, p2 = (0, 2, 3, 1), (3, 1, 0, 2)
    np.testing.assert_array_equal(x.transpose(p1).transpose(p2), x.transpose(compose(p1, p2)))


def test_three_transposes_become_one():
    before = _chain([(0, 2, 3, 1), (0, 2, 1, 3), (1, 0, 2, 3)])
    after = run_passes(before, (fold_transposes,))
    assert body(after) == ["%s = Sigmoid(%x) : f32[2x3x4x5]",
                           "%t2 = Transpose(%s) {perm=(3, 0, 2, 1)} : f32[5x2x4x3]",
                           "%r = Relu(%t2) : f32[5x2x4x3]"]
    _same_outputs(before, after)


def test_cancelling_pair_disappears():
    before = _chain([(0, 2, 3, 1), (0, 3, 1, 2)])      # NCHW -> NHWC -> NCHW
    after = run_passes(before, (fold_transposes,))
    assert body(after) == ["%s = Sigmoid(%x) : f32[2x3x4x5]", "%r = Relu(%s) : f32[2x3x4x5]"]
    _same_outputs(before, after)


def test_identity_writing_a_graph_output_keeps_its_name():
    g = _chain([(0, 2, 3, 1), (0, 3, 1, 2)])
    g.outputs = ["t1"]
    after = run_passes(g, (fold_transposes,))
    assert body(after) == ["%s = Sigmoid(%x) : f32[2x3x4x5]",
                           "%t1 = Reshape(%s) {shape=(2, 3, 4, 5)} : f32[2x3x4x5]"]
    _same_outputs(g, after)


def test_inner_transpose_read_elsewhere_stays():
    before = _chain([(0, 2, 3, 1), (0, 2, 1, 3)], extra_use="t0")
    after = run_passes(before, (fold_transposes,))
    assert [n.kind for n in after.nodes] == ["Sigmoid", "Transpose", "Transpose", "Relu"]
    assert after.node("t1").inputs == ("s",) and after.node("t1").op.perm == (0, 3, 2, 1)
    _same_outputs(before, after)


def test_single_transpose_does_not_match():
    g = _chain([(0, 2, 3, 1)])
    assert fold_transposes(g) is g
    assert why_not_composable(g.node("t0"), g.producers()) == "its input comes from a Sigmoid, not a Transpose"
