"""fold_dense_bias: a float Dense with a +0.0 bias and the constant bias Add after it become one Dense
carrying that bias (--quant full builds, before calibration).

Before / After in the text form; the float outputs are equal bit for bit; the int8 graph has one
QDense and no QAdd, the same on ref and x86-vnni; --quant dynamic keeps the pair (its own fusions
need it); every non-foldable pattern comes back unchanged with its reason."""
import numpy as np
import pytest

from qcomp.builder import BuildOptions, float_graph, quantize_model
from qcomp.ir import DType, Graph, TensorType, format_graph, ops, verify
from qcomp.passes.fold_dense_bias import fold_dense_bias, why_not_foldable
from qcomp.passes.lower_integer import lower_integer
from qcomp.ref import run_float, run_integer

F = DType.FLOAT32
SHAPE, N = (1, 37, 96), 70       # a row tail of the GEMM tiles, a channel tail (70 = 4 * 16 + 6)


def _graph(*, b=None, bias=None, dense_clamp=False, add_clamp=False, d_output=False, two_readers=False,
           bias_first=True, add_name="h") -> Graph:
    """x -> Dense(w, b) -> Add(bias, d) (a constant [1, 1, N] bias, as torch exports it), seeded."""
    rng = np.random.default_rng(0)
    g = Graph(name="proj")
    g.add_input("x", TensorType(SHAPE, F))
    g.add_constant("w", (rng.standard_normal((N, SHAPE[-1])) * 0.15).astype(np.float32))
    g.add_constant("b", np.zeros(N, np.float32) if b is None else b)
    g.add_constant("bias", (rng.standard_normal((1, 1, N)) * 0.3).astype(np.float32) if bias is None else bias)
    g.add_node(ops.Dense(act_min=0.0) if dense_clamp else ops.Dense(), ["x", "w", "b"], "d")
    add = ops.Add(act_min=0.0) if add_clamp else ops.Add()
    g.add_node(add, ["bias", "d"] if bias_first else ["d", "bias"], add_name, outputs=["h"])
    g.outputs = ["h"]
    if two_readers:
        g.add_node(ops.Mul(), ["d", "d"], "sq")
        g.outputs.append("sq")
    if d_output:
        g.outputs.append("d")
    return verify(g)


def _feeds(seed=1):
    return {"x": np.random.default_rng(seed).standard_normal(SHAPE).astype(np.float32)}


@pytest.mark.parametrize("bias_first", [True, False])
@pytest.mark.parametrize("add_clamp", [False, True])
def test_bias_add_folds_and_float_results_are_unchanged(bias_first, add_clamp):
    unfused = _graph(bias_first=bias_first, add_clamp=add_clamp)
    folded = verify(fold_dense_bias(unfused))
    text = format_graph(folded, constants=False)
    act = "{act_min=0}" if add_clamp else "{}"
    assert f"%h = Dense(%x, %w, %bias/row) {act}".replace(" {}", "") in text, text
    assert "Add" not in text
    np.testing.assert_array_equal(folded.constants["bias/row"], unfused.constants["bias"].reshape(N))
    want = run_float(unfused, _feeds())["h"]
    np.testing.assert_array_equal(run_float(folded, _feeds())["h"].view(np.uint32), want.view(np.uint32))


NOT_FOLDED = {
    "nonzero_b": (dict(b=np.full(N, 0.25, np.float32)), "not a constant of +0.0"),
    "negative_zero_b": (dict(b=np.full(N, -0.0, np.float32)), "not a constant of +0.0"),
    "negative_zero_bias": (dict(bias=np.where(np.arange(N) % 7 == 0, -0.0, 0.5).astype(np.float32).reshape(1, 1, N)),
                           "holds -0.0"),
    "row_bias": (dict(bias=np.ones((1, SHAPE[1], 1), np.float32)), "not a constant f32 bias"),
    "dense_clamp": (dict(dense_clamp=True), "clamps its output"),
    "d_output": (dict(d_output=True), "graph output"),
    "two_readers": (dict(two_readers=True), "not by one Add alone"),
}


@pytest.mark.parametrize("case", sorted(NOT_FOLDED))
def test_not_folded(case):
    kwargs, reason = NOT_FOLDED[case]
    g = _graph(**kwargs)
    assert fold_dense_bias(g) is g
    dense = next(n for n in g.nodes if n.kind == "Dense")
    assert reason in why_not_foldable(g, dense, g.consumers())


def test_names_given_to_skip_or_precision_are_kept():
    """The fold removes the Add node ("h") and the Dense's output ("d"); the Add's output survives."""
    g = _graph()
    for name in ("d", "h"):
        assert fold_dense_bias(g, keep=frozenset({name})) is g
    assert "--skip or --precision" in why_not_foldable(g, g.nodes[0], g.consumers(), frozenset({"h"}))
    folded = fold_dense_bias(_graph(add_name="bias_add"), keep=frozenset({"h", "x"}))   # "h": the Add's output only
    assert [(n.name, n.kind, n.outputs) for n in folded.nodes] == [("d", "Dense", ("h",))]


@pytest.fixture(scope="module")
def calib(tmp_path_factory):
    path = tmp_path_factory.mktemp("calib") / "x.npz"
    rng = np.random.default_rng(2)
    np.savez(path, x=rng.standard_normal((4, *SHAPE[1:])).astype(np.float32))
    return str(path)


def test_static_build_has_one_requantize_and_dynamic_keeps_the_pair(calib):
    q, _ = quantize_model(_graph(), BuildOptions(calib=calib))
    assert [n.kind for n in q.nodes if n.kind not in ("Quantize", "Dequantize")] == ["Dense"]
    t = lower_integer(q)
    assert [n.kind for n in t.nodes if n.kind not in ("Quantize", "Dequantize")] == ["QDense"]
    assert "Add" in [n.kind for n in float_graph(_graph(), BuildOptions(quant="dynamic")).nodes]
    assert "Add" in [n.kind for n in float_graph(_graph(), BuildOptions(calib=calib, skip=("h",))).nodes]
    # a precision naming the folded graph's tensor (as --accuracy and qcomp report print it) applies to it
    q16, _ = quantize_model(_graph(add_name="bias_add"), BuildOptions(calib=calib, precision=("h=int16",)))
    kinds = [n.kind for n in q16.nodes]
    assert "Add" not in kinds and any(t.dtype.value == "i16" for t in q16.types.values()), kinds


def test_folded_graph_is_bit_exact_on_x86_vnni(calib):
    from tests.opcases.targets import host_skip, run_x86_vnni
    why = host_skip("x86-vnni")()
    if why:
        pytest.skip(why)
    q, _ = quantize_model(_graph(), BuildOptions(calib=calib))
    t = lower_integer(q)
    want = run_integer(t, _feeds(3))["h"]
    assert np.unique(want).size > 100
    np.testing.assert_array_equal(run_x86_vnni(t, _feeds(3))["h"], want)
