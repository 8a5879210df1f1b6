"""fold_matmul_scale: attention's scores scale (Mul or Div by a scalar after Q K^T) folds into the Q
projection's weights; the int8 graph then has no Lut after the QMatMul, the same on ref and x86-vnni;
every non-match comes back unchanged with its reason."""
import math

import numpy as np
import pytest

from qcomp.builder import BuildOptions, float_graph, quantize_model
from qcomp.ir import DType, Graph, TensorType, format_graph, ops, verify
from qcomp.passes.fold_matmul_scale import fold_matmul_scale, why_not_foldable
from qcomp.passes.lower_integer import lower_integer
from qcomp.ref import run_float, run_integer

F = DType.FLOAT32
S, H, D = 24, 3, 16


def _graph(*, div=False, scale_first=False, q_output=False, k_output=False):
    """x -> Dense q, Dense k -> heads (Reshape, Transpose) -> q k^T * scale -> Softmax (seeded)."""
    rng = np.random.default_rng(0)
    g = Graph(name="scores")
    g.add_input("x", TensorType((1, S, H * D), F))
    for name in ("q", "k"):
        w = g.add_constant(f"w{name}", (rng.standard_normal((H * D, H * D)) * 0.2).astype(np.float32))
        b = g.add_constant(f"b{name}", (rng.standard_normal(H * D) * 0.1).astype(np.float32))
        g.add_node(ops.Dense(), ["x", w, b], name)
        g.add_node(ops.Reshape((1, S, H, D)), [name], f"{name}_heads")
    g.add_node(ops.Transpose((0, 2, 1, 3)), ["q_heads"], "qt")
    g.add_node(ops.Transpose((0, 2, 3, 1)), ["k_heads"], "kt")
    c = g.add_constant("c", np.array(math.sqrt(D) if div else 1 / math.sqrt(D), np.float32))
    g.add_node(ops.MatMul(), ["qt", "kt"], "mm")
    if div:
        g.add_node(ops.Div(), ["mm", c], "scale")
    else:
        g.add_node(ops.Mul(), [c, "mm"] if scale_first else ["mm", c], "scale")
    g.add_node(ops.Softmax(axis=3), ["scale"], "p")
    g.outputs = ["p"] + (["q"] if q_output else []) + (["k"] if k_output else [])
    return verify(g)


def _feeds(seed=1):
    return {"x": np.random.default_rng(seed).standard_normal((1, S, H * D)).astype(np.float32)}


@pytest.mark.parametrize("kw, dense", [({}, "q"), ({"div": True}, "q"), ({"scale_first": True}, "q"),
                                       ({"q_output": True}, "k")])
def test_scale_folds_into_a_projection(kw, dense):
    g = _graph(**kw)
    folded = verify(fold_matmul_scale(g))
    text = format_graph(folded, constants=False)
    assert "%scale = MatMul(%qt, %kt)" in text and "= Mul(" not in text and "= Div(" not in text, text
    assert f"%{dense} = Dense(%x, %w{dense}/scaled, %b{dense}/scaled)" in text, text
    np.testing.assert_allclose(folded.constants[f"w{dense}/scaled"], g.constants[f"w{dense}"] / math.sqrt(D), rtol=1e-6)
    np.testing.assert_allclose(run_float(folded, _feeds())["p"], run_float(g, _feeds())["p"], rtol=1e-5, atol=1e-6)


def test_not_folded():
    g = _graph(q_output=True, k_output=True)          # neither projection is read by its chain alone
    assert fold_matmul_scale(g) is g
    mul = next(n for n in g.nodes if n.name == "scale")
    reason = why_not_foldable(g, mul, g.producers(), g.consumers())
    assert reason.startswith("neither MatMul operand comes from a Dense") and "graph output" in reason
    for name in ("scale", "mm"):       # --skip / --precision naming the Mul node or the MatMul's output
        g = _graph()
        assert fold_matmul_scale(g, keep=frozenset({name})) is g
    folded = fold_matmul_scale(_graph(), keep=frozenset({"q", "qt"}))   # names that survive the fold
    assert [n.kind for n in folded.nodes if n.kind in ("Mul", "MatMul")] == ["MatMul"]


@pytest.fixture(scope="module")
def calib(tmp_path_factory):
    path = tmp_path_factory.mktemp("calib") / "x.npz"
    np.savez(path, x=np.random.default_rng(2).standard_normal((4, S, H * D)).astype(np.float32))
    return str(path)


def test_static_build_has_no_lut_and_is_bit_exact_on_x86_vnni(calib):
    q, _ = quantize_model(_graph(), BuildOptions(calib=calib))
    kinds = [n.kind for n in q.nodes]
    assert "Lut" not in kinds and kinds.count("MatMul") == 1, kinds
    assert "Mul" in [n.kind for n in float_graph(_graph(), BuildOptions(quant="dynamic")).nodes]
    t = lower_integer(q)
    from tests.opcases.targets import host_skip, run_x86_vnni
    why = host_skip("x86-vnni")()
    if why:
        pytest.skip(why)
    want = run_integer(t, _feeds(3))["p"]
    assert np.unique(want).size > 50
    np.testing.assert_array_equal(run_x86_vnni(t, _feeds(3))["p"], want)
