"""The llvm backend's dot kernels (kernels_dot.py) on random layers of every variant, bit-exact to
the integer reference: 1x1 (GEMM), 3x3 strided, dilated, grouped, depthwise (3x3 and 5x5 strided,
channel counts not multiple of 16, 2x2 and 1x1: even and single tap counts), Dense (batch 1 with
several channel chunks, and several rows),
ConvTranspose, fused clamps, zero points at the extremes, layers large enough to split into many
parallel jobs and tiles with tails in both directions. All cases are nodes of one graph (one
compile); the same library is run with 1, 2 and 3 threads (identical results required)."""
import numpy as np
import pytest

from qcomp import fixedpoint
from qcomp.codegen.llvm import emit
from qcomp.codegen.llvm.kernels_dot import gemm_plan
from qcomp.ir import DType, Graph, QuantParams, Stage, TensorType, qops, verify
from qcomp.ref import run_integer
from qcomp.target import get_target, host_support

I8 = DType.INT8
VNNI = get_target("x86-vnni")
runs_here = pytest.mark.skipif(not host_support(VNNI).can_run, reason=f"target x86-vnni: {host_support(VNNI).why}")

# name: (x shape, op, weight shape [O, ...])
CASES = {
    "pointwise": ((1, 9, 7, 24), qops.QConv2D(input_zero_point=-128, output_zero_point=5), (40, 1, 1, 24)),
    "pointwise_big": ((1, 20, 21, 64), qops.QConv2D(input_zero_point=3, output_zero_point=-7), (100, 1, 1, 64)),
    "conv3x3_s2": ((1, 11, 10, 19), qops.QConv2D(strides=(2, 2), pads=(1, 1, 1, 1), input_zero_point=127,
                                                 output_zero_point=-3), (21, 3, 3, 19)),
    "conv_dilated": ((1, 9, 9, 8), qops.QConv2D(pads=(2, 2, 2, 2), dilations=(2, 2), input_zero_point=-9,
                                                output_zero_point=0, qmin=0, qmax=127), (16, 3, 3, 8)),
    "conv_stem": ((1, 23, 23, 3), qops.QConv2D(strides=(2, 2), pads=(0, 1, 1, 0), input_zero_point=10,
                                               output_zero_point=-128, qmin=-128, qmax=-20), (32, 3, 3, 3)),
    "grouped": ((1, 6, 7, 12), qops.QConv2D(pads=(1, 1, 1, 1), group=3, input_zero_point=2,
                                            output_zero_point=1), (18, 3, 3, 4)),
    "depthwise3x3": ((1, 8, 9, 37), qops.QConv2D(pads=(1, 1, 1, 1), group=37, input_zero_point=-5,
                                                 output_zero_point=-128, qmin=-128, qmax=60), (37, 3, 3, 1)),
    "depthwise5x5_s2": ((1, 9, 11, 20), qops.QConv2D(strides=(2, 2), pads=(2, 2, 2, 2), group=20,
                                                     input_zero_point=127, output_zero_point=4), (20, 5, 5, 1)),
    "depthwise_big": ((1, 30, 29, 200), qops.QConv2D(pads=(1, 1, 1, 1), group=200, input_zero_point=-128,
                                                     output_zero_point=-2), (200, 3, 3, 1)),
    # an even tap count (the x86 kernel's taps in pairs, none paired with zeros) and a single tap
    "depthwise2x2_even": ((1, 7, 6, 70), qops.QConv2D(pads=(0, 1, 1, 0), group=70, input_zero_point=-3,
                                                      output_zero_point=1), (70, 2, 2, 1)),
    "depthwise1x1": ((1, 3, 5, 40), qops.QConv2D(group=40, input_zero_point=9, output_zero_point=-4), (40, 1, 1, 1)),
    "dense_rows": ((3, 70), qops.QDense(input_zero_point=-1, output_zero_point=2), (33, 70)),
    "dense_wide": ((1, 301), qops.QDense(input_zero_point=6, output_zero_point=-1), (130, 301)),
    "conv_transpose": ((1, 5, 4, 10), qops.QConvTranspose2D(strides=(2, 2), pads=(1, 1, 1, 1),
                                                            input_zero_point=-7, output_zero_point=3),
                       (7, 3, 3, 10)),
}


def layers_graph(rng) -> tuple[Graph, dict]:
    g = Graph("dot_kernels", Stage.TARGET)
    feeds = {}
    for name, (x_shape, op, w_shape) in CASES.items():
        x = f"{name}.x"
        g.add_input(x, TensorType(x_shape, I8, QuantParams(0.05, op.input_zero_point)))
        feeds[x] = rng.integers(-128, 128, size=x_shape).astype(np.int8)
        o, k = w_shape[0], int(np.prod(w_shape[1:]))
        w = rng.integers(-127, 128, size=w_shape).astype(np.int8)
        bias = rng.integers(-3000, 3000, size=o).astype(np.int32)
        m, s = fixedpoint.quantize_multipliers(rng.uniform(0.5, 2.0, o) * 40.0 / np.sqrt(k * 85 * 5400))
        names = [g.add_constant(f"{name}.w", w, QuantParams(np.full(o, 0.01, np.float32), 0, axis=0)),
                 g.add_constant(f"{name}.bias", bias), g.add_constant(f"{name}.multiplier", m.astype(np.int32)),
                 g.add_constant(f"{name}.shift", s.astype(np.int32))]
        out_t = op.infer([g.types[v] for v in [x, *names]])[0]
        g.add_node(op, [x, *names], name, outputs=[f"{name}.y"],
                   out_types=[TensorType(out_t.shape, I8, QuantParams(0.05, op.output_zero_point))])
    g.outputs = [f"{name}.y" for name in CASES]
    return verify(g), feeds


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    rng = np.random.default_rng(7)
    graph, feeds = layers_graph(rng)
    out = tmp_path_factory.mktemp("dot_kernels")
    emit(graph, VNNI, out)
    return out, graph, feeds, run_integer(graph, feeds)


@runs_here
@pytest.mark.parametrize("threads", [1, 2, 3])
def test_every_variant_bit_exact(built, threads):
    from qcomp.runtime.llvm import Runner
    out, graph, feeds, want = built
    runner = Runner(out / "model.so", num_threads=threads)
    assert runner.num_threads == threads
    for _ in range(2):   # the pool's second batch onwards reuses its threads
        got = runner.run(feeds)
        for name in CASES:
            y = f"{name}.y"
            assert np.unique(want[y]).size > 8, f"{name}: degenerate reference output"
            np.testing.assert_array_equal(got[y], want[y], err_msg=f"{name} with {threads} threads")


def test_gemm_plan_tails_and_jobs():
    plan = gemm_plan(pixels=49, n_ob=5, groups=1, kpad=64, lanes=16)
    assert (plan["mr"], plan["nr"], plan["n_chunks"]) == (6, 4, 2)     # chunks of 4 + 1 block
    assert plan["n_tiles"] == 9                                         # 8 full tiles of 6 + 1 pixel
    assert plan["tiles_per_job"] * plan["n_groups"] >= plan["n_tiles"]
    small = gemm_plan(pixels=1, n_ob=63, groups=1, kpad=1280, lanes=16)
    assert (small["mr"], small["n_tiles"]) == (1, 1)                    # Dense, batch 1
    big = gemm_plan(pixels=3136, n_ob=4, groups=1, kpad=576, lanes=16)
    assert big["n_chunks"] * big["n_groups"] > 8                         # enough jobs for the pool
