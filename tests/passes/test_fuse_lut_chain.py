"""fuse_lut_chain: Lut(Lut(x, t1), t2) becomes Lut(x, t2[t1 + 128]) (llvm builds only).

Fusable: a chain of three Luts becomes one; the fused graph's integers equal the unfused graph's on
ref (exhaustively: every int8 input value) and on x86-vnni. Not fusable, with the reason: an
intermediate with a second reader, an intermediate that is a graph output, a Lut reading a non-Lut."""
import numpy as np
import pytest

from qcomp.ir import QuantParams, qops
from qcomp.passes.fuse_lut_chain import compose, fuse_lut_chain, why_not_fusable
from qcomp.ref import run_integer
from tests.opcases.graphs import Builder

from tests.backends.llvm.vector_checks import runs_on


def _chain(*, second_reader=False, middle_output=False):
    """x (every int8 value) -> Lut a -> Lut b -> Lut c -> y, random seeded tables."""
    rng = np.random.default_rng(1921)
    b = Builder("luts", rng)
    x = b.input("x", (2, 256), 0)
    b.feeds[x][:] = np.arange(-128, 128, dtype=np.int8)
    v = x
    for name in "abc":
        t = b.const(f"t_{name}", rng.integers(-128, 128, 256).astype(np.int8), QuantParams(0.05, 0))
        v = b.node(qops.Lut(), [v, t], name, 0)
    outputs = [v]
    if second_reader:
        outputs.append(b.node(qops.Lut(), ["a", b.const("t_side", rng.integers(-128, 128, 256).astype(np.int8),
                                                                     QuantParams(0.05, 0))],
                              "side", 0))
    if middle_output:
        outputs.append("b")
    return b.done(*outputs)


def test_a_chain_of_three_becomes_one_lut_with_the_same_integers():
    g, feeds = _chain()
    fused = fuse_lut_chain(g)
    assert [n.name for n in fused.nodes] == ["c"] and fused.nodes[0].inputs[0] == "x"
    np.testing.assert_array_equal(run_integer(fused, feeds)["c"], run_integer(g, feeds)["c"])


def test_compose_is_the_pair_applied_in_turn():
    rng = np.random.default_rng(3)
    t1, t2 = (rng.integers(-128, 128, 256).astype(np.int8) for _ in range(2))
    x = np.arange(-128, 128)
    np.testing.assert_array_equal(compose(t1, t2)[x + 128], t2[t1[x + 128].astype(np.int64) + 128])


@pytest.mark.parametrize("kw,node,reason,kept", [
    ({"second_reader": True}, "b", "'a' has 2 readers", ["a", "c", "side"]),     # b, c fuse: c reads a
    ({"middle_output": True}, "c", "'b' has 1 readers and is a graph output", ["b", "c"]),   # a, b fuse
])
def test_what_does_not_fuse(kw, node, reason, kept):
    g, feeds = _chain(**kw)
    n = next(n for n in g.nodes if n.name == node)
    assert why_not_fusable(g, n, g.producers(), g.consumers()) == reason
    fused = fuse_lut_chain(g)
    assert [n.name for n in fused.nodes] == kept
    want = run_integer(g, feeds)
    got = run_integer(fused, feeds)
    for name in g.outputs:
        np.testing.assert_array_equal(got[name], want[name])


def test_a_lut_reading_an_input_does_not_fuse():
    g, _ = _chain()
    first = g.nodes[0]
    assert why_not_fusable(g, first, g.producers(), g.consumers()) == "operand 'x' is not a Lut output"


@runs_on("x86-vnni")
def test_x86_vnni_runs_the_fused_graph(tmp_path):
    from qcomp.codegen.llvm import emit
    from qcomp.runtime.llvm import Runner
    from qcomp.target import get_target
    g, feeds = _chain(second_reader=True)
    fused = fuse_lut_chain(g)
    assert len(fused.nodes) == 3
    emit(fused, get_target("x86-vnni"), tmp_path)
    got = Runner(tmp_path / "model.so", num_threads=1).run(dict(feeds))
    want = run_integer(g, feeds)
    for name in g.outputs:
        np.testing.assert_array_equal(got[name], want[name])
