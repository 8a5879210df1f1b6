"""kernels_float_softmax.softmax_rows' schedule on x86-vnni (rows in pairs plus an odd last row, exps in
steps of 4 vectors, then single vectors, then a scalar tail; steps skipped when the mask removes every
lane), value for value:
- the Softmax node against test_softmax_float_exact's numpy emulation of its arithmetic;
- the fused DynamicAttention (whose P range comes from the rows' 1 / s, not from a pass over P) against
  the unfused nodes built for the same target."""
import numpy as np
import pytest

from qcomp.codegen.llvm import emit
from qcomp.ir import DType, Graph, Stage, TensorType, ops, verify
from tests.backends.llvm.test_float_vec import poly  # noqa: F401  (the exp library fixture)
from tests.backends.llvm.test_softmax_float_exact import VNNI, _vecmath_sum, pytestmark  # noqa: F401


# rows: one job of 22 pairs (each pair's division done behind the next pair's exps) and a last row
# alone, or a lone row; n: 2 steps of 4 vectors and 1 vector, or 1 step, 1 vector and a tail of 4
@pytest.mark.parametrize("rows, n", [(45, 144), (45, 84), (1, 84)])
def test_softmax_node_rows_equal_the_emulation(poly, tmp_path, rows, n):  # noqa: F811
    from qcomp.runtime.llvm import Runner
    rng = np.random.default_rng(20)
    x = (rng.standard_normal((rows, n)) * 3).astype(np.float32)
    x[5:9, 64:] -= 10000.0                                   # masked columns: a whole step of 4 vectors skipped
    x[9:10, 1:] -= 100.0                                     # a row of one 1 and zeros (exp below EXP_LO)
    g = Graph("softmax_rows", Stage.TARGET)
    g.add_input("x", TensorType((rows, n), DType.FLOAT32))
    g.add_node(ops.Softmax(1), ["x"], "y", outputs=["y"])
    g.outputs = ["y"]
    emit(verify(g), VNNI, tmp_path)
    got = Runner(tmp_path / "model.so", num_threads=1).run({"x": x})["y"]
    e = poly("exp_table", (x - x.max(-1, keepdims=True)).ravel()).reshape(rows, n)
    want = e / _vecmath_sum(e)[:, None]
    assert got.view(np.uint32).tolist() == want.view(np.uint32).tolist()


@pytest.mark.parametrize("sk", [144, 77])
def test_fused_attention_equals_the_unfused_nodes(monkeypatch, sk):
    from qcomp.passes.fuse_attention import fuse_attention
    from tests.opcases import targets
    from tests.passes import test_fuse_attention as cases
    for name, value in (("B", 1), ("SQ", 21), ("H", 2), ("D", 8), ("PADDED", 64)):
        monkeypatch.setattr(cases, name, value)
    unfused = cases._graph(sk=sk, dv=16)
    fused = fuse_attention(unfused)
    assert [n.kind for n in fused.nodes] == ["DynamicAttention"]
    feeds = cases._feeds(unfused)
    got, want = targets._run_x86_vnni(fused, feeds)["y"], targets._run_x86_vnni(unfused, feeds)["y"]
    assert np.unique(want).size > 100
    np.testing.assert_array_equal(got, want)
