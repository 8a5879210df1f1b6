"""DynamicDense on the GEMM micro-kernels (kernels_dynamic_dense.py): a token block large enough for
several row tiles x channel chunks (row and channel tails), compiled once for x86-vnni and run with
1 and 2 threads, identical to the integer reference; plus the build-time weight pack of every llvm
target: each weight once, in the block layout kernels_qmatmul_pack.pack_b writes at run time."""
import re

import numpy as np
import pytest

from qcomp.codegen.llvm import emit
from qcomp.codegen.llvm.isa import dot_spec
from qcomp.codegen.llvm.kernels_dynamic_dense import packed_weights, step_form
from qcomp.codegen.llvm.kernels_qmatmul import run_time_spec
from qcomp.codegen.llvm.kernels_qmatmul_pack import block_order
from qcomp.ir import DType, Graph, QuantParams, Stage, TensorType, qops, verify
from qcomp.ref import run_integer
from qcomp.target import get_target, host_support

VNNI = get_target("x86-vnni")
runs_here = pytest.mark.skipif(not host_support(VNNI).can_run,
                               reason=f"target x86-vnni: {host_support(VNNI).why}")
LLVM_TARGETS = ("x86-vnni", "x86-avx2", "x86-avxvnni", "arm-sdot", "arm-neon", "arm-i8mm")


def dense_graph(rng) -> tuple[Graph, dict]:
    g = Graph("dynamic_dense_kernels", Stage.TARGET)
    m, kd, n = 75, 130, 211
    g.add_input("x", TensorType((1, m, kd), DType.FLOAT32))
    g.add_constant("w", rng.integers(-127, 128, size=(n, kd)).astype(np.int8), QuantParams(0.01, 0))
    g.add_constant("b", (rng.standard_normal(n) * 0.5).astype(np.float32))
    g.add_constant("s", (rng.random(n) * 0.01 + 0.001).astype(np.float32))
    g.add_node(qops.DynamicDense(act_min=-3.0, act_max=None), ["x", "w", "b", "s"], "fc", outputs=["y"])
    g.outputs = ["y"]
    return verify(g), {"x": (rng.standard_normal((1, m, kd)) * 2).astype(np.float32)}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    graph, feeds = dense_graph(np.random.default_rng(1919))
    out = tmp_path_factory.mktemp("dynamic_dense_kernels")
    emit(graph, VNNI, out)
    return out, graph, feeds, run_integer(graph, feeds)


@runs_here
@pytest.mark.parametrize("threads", [1, 2])
def test_bit_exact_with_any_thread_count(built, threads):
    from qcomp.runtime.llvm import Runner
    out, graph, feeds, want = built
    assert np.unique(want["y"]).size > 1000 and (want["y"] == -3.0).any(), "degenerate reference output"
    runner = Runner(out / "model.so", num_threads=threads)
    for _ in range(2):
        np.testing.assert_array_equal(runner.run(feeds)["y"], want["y"], err_msg=f"{threads} threads")
    zeros = {"x": np.zeros_like(feeds["x"])}          # scale 0: every product 0, y = clamp(bias)
    np.testing.assert_array_equal(runner.run(zeros)["y"], run_integer(graph, zeros)["y"])


def test_gemm_kernels_are_emitted(built):
    text = (built[0] / "model.ll").read_text()
    assert re.search(r'@"?qmm_tile', text) and "vpdpbusd" in text and "qmatmul_pack_b" not in text


@pytest.mark.parametrize("target", LLVM_TARGETS)
def test_packed_weights_follow_the_block_layout(target):
    """Block (ob, kq) at [ob][kq] holds w[ob*lanes + j, kq*depth + d] at position order^-1(d*lanes + j)."""
    spec = run_time_spec(dot_spec(get_target(target)))
    rng = np.random.default_rng(7)
    n, kd = 2 * spec.lanes + 3, 3 * spec.depth + 1
    w = rng.integers(-128, 128, size=(n, kd)).astype(np.int8)
    dtype = "<i2" if spec.weight_parts == 2 else np.int8
    data = np.frombuffer(packed_weights(w, spec), dtype)
    n_ob, n_kq = -(-n // spec.lanes), -(-kd // spec.depth)
    blocks = data.reshape(n_ob, n_kq, spec.lanes * spec.depth)
    order = block_order(spec)
    for ob in range(n_ob):
        for kq in range(n_kq):
            for p, src in enumerate(order):
                d, j = divmod(int(src), spec.lanes)
                row, col = ob * spec.lanes + j, kq * spec.depth + d
                want = w[row, col] if row < n and col < kd else 0
                assert blocks[ob, kq, p] == want, (target, ob, kq, p)


def test_step_form_on_arm_neon_follows_the_weights():
    """SMLAL (fast) for weights without a (-128, -128) pair in a channel's int16 sum, SMULL otherwise."""
    spec = dot_spec(get_target("arm-neon"))
    w = np.random.default_rng(3).integers(-127, 128, size=(9, 21)).astype(np.int8)
    assert step_form(spec, w).instruction == "smlal"
    w[4, 8] = w[4, 10] = -128                    # bytes 0 and 2 of one channel's 4-byte step
    assert step_form(spec, w).instruction == "smull"
    assert step_form(dot_spec(get_target("x86-avx2")), w).weight_parts == 2
