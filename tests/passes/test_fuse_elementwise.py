"""fuse_elementwise: exported activation subgraphs (GELU in several arrangements and both forms,
HardSwish and Sigmoid as their pre-opset-14 chains) become one node, found by evaluating the subgraph;
a subgraph that computes something else, or whose inner values are read elsewhere, stays. Quantized,
the op is one Lut, the same on ref and x86-vnni."""
import math

import numpy as np
import pytest

from qcomp.builder import BuildOptions, float_graph, quantize_model
from qcomp.ir import DType, Graph, TensorType, format_graph, ops, verify
from qcomp.passes.fuse_elementwise import fuse_elementwise
from qcomp.passes.lower_integer import lower_integer
from qcomp.ref import run_float, run_integer

F = DType.FLOAT32
SHAPE = (1, 9, 40)


def _c(g: Graph, v: float) -> str:
    return g.add_constant("c", np.array(v, np.float32))


def _erf_torch(g, x):          # x * 0.5 * ... as torch's exporter writes nn.GELU(): Div, Erf, Add, Mul, Mul
    a = g.add_node(ops.Div(), [x, _c(g, math.sqrt(2))], "div").outputs[0]
    b = g.add_node(ops.Erf(), [a], "erf").outputs[0]
    c = g.add_node(ops.Add(), [b, _c(g, 1.0)], "add").outputs[0]
    d = g.add_node(ops.Mul(), [x, c], "mul").outputs[0]
    return g.add_node(ops.Mul(), [d, _c(g, 0.5)], "mul_1").outputs[0]


def _erf_half_first(g, x):     # 0.5 * x first, then times (1 + erf(x * 0.70710677))
    h = g.add_node(ops.Mul(), [_c(g, 0.5), x], "half").outputs[0]
    a = g.add_node(ops.Mul(), [x, _c(g, 1 / math.sqrt(2))], "scale").outputs[0]
    b = g.add_node(ops.Erf(), [a], "erf").outputs[0]
    c = g.add_node(ops.Add(), [_c(g, 1.0), b], "add").outputs[0]
    return g.add_node(ops.Mul(), [h, c], "gelu").outputs[0]


def _tanh_pow(g, x):           # 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
    p = g.add_node(ops.Pow(), [x, _c(g, 3.0)], "pow").outputs[0]
    q = g.add_node(ops.Mul(), [p, _c(g, 0.044715)], "cube").outputs[0]
    r = g.add_node(ops.Add(), [x, q], "inner").outputs[0]
    s = g.add_node(ops.Mul(), [r, _c(g, math.sqrt(2 / math.pi))], "scale").outputs[0]
    t = g.add_node(ops.Tanh(), [s], "tanh").outputs[0]
    u = g.add_node(ops.Add(), [t, _c(g, 1.0)], "one").outputs[0]
    v = g.add_node(ops.Mul(), [x, u], "mul").outputs[0]
    return g.add_node(ops.Mul(), [v, _c(g, 0.5)], "half").outputs[0]


def _hardswish(g, x):        # x * clip(x + 3, 0, 6) / 6
    a = g.add_node(ops.Add(), [x, _c(g, 3.0)], "plus3").outputs[0]
    c = g.add_node(ops.Clip(0.0, 6.0), [a], "relu6").outputs[0]
    m = g.add_node(ops.Mul(), [x, c], "mul").outputs[0]
    return g.add_node(ops.Div(), [m, _c(g, 6.0)], "hswish").outputs[0]


def _sigmoid(g, x):          # 1 / (1 + exp(-x))
    n = g.add_node(ops.Mul(), [x, _c(g, -1.0)], "neg").outputs[0]
    e = g.add_node(ops.Exp(), [n], "exp").outputs[0]
    a = g.add_node(ops.Add(), [_c(g, 1.0), e], "add").outputs[0]
    return g.add_node(ops.Div(), [_c(g, 1.0), a], "sigmoid").outputs[0]


def _not_gelu(g, x):           # x * (1 + erf(x / sqrt 2)): twice GELU, not GELU
    a = g.add_node(ops.Div(), [x, _c(g, math.sqrt(2))], "div").outputs[0]
    b = g.add_node(ops.Erf(), [a], "erf").outputs[0]
    c = g.add_node(ops.Add(), [b, _c(g, 1.0)], "add").outputs[0]
    return g.add_node(ops.Mul(), [x, c], "mul").outputs[0]


def _graph(body, *, leak=False) -> Graph:
    """x -> Dense -> GELU subgraph -> Dense (seeded); leak: the Erf's output is a graph output too."""
    rng = np.random.default_rng(0)
    g = Graph(name="mlp")
    g.add_input("x", TensorType(SHAPE, F))
    w1 = g.add_constant("w1", (rng.standard_normal((48, SHAPE[-1])) * 0.4).astype(np.float32))
    w2 = g.add_constant("w2", (rng.standard_normal((16, 48)) * 0.2).astype(np.float32))
    h = g.add_node(ops.Dense(), ["x", w1, g.add_constant("b1", rng.standard_normal(48).astype(np.float32))], "fc1")
    y = body(g, h.outputs[0])
    g.add_node(ops.Dense(), [y, w2, g.add_constant("b2", np.zeros(16, np.float32))], "fc2", outputs=["y"])
    g.outputs = ["y"] + (["erf"] if leak else [])
    return verify(g)


def _feeds(seed=1):
    return {"x": (np.random.default_rng(seed).standard_normal(SHAPE) * 2).astype(np.float32)}


@pytest.mark.parametrize("body, op, last", [(_erf_torch, "Gelu(%fc1) {approximate='none'}", "mul_1"),
                                            (_erf_half_first, "Gelu(%fc1) {approximate='none'}", "gelu"),
                                            (_tanh_pow, "Gelu(%fc1) {approximate='tanh'}", "half"),
                                            (_hardswish, "HardSwish(%fc1)", "hswish"),
                                            (_sigmoid, "Sigmoid(%fc1)", "sigmoid")])
def test_subgraph_becomes_one_op(body, op, last):
    g = _graph(body)
    fused = verify(fuse_elementwise(g))
    text = format_graph(fused, constants=False)
    assert f"%{last} = {op} :" in text, text
    assert [n.kind for n in fused.nodes] == ["Dense", op.split("(")[0], "Dense"]
    got, want = run_float(fused, _feeds())["y"], run_float(g, _feeds())["y"]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)     # float32 rounding only


@pytest.mark.parametrize("body, leak, keep", [(_not_gelu, False, ()), (_erf_torch, True, ()),
                                              (_erf_torch, False, ("erf",)), (_erf_torch, False, ("mul",))])
def test_not_fused(body, leak, keep):
    g = _graph(body, leak=leak)
    assert fuse_elementwise(g, keep=frozenset(keep)) is g


def test_names_that_survive_may_be_kept():
    """The fused op takes the last node's name and output: --skip / --precision may name them."""
    fused = fuse_elementwise(_graph(_erf_torch), keep=frozenset({"mul_1", "fc1"}))
    assert [(n.name, n.kind) for n in fused.nodes] == [("fc1", "Dense"), ("mul_1", "Gelu"), ("fc2", "Dense")]


@pytest.fixture(scope="module")
def calib(tmp_path_factory):
    path = tmp_path_factory.mktemp("calib") / "x.npz"
    np.savez(path, x=(np.random.default_rng(2).standard_normal((4, *SHAPE[1:])) * 2).astype(np.float32))
    return str(path)


def test_static_build_makes_one_lut_and_dynamic_keeps_the_chain(calib):
    q, _ = quantize_model(_graph(_erf_torch), BuildOptions(calib=calib))
    kinds = [n.kind for n in q.nodes]
    assert kinds.count("Lut") == 1 and "Mul" not in kinds, kinds
    assert "Erf" in [n.kind for n in float_graph(_graph(_erf_torch), BuildOptions(quant="dynamic")).nodes]
    t = lower_integer(q)
    from tests.opcases.targets import host_skip, run_x86_vnni
    why = host_skip("x86-vnni")()
    if why:
        pytest.skip(why)
    want = run_integer(t, _feeds(3))["y"]
    assert np.unique(want).size > 50
    np.testing.assert_array_equal(run_x86_vnni(t, _feeds(3))["y"], want)
