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
