"""The vectorized float kernels (qcomp/codegen/llvm/kernels_float_vec.py) and their polynomials
(vecmath.py): exp and erf swept over their ranges against float64 numpy, LayerNorm and the
elementwise ops equal to the float reference, Softmax and Erf within the stated ulps, on 1 and 2
threads (threaded results are the same values), vector bodies and scalar tails alike."""
import ctypes
import subprocess

import numpy as np
import pytest

from qcomp.codegen.llvm import check, emit, kernels_float_vec, vecmath, vecmath_exp
from qcomp.codegen.llvm.compile import compile_object
from qcomp.codegen.llvm.irgen import F32, I64, PTR, VOID, Module, c64, loop
from qcomp.ir import DType, Graph, Stage, TensorType, ops, verify
from qcomp.ref import run_integer
from qcomp.target import get_target, host_support

F = DType.FLOAT32
VNNI = get_target("x86-vnni")
pytestmark = pytest.mark.skipif(not host_support(VNNI).can_run, reason=f"target x86-vnni: {host_support(VNNI).why}")
LANES = 16


def ulps(got: np.ndarray, want64: np.ndarray) -> np.ndarray:
    """|got - want| in units of the last place of want rounded to float32."""
    want32 = want64.astype(np.float32)
    spacing = np.spacing(np.abs(want32)).astype(np.float64)
    return np.abs(got.astype(np.float64) - want64) / spacing


@pytest.fixture(scope="module")
def poly(tmp_path_factory):
    """A library of `void f(float *x, float *y, i64 n)` for f in the exps and erfs: vector steps of 16
    lanes, then the scalar tail, as the kernels run them."""
    out = tmp_path_factory.mktemp("vecmath")
    mod = Module("vecmath_test", VNNI.triple)
    for name, fn in (("exp", vecmath.exp), ("exp_fma", vecmath.exp_fma), ("erf", vecmath.erf),
                     ("erf_table", vecmath.erf_table), ("exp_table", vecmath_exp.exp_table)):
        f, b = mod.function(f"poly_{name}", VOID, [PTR, PTR, I64], internal=False)
        x, y, n = f.args
        full = b.sdiv(n, c64(LANES))
        vt = vecmath.vec(LANES)
        with loop(b, full, "v") as v:
            at = b.mul(v, c64(LANES))
            vecmath.vstore(b, fn(mod, b, vecmath.vload(b, x, at, vt)), y, at)
        with loop(b, b.sub(n, b.mul(full, c64(LANES))), "t") as t:
            at = b.add(t, b.mul(full, c64(LANES)))
            vecmath.vstore(b, fn(mod, b, vecmath.vload(b, x, at, F32)), y, at)
        b.ret_void()
    (out / "m.ll").write_text(str(mod.m))
    compile_object(out / "m.ll", out / "m.o", VNNI)
    subprocess.run(["gcc", "-shared", "-o", out / "m.so", out / "m.o"], check=True)
    lib = ctypes.CDLL(str(out / "m.so"))

    def run(name, x):
        x = np.ascontiguousarray(x, np.float32)
        y = np.empty_like(x)
        fn = getattr(lib, f"poly_{name}")
        fn.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64]
        fn(x.ctypes.data, y.ctypes.data, x.size)
        return y
    return run


@pytest.mark.parametrize("name", ["exp", "exp_fma", "exp_table"])
def test_exp_polynomial_within_1_ulp_over_its_range(poly, name):
    """exp (no fused multiply-add), exp_fma (aarch64's Softmax) and exp_table (x86-vnni's): below 1 ulp
    over the whole range, 0 below EXP_LO, exp(0) = 1 exactly; exp_fma and exp_table also over the
    Softmax's x - max in [-20, 0] densely."""
    x = np.concatenate([np.linspace(-87.33, 88.02, 2_000_003, dtype=np.float32),
                        np.float32([0, -0.0, 1e-30, -1e-7, 0.5, -0.5, np.log(2), -88.0, -1e4, -np.inf])])
    if name != "exp":
        x = np.concatenate([x, np.linspace(-20, 0, 1_000_001, dtype=np.float32)])
    got = poly(name, x)
    normal = x >= vecmath.EXP_LO
    err = ulps(got[normal], np.exp(x[normal].astype(np.float64)))
    assert err.max() < 1.0, (err.max(), x[normal][err.argmax()])
    assert (got[~normal] == 0).all() and got[x == 0][0] == 1.0


def test_erf_polynomial_within_2_ulp_over_its_range(poly):
    from math import erf
    x = np.concatenate([np.linspace(-5, 5, 1_000_001, dtype=np.float32),
                        np.float32([0, -0.0, 1e-30, -1e-20, 1e-6, 3.9, 4.0, 4.5, 1e6, -np.inf, np.inf])])
    want = np.array([erf(v) for v in x.astype(np.float64)])
    got = poly("erf", x)
    err = ulps(got, want)
    assert err.max() <= 2.0, (err.max(), x[err.argmax()])
    assert np.abs(got - want).max() <= 1e-7 and got[x == 0][0] == 0 and got[-1] == 1.0 and got[-2] == -1.0


def test_erf_table_within_1_1_ulp_over_its_range(poly):
    """The float32 piecewise erf (erf_table.py) of the x86 16-lane kernels: within 1.07 ulp
    (measured), 0 and -0, tiny arguments to full relative precision, +-1 at and beyond 4, NaN."""
    from math import erf
    x = np.concatenate([np.linspace(-5, 5, 1_000_001, dtype=np.float32),
                        np.float32(np.geomspace(1e-30, 0.25, 10_001)),
                        np.float32([0, -0.0, 1e-30, -1e-20, 1e-6, 0.25, 3.75, 3.9, 4.0, 4.5, 1e6, -np.inf, np.inf])])
    want = np.array([erf(v) for v in x.astype(np.float64)])
    got = poly("erf_table", x)
    err = ulps(got, want)
    assert err.max() <= 1.1, (err.max(), x[err.argmax()])
    assert np.abs(got - want).max() <= 5e-8 and got[-1] == 1.0 and got[-2] == -1.0
    assert np.signbit(got[x == 0]).tolist() == np.signbit(x[x == 0]).tolist() and (got[x == 0] == 0).all()
    assert np.isnan(poly("erf_table", np.float32([np.nan] * 17))).all()
    v = np.random.default_rng(3).uniform(-4.5, 4.5, 16).astype(np.float32)
    both = poly("erf_table", np.concatenate([v, v[:15]]))      # 16 vector lanes, then 15 scalar tails
    assert both[16:].view(np.uint32).tolist() == both[:15].view(np.uint32).tolist()


def _divide_lib(tmp_path, lanes: int, t):
    """`void div(t *a, t *d, t *y, i64 n)`: per i, one `lanes`-lane vector of vecmath.divide_by (r = 1 / d
    by a division), then one scalar: y = a / d over n * (lanes + 1) elements."""
    mod = Module(f"divide_by_{lanes}", VNNI.triple)
    f, b = mod.function("div", VOID, [PTR, PTR, PTR, I64], internal=False)
    a, d, y, n = f.args
    vt = vecmath.vec(lanes, t)
    with loop(b, n, "i") as i:
        at = b.mul(i, c64(lanes + 1))
        for width, where in ((vt, at), (t, b.add(at, c64(lanes)))):
            dw = vecmath.vload(b, d, where, width)
            r = b.fdiv(vecmath.const(width, 1.0), dw)
            vecmath.vstore(b, vecmath.divide_by(mod, b, vecmath.vload(b, a, where, width), dw, r), y, where)
    b.ret_void()
    (tmp_path / "m.ll").write_text(str(mod.m))
    compile_object(tmp_path / "m.ll", tmp_path / "m.o", VNNI)
    subprocess.run(["gcc", "-shared", "-o", tmp_path / "m.so", tmp_path / "m.o"], check=True)
    fn = ctypes.CDLL(str(tmp_path / "m.so")).div
    fn.argtypes = [ctypes.c_void_p] * 3 + [ctypes.c_int64]
    return fn


def test_divide_by_is_the_correctly_rounded_quotient(tmp_path):
    """vecmath.divide_by (LayerNorm's division by its row's sqrt(var + eps)): the float64 quotient
    a / d bit for bit, on 8-lane vectors and scalar tails, over wide magnitudes and mantissas near 1
    and 2 (where a faithful first quotient is tightest)."""
    from qcomp.codegen.llvm.irgen import F64
    fn = _divide_lib(tmp_path, 8, F64)
    rng = np.random.default_rng(5)
    m = 9 * 60_000
    av = rng.standard_normal(m) * np.exp2(rng.integers(-60, 60, m))
    dv = np.abs(rng.standard_normal(m)) * np.exp2(rng.integers(-60, 60, m)) + 1e-300
    near = 1.0 + rng.integers(0, 2 ** 20, m // 3) * 2.0 ** -52     # mantissas just above 1 ...
    av[: m // 3], dv[m // 3: 2 * (m // 3)] = near, 2.0 - near + 1.0 - 2.0 ** -52   # ... and just below 2
    out = np.empty(m)
    fn(av.ctypes.data, dv.ctypes.data, out.ctypes.data, m // 9)
    assert out.view(np.uint64).tolist() == (av / dv).view(np.uint64).tolist()


def test_divide_by_float32_is_the_correctly_rounded_quotient(tmp_path):
    """vecmath.divide_by on float32 lanes (16 and a scalar): the float32 quotient a / d bit for bit
    where its docstring's condition holds (|a|, |d| and the quotient within [2^-100, 2^100]), also for
    mantissas near 1 and 2 and for a = +0.0."""
    fn = _divide_lib(tmp_path, 16, F32)
    rng = np.random.default_rng(6)
    m = 17 * 60_000
    av = (rng.standard_normal(m) * np.exp2(rng.integers(-45, 45, m))).astype(np.float32)
    dv = (np.abs(rng.standard_normal(m)) * np.exp2(rng.integers(-45, 45, m)) + 1e-30).astype(np.float32)
    near = (1.0 + rng.integers(0, 2 ** 12, m // 3) * 2.0 ** -23).astype(np.float32)
    av[: m // 3], dv[m // 3: 2 * (m // 3)] = near, (3.0 - near - 2.0 ** -23).astype(np.float32)
    av[::101] = 0.0
    keep = (np.abs(av / dv) >= 2.0 ** -100) | (av == 0)
    out = np.empty(m, np.float32)
    fn(av.ctypes.data, dv.ctypes.data, out.ctypes.data, m // 17)
    assert keep.mean() > 0.99
    assert out[keep].view(np.uint32).tolist() == (av / dv)[keep].view(np.uint32).tolist()


# (rows, row length): many rows (several jobs), and a row length with a scalar tail (200 = 12*16 + 8)
SHAPES = [(1, 128, 384), (2, 37, 200), (3, 5)]
ATTENTION = (1, 4, 128, 128)


@pytest.fixture(scope="module")
def unary(tmp_path_factory):
    """One artifact of LayerNorm and Softmax nodes on each of SHAPES, a Softmax on attention scores
    with a masked tail, a Softmax along a middle axis (the scalar fallback) and an Erf: (outputs on
    1 thread, which 2 threads must reproduce exactly; the reference's outputs; the feeds)."""
    from qcomp.runtime.llvm import Runner
    rng = np.random.default_rng(0)
    g = Graph("float_vec_unary", Stage.TARGET)
    feeds = {}

    def add_input(name, shape, scale, shift=0.0):
        g.add_input(name, TensorType(shape, F))
        feeds[name] = (rng.standard_normal(shape) * scale + shift).astype(np.float32)
    for i, shape in enumerate(SHAPES):
        add_input(f"x{i}", shape, 3.0, 1.0)
        params = [g.add_constant(f"{p}{i}", rng.standard_normal(shape[-1]).astype(np.float32)) for p in "sb"]
        g.add_node(ops.LayerNorm(len(shape) - 1, 1e-5), [f"x{i}", *params], f"ln{i}", outputs=[f"ln{i}"])
        g.add_node(ops.Softmax(len(shape) - 1), [f"x{i}"], f"sm{i}", outputs=[f"sm{i}"])
    add_input("scores", ATTENTION, 4.0)
    feeds["scores"][..., 100:] -= 10000.0     # an additive attention mask: exp underflows to 0
    g.add_node(ops.Softmax(3), ["scores"], "attention", outputs=["attention"])
    add_input("middle", (4, 33, 5), 3.0)
    g.add_node(ops.Softmax(1), ["middle"], "sm_middle", outputs=["sm_middle"])
    add_input("gelu_in", (1, 128, 1536), 2.0)
    g.add_node(ops.Erf(), ["gelu_in"], "erf", outputs=["erf"])
    g.outputs = [n.outputs[0] for n in g.nodes]
    verify(g)
    assert check(g, VNNI) == []
    out = tmp_path_factory.mktemp("float_vec_unary")
    emit(g, VNNI, out)
    assert "<16 x float>" in (out / "model.ll").read_text()   # zmm
    one = Runner(out / "model.so", num_threads=1).run(feeds)
    two = Runner(out / "model.so", num_threads=2).run(feeds)
    for name in g.outputs:
        np.testing.assert_array_equal(one[name], two[name], err_msg=f"{name}: 1 vs 2 threads")
    return one, run_integer(g, feeds), feeds


@pytest.mark.parametrize("i", range(len(SHAPES)), ids=[str(s) for s in SHAPES])
def test_layer_norm_equals_reference(unary, i):
    got, want, _ = unary
    assert np.unique(want[f"ln{i}"]).size > 10
    np.testing.assert_array_equal(got[f"ln{i}"], want[f"ln{i}"])


@pytest.mark.parametrize("name,x", [(f"sm{i}", f"x{i}") for i in range(len(SHAPES))] + [("attention", "scores")])
def test_softmax_last_axis_within_ulps(unary, name, x):
    got, want, feeds = unary
    x = feeds[x]
    want64 = np.exp(x - x.max(-1, keepdims=True).astype(np.float64))
    want64 /= want64.sum(-1, keepdims=True)
    assert np.abs(got[name] - want[name]).max() <= 4 * np.spacing(np.float32(1))
    np.testing.assert_allclose(got[name], want64, rtol=2e-6, atol=1e-30)
    np.testing.assert_allclose(got[name].sum(-1), 1.0, rtol=3e-6)


def test_softmax_other_axis_falls_back(unary):
    got, want, _ = unary
    np.testing.assert_array_max_ulp(got["sm_middle"], want["sm_middle"], maxulp=4)


def test_erf_node_within_2_ulp(unary):
    got, want, _ = unary
    assert np.abs(got["erf"] - want["erf"]).max() <= 2 * np.spacing(np.float32(0.75))   # 2 ulp below 1
    np.testing.assert_array_max_ulp(got["erf"], want["erf"], maxulp=2)


BROADCASTS = [("same", (2, 37, 200)), ("bias", (200,)), ("block", (1, 37, 200)), ("scalar", (1,)),
              ("general", (2, 1, 200)), ("column", (2, 37, 1))]
BINARY = [ops.Add(), ops.Sub(), ops.Mul(), ops.Div(), ops.Add(act_min=0.0, act_max=6.0)]


def test_binary_ops_equal_reference(tmp_path, rng):
    """Every op with every broadcast, the other operand first and second, in one artifact."""
    from qcomp.runtime.llvm import Runner
    shape = (2, 37, 200)
    g = Graph("float_vec_binary", Stage.TARGET)
    g.add_input("x", TensorType(shape, F))
    feeds = {"x": (rng.standard_normal(shape) * 3).astype(np.float32)}
    for kind, other in BROADCASTS:
        g.add_input(kind, TensorType(other, F))
        feeds[kind] = (rng.standard_normal(other) + 3).astype(np.float32)
        for n, op in enumerate(BINARY):
            g.add_node(op, ["x", kind], f"{kind}_{n}_a", outputs=[f"{kind}_{n}_a"])
            g.add_node(op, [kind, "x"], f"{kind}_{n}_b", outputs=[f"{kind}_{n}_b"])
            g.outputs += [f"{kind}_{n}_a", f"{kind}_{n}_b"]
    verify(g)
    assert check(g, VNNI) == []
    emit(g, VNNI, tmp_path)
    want = run_integer(g, feeds)
    for threads in (1, 2):
        got = Runner(tmp_path / "model.so", num_threads=threads).run(feeds)
        for name in g.outputs:
            assert np.unique(want[name]).size > 100
            np.testing.assert_array_equal(got[name], want[name], err_msg=f"{name}, {threads} threads")


def test_elementwise_plan_kinds():
    plan = kernels_float_vec.elementwise_plan
    assert plan([(1, 12, 128, 128), (1, 1, 1, 128)], (1, 12, 128, 128)) == ([("full", 0), ("block", 128)], 128)
    assert plan([(1, 128, 384), (384,)], (1, 128, 384)) == ([("full", 0), ("block", 384)], 384)
    assert plan([(1, 128, 384), ()], (1, 128, 384)) == ([("full", 0), ("scalar", 0)], 384)
    assert plan([(3, 5), (1,)], (3, 5)) == ([("full", 0), ("scalar", 0)], 15)
    assert plan([(2, 37, 200), (2, 1, 200)], (2, 37, 200)) is None
    assert plan([(2, 4, 8), (8,), (4, 8)], (2, 4, 8)) is None   # two blocks of different lengths


def _narrow_graph(rng) -> tuple[Graph, dict]:
    """LayerNorm, Softmax, Erf and a bias Add on rows of 37 elements: 9 vector steps and a tail
    of 1 at 4 lanes, 4 steps and a tail of 5 at 8 lanes."""
    shape = (2, 9, 37)
    g = Graph("float_vec_narrow", Stage.TARGET)
    g.add_input("x", TensorType(shape, F))
    scale, bias = (rng.standard_normal(37).astype(np.float32) for _ in range(2))
    names = [g.add_constant(n, c) for n, c in (("scale", scale), ("bias", bias))]
    g.add_node(ops.LayerNorm(2, 1e-5), ["x", *names], "ln", outputs=["ln"])
    g.add_node(ops.Softmax(2), ["x"], "sm", outputs=["sm"])
    g.add_node(ops.Erf(), ["x"], "erf", outputs=["erf"])
    g.add_node(ops.Add(), ["x", names[1]], "add", outputs=["add"])
    g.outputs = ["ln", "sm", "erf", "add"]
    return verify(g), {"x": (rng.standard_normal(shape) * 2).astype(np.float32)}


def _check_narrow(got, want):
    np.testing.assert_array_equal(got["ln"], want["ln"])
    np.testing.assert_array_equal(got["add"], want["add"])
    np.testing.assert_array_max_ulp(got["erf"], want["erf"], maxulp=2)
    np.testing.assert_allclose(got["sm"], want["sm"], rtol=2e-6, atol=1e-30)


ARM, AVX2 = get_target("arm-sdot"), get_target("x86-avx2")


@pytest.mark.skipif(not host_support(ARM).can_run, reason=f"target arm-sdot: {host_support(ARM).why}")
def test_four_lane_neon_kernels_match_reference(tmp_path, rng):
    """arm-sdot: 4 float32 lanes, under QEMU."""
    from qcomp.runtime.llvm_cross import CrossRunner
    g, feeds = _narrow_graph(rng)
    emit(g, ARM, tmp_path)
    assert "<4 x float>" in (tmp_path / "model.ll").read_text()
    _check_narrow(CrossRunner(tmp_path / "runner", ARM, g.inputs, g.outputs).run(feeds), run_integer(g, feeds))


@pytest.mark.skipif(not host_support(AVX2).can_run, reason=f"target x86-avx2: {host_support(AVX2).why}")
def test_eight_lane_avx2_kernels_match_reference(tmp_path, rng):
    """x86-avx2: 8 float32 lanes (ymm)."""
    from qcomp.runtime.llvm import Runner
    g, feeds = _narrow_graph(rng)
    emit(g, AVX2, tmp_path)
    assert "<8 x float>" in (tmp_path / "model.ll").read_text()
    _check_narrow(Runner(tmp_path / "model.so").run(feeds), run_integer(g, feeds))
