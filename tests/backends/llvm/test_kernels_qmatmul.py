"""QMatMul on the GEMM micro-kernels (kernels_qmatmul.py): attention-shaped nodes large enough for
many parallel jobs (heads x row tiles x channel chunks), a node past the accumulator bound (the
int64 scalar loop) and a DynamicMatMul (float epilogue), in one graph compiled once for x86-vnni and run with 1, 2 and 3 threads: every
result identical to the integer reference. Plus the build-time choices: the form by K, and the
block byte order of every llvm target's dot step (a permutation of the rows' bytes)."""
import re

import numpy as np
import pytest

from qcomp import fixedpoint
from qcomp.codegen.llvm import emit
from qcomp.codegen.llvm.isa import dot_spec
from qcomp.codegen.llvm.kernels_qmatmul import gemm_form, run_time_spec
from qcomp.codegen.llvm.kernels_qmatmul_pack import block_order
from qcomp.ir import DType, Graph, QuantParams, Stage, TensorType, qops, verify
from qcomp.ref import run_integer
from qcomp.target import get_target, host_support

I8 = DType.INT8
VNNI = get_target("x86-vnni")
runs_here = pytest.mark.skipif(not host_support(VNNI).can_run, reason=f"target x86-vnni: {host_support(VNNI).why}")
LLVM_TARGETS = ("x86-vnni", "x86-avx2", "x86-avxvnni", "arm-sdot", "arm-neon", "arm-i8mm")

# name: (a shape, b shape, a_zero_point, b_zero_point)
CASES = {
    "scores": ((1, 12, 128, 32), (1, 12, 32, 128), 3, -7),          # Q K^T of MiniLM
    "context": ((1, 12, 128, 128), (1, 12, 128, 32), -128, 30),     # P V of MiniLM
    "broadcast_tails": ((3, 1, 29, 45), (1, 2, 45, 50), 127, -128),
    "past_the_bound": ((4, 40000), (40000, 5), 0, 0),              # K * 255 * 255 > 2^31 - 1: int64 loop
}


def qmatmul_graph(rng) -> tuple[Graph, dict]:
    g = Graph("qmatmul_kernels", Stage.TARGET)
    feeds = {}
    for name, (a_shape, b_shape, za, zb) in CASES.items():
        for v, shape, zp in (("a", a_shape, za), ("b", b_shape, zb)):
            g.add_input(f"{name}.{v}", TensorType(shape, I8, QuantParams(0.05, zp)))
            feeds[f"{name}.{v}"] = rng.integers(-128, 128, size=shape).astype(np.int8)
        acc = np.matmul(feeds[f"{name}.a"].astype(np.int64) - za, feeds[f"{name}.b"].astype(np.int64) - zb)
        m, s = fixedpoint.quantize_multiplier(250.0 / (acc.max() - acc.min()))
        zp_out = int(np.clip(round(-(acc.max() + acc.min()) / 2 * 250.0 / (acc.max() - acc.min())), -128, 127))
        op = qops.QMatMul(za, zb, m, s, zp_out, -128, 127)
        out_t = op.infer([g.types[f"{name}.a"], g.types[f"{name}.b"]])[0]
        g.add_node(op, [f"{name}.a", f"{name}.b"], name, outputs=[f"{name}.y"],
                   out_types=[TensorType(out_t.shape, I8, QuantParams(0.05, zp_out))])
    # DynamicMatMul on the same path: float operands quantized per run, a float epilogue
    for v, shape in (("a", (1, 12, 128, 32)), ("b", (1, 12, 32, 128))):
        g.add_input(f"dynamic.{v}", TensorType(shape, DType.FLOAT32))
        feeds[f"dynamic.{v}"] = rng.standard_normal(shape).astype(np.float32)
    g.add_node(qops.DynamicMatMul(), ["dynamic.a", "dynamic.b"], "dynamic", outputs=["dynamic.y"])
    g.outputs = [f"{name}.y" for name in [*CASES, "dynamic"]]
    return verify(g), feeds


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    graph, feeds = qmatmul_graph(np.random.default_rng(19))
    out = tmp_path_factory.mktemp("qmatmul_kernels")
    emit(graph, VNNI, out)
    return out, graph, feeds, run_integer(graph, feeds)


@runs_here
@pytest.mark.parametrize("threads", [1, 2, 3])
def test_bit_exact_with_any_thread_count(built, threads):
    from qcomp.runtime.llvm import Runner
    out, graph, feeds, want = built
    runner = Runner(out / "model.so", num_threads=threads)
    for _ in range(2):   # the pool's second batch onwards reuses its threads
        got = runner.run(feeds)
        for name in [*CASES, "dynamic"]:
            y = f"{name}.y"
            assert np.unique(want[y]).size > 8, f"{name}: degenerate reference output"
            np.testing.assert_array_equal(got[y], want[y], err_msg=f"{name} with {threads} threads")


def test_gemm_kernels_are_emitted(built):
    """The attention nodes run on VPDPBUSD tiles; the node past the bound keeps the scalar loop."""
    out, graph, _, _ = built
    text = (out / "model.ll").read_text()
    assert len(re.findall(r'define internal void @"?qmatmul_pack_b', text)) == 4
    assert re.search(r'@"?qmm_tile', text) and "vpdpbusd" in text
    past = next(n for n in graph.nodes if n.name == "past_the_bound")
    assert not gemm_form(past, graph)


def test_form_follows_the_accumulator_bound():
    g = Graph("bound", Stage.TARGET)
    for kd in (33025, 33026):        # 33025 * 255 * 255 = 2147450625: the largest K the bound allows
        g.add_input(f"a{kd}", TensorType((1, kd), I8, QuantParams(0.05, 0)))
        g.add_input(f"b{kd}", TensorType((kd, 1), I8, QuantParams(0.05, 0)))
        g.add_node(qops.QMatMul(0, 0, 1 << 30, -20), [f"a{kd}", f"b{kd}"], f"mm{kd}")
    assert fixedpoint.max_abs_accumulator(33025, 255, 255) <= fixedpoint.INT32_MAX
    assert [gemm_form(n, g) for n in g.nodes] == [True, False]


@pytest.mark.parametrize("target", LLVM_TARGETS)
def test_block_order_is_a_permutation(target):
    """Each packed block takes every byte of its `depth` rows of `lanes` columns exactly once, and
    the run-time form is one no build-time weight proof is needed for."""
    spec = run_time_spec(dot_spec(get_target(target)))
    order = block_order(spec)
    assert sorted(order.tolist()) == list(range(spec.lanes * spec.depth))
    if spec.instruction == "vpmaddubsw":
        assert spec.weight_parts == 2            # the wide int16 form: exact for any b
    assert spec.instruction != "smlal"           # the exact SMULL form: b may hold (-128, -128) pairs
