"""The per-run quantize's AVX-512 form (kernels_dynamic_fastq.py) against the integer reference, in
every scale regime its guard separates: inside it (ordinary values, exact ties x / s = j + 1/2, the
guard's bounds s = 2^-58 and 2^39 with elements far below 2^-60, subnormals and -0.0), and outside it
(the division form: s below 2^-58, subnormal, above 2^39, and 0). One graph compiled once for x86-vnni:
DynamicDense (rows of K = 100: one 64-float group, then two vectors and a 4-lane tail), DynamicDenseRows
(a regime per row) and DynamicMatMul (A's rows packed with their row sums, zb != 0; B quantized by
quantize_range), run with 1 and 2 threads; every output identical to run_integer."""
import numpy as np
import pytest

from qcomp.codegen.llvm import emit
from qcomp.ir import DType, Graph, QuantParams, Stage, TensorType, qops, verify
from qcomp.ir.qops_rows import DynamicDenseRows
from qcomp.ref import run_integer
from qcomp.target import get_target, host_support

VNNI = get_target("x86-vnni")
runs_here = pytest.mark.skipif(not host_support(VNNI).can_run,
                               reason=f"target x86-vnni: {host_support(VNNI).why}")
F = DType.FLOAT32
REGIMES = ("normal", "ties", "guard_low", "guard_high", "below_guard", "subnormal_scale", "above_guard", "zeros")


def regime(name: str, n: int, rng) -> np.ndarray:
    """n float32 values whose dynamic scale is the regime's (lo = -100 s, hi = 155 s pinned: s exact)."""
    if name == "zeros":
        return np.zeros(n, np.float32)
    factors = {"normal": 2.0, "below_guard": 1e-20, "subnormal_scale": 1e-37, "above_guard": 1e15}
    if name in factors:                      # subnormal_scale: 1 / s overflows (the division form's case)
        factor = factors[name]
        return (rng.standard_normal(n) * factor).astype(np.float32)
    s = {"ties": 3 * 2.0 ** -8, "guard_low": 2.0 ** -58, "guard_high": 2.0 ** 39}[name]
    ties = ((np.arange(-100, 155) + 0.5) * s).astype(np.float32)
    special = [np.float32(-100 * s), np.float32(155 * s), ties, np.nextafter(ties, np.float32(np.inf)),
               np.nextafter(ties, np.float32(-np.inf))]
    if name != "ties":                       # far below 2^-60: the proof's second case
        tiny = np.float32([2.0 ** -61, 2.0 ** -64, 2.0 ** -80, 1e-40, 1.4e-45, 0.0])
        special += [tiny, -tiny]
    special = np.concatenate([np.atleast_1d(v) for v in special])
    fill = rng.uniform(-100 * s, 155 * s, n).astype(np.float32)
    out = np.concatenate([special, fill])[:n]
    assert out.size == n and out.min() == np.float32(-100 * s) and out.max() == np.float32(155 * s)
    return rng.permutation(out)


def fast_graph(rng) -> Graph:
    g = Graph("dynamic_fast_quantize", Stage.TARGET)
    g.add_input("x", TensorType((1, 75, 100), F))
    g.add_input("xr", TensorType((1, len(REGIMES) * 2, 300), F))
    g.add_input("a", TensorType((1, 2, 7, 100), F))
    g.add_input("b", TensorType((1, 2, 100, 37), F))
    for name, n, kd in (("fc", 211, 100), ("rows", 67, 300)):
        g.add_constant(f"{name}.w", rng.integers(-127, 128, size=(n, kd)).astype(np.int8), QuantParams(0.01, 0))
        g.add_constant(f"{name}.b", (rng.standard_normal(n) * 0.5).astype(np.float32))
        g.add_constant(f"{name}.s", (rng.random(n) * 0.01 + 0.001).astype(np.float32))
    g.add_node(qops.DynamicDense(), ["x", "fc.w", "fc.b", "fc.s"], "fc", outputs=["fc.y"])
    g.add_node(DynamicDenseRows(), ["xr", "rows.w", "rows.b", "rows.s"], "rows", outputs=["rows.y"])
    g.add_node(qops.DynamicMatMul(), ["a", "b"], "mm", outputs=["mm.y"])
    g.outputs = ["fc.y", "rows.y", "mm.y"]
    return verify(g)


def feeds_for(name: str, rng) -> dict:
    rows = [regime(REGIMES[r % len(REGIMES)], 300, rng) for r in range(len(REGIMES) * 2)]
    return {"x": regime(name, 75 * 100, rng).reshape(1, 75, 100),
            "xr": np.stack(rows)[None],
            "a": regime(name, 2 * 7 * 100, rng).reshape(1, 2, 7, 100),
            "b": regime(REGIMES[(REGIMES.index(name) + 1) % len(REGIMES)], 2 * 100 * 37, rng).reshape(1, 2, 100, 37)}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    graph = fast_graph(np.random.default_rng(2026))
    out = tmp_path_factory.mktemp("dynamic_fast_quantize")
    emit(graph, VNNI, out)
    return out, graph


def test_the_avx512_form_is_emitted(built):
    text = (built[0] / "model.ll").read_text()
    assert "llvm.x86.avx512.packsswb.512" in text and "llvm.x86.avx512.psad.bw.512" in text


@runs_here
@pytest.mark.parametrize("threads", [1, 2])
def test_bit_exact_in_every_scale_regime(built, threads):
    from qcomp.runtime.llvm import Runner
    out, graph = built
    runner = Runner(out / "model.so", num_threads=threads)
    for i, name in enumerate(REGIMES):
        feeds = feeds_for(name, np.random.default_rng(100 + i))
        want = run_integer(graph, feeds)
        if name == "normal":
            assert np.unique(want["fc.y"]).size > 1000, "degenerate reference output"
        got = runner.run(feeds)
        for key in graph.outputs:
            np.testing.assert_array_equal(got[key], want[key], err_msg=f"{name}: {key}, {threads} threads")


@pytest.fixture(scope="module")
def span_lib(tmp_path_factory):
    """`void f(float *x, u8 *out, i32 *sums, i8 *params, i64 rows)` for f in int8 (rows of 200 floats
    to 200 bytes, offset 0) and packed (rows of 61 floats to 64 bytes, offset 128, with the sum of q):
    FastQuant.span per row with that row's scale and zero point (params: f32 scale, i32 zp)."""
    import ctypes
    import subprocess
    from types import SimpleNamespace

    from qcomp.codegen.llvm.compile import compile_object
    from qcomp.codegen.llvm.irgen import F32, I32, I64, PTR, VOID, Module, c64, loop
    from qcomp.codegen.llvm.kernels_depthwise import _ptr
    from qcomp.codegen.llvm.kernels_dynamic_fastq import FastQuant
    out = tmp_path_factory.mktemp("fastq_span")
    mod = Module("fastq_span_test", VNNI.triple)
    shapes = {"int8": (200, 200, 0, False), "packed": (61, 64, 128, True)}
    for name, (count, nbytes, offset, with_sum) in shapes.items():
        f, b = mod.function(name, VOID, [PTR, PTR, PTR, PTR, I64], internal=False)
        x, dst, sums, params, rows = f.args
        with loop(b, rows, "row") as r:
            p = _ptr(b, params, b.mul(r, c64(8)))
            fq = FastQuant(SimpleNamespace(mod=mod), b, b.load(p, typ=F32), b.load(_ptr(b, p, 4), typ=I32))
            total = fq.span(_ptr(b, x, b.mul(r, c64(4 * count))), _ptr(b, dst, b.mul(r, c64(nbytes))),
                            count, nbytes, offset, with_sum)
            if with_sum:
                b.store(total, _ptr(b, sums, b.mul(r, c64(4))))
        b.ret_void()
    (out / "m.ll").write_text(str(mod.m))
    compile_object(out / "m.ll", out / "m.o", VNNI)
    subprocess.run(["gcc", "-shared", "-o", out / "m.so", out / "m.o"], check=True)
    lib = ctypes.CDLL(str(out / "m.so"))

    def run(name, x, scale, zp):
        count, nbytes, _, _ = shapes[name]
        rows = x.shape[0]
        params = np.zeros((rows, 2), np.int32)
        params[:, 0] = scale.astype(np.float32).view(np.int32)
        params[:, 1] = zp
        got, sums = np.zeros((rows, nbytes), np.uint8), np.zeros(rows, np.int32)
        fn = getattr(lib, name)
        fn.argtypes = [ctypes.c_void_p] * 4 + [ctypes.c_int64]
        x = np.ascontiguousarray(x, np.float32)
        fn(x.ctypes.data, got.ctypes.data, sums.ctypes.data, params.ctypes.data, rows)
        return got, sums
    return run


def hard_rows(rng, rows: int, count: int):
    """Rows of (x, scale, zp) with scales log-uniform over the guard's range [2^-58, 2^39] (its
    bounds included) and x mostly at and next to the ties (j + 1/2) s, |j| <= 300 (past the clamps),
    the rest uniform, far below 2^-60, subnormal or +-0. Half the scales are odd m < 64 times a power
    of two, so that their ties are exact."""
    scale = np.exp2(rng.uniform(-58, 39, rows)).astype(np.float32)
    short = rng.random(rows) < 0.5               # short mantissas: (j + 1/2) s exact, a true tie
    scale[short] = (rng.integers(0, 32, short.sum()) * 2 + 1) * np.exp2(rng.integers(-58, 33, short.sum()))
    scale[:2] = [2.0 ** -58, 2.0 ** 39]
    assert ((scale >= 2.0 ** -58) & (scale <= 2.0 ** 39)).all()
    zp = rng.integers(-128, 128, rows)
    s = scale[:, None].astype(np.float64)
    ties = ((rng.integers(-300, 300, (rows, count)) + 0.5) * s).astype(np.float32)
    x = np.nextafter(ties, np.where(rng.random((rows, count)) < 0.5, np.inf, -np.inf).astype(np.float32))
    x = np.where(rng.random((rows, count)) < 0.4, ties, x)
    x = np.where(rng.random((rows, count)) < 0.2, rng.uniform(-300, 300, (rows, count)) * s, x)
    tiny = rng.choice(np.float32([2.0 ** -61, -2.0 ** -70, 1e-40, -1.4e-45, 0.0, -0.0]), (rows, count))
    return np.where(rng.random((rows, count)) < 0.05, tiny, x).astype(np.float32), scale, zp


@runs_here
def test_span_is_the_division_form_over_the_guard_range(span_lib):
    """FastQuant.span's bytes (and sums of q) equal fixedpoint.quantize's at every scale the guard lets
    through: 40,000 rows of ties, their neighbours, values past the clamps and values far below 2^-60."""
    from qcomp.fixedpoint import quantize
    rng = np.random.default_rng(58)
    for name, count, nbytes in (("int8", 200, 200), ("packed", 61, 64)):
        x, scale, zp = hard_rows(rng, 20_000, count)
        want = quantize(x, scale[:, None], zp[:, None]).astype(np.int64)
        quotient = x.astype(np.float64) / scale[:, None]
        assert (want == -128).any() and (want == 127).any() and (np.abs(x) < 2.0 ** -60).mean() > 0.02
        assert (quotient % 1 == 0.5).mean() > 0.1, "too few exact ties"
        got, sums = span_lib(name, x, scale, zp)
        if name == "int8":
            np.testing.assert_array_equal(got.view(np.int8), want.astype(np.int8))
        else:
            np.testing.assert_array_equal(got[:, :count], (want + 128).astype(np.uint8))
            assert (got[:, count:] == 128).all()
            np.testing.assert_array_equal(sums, want.sum(axis=1).astype(np.int32))
