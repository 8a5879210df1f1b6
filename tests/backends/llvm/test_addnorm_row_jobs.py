"""DynamicDenseAddNorm with its LayerNorm inside the GEMM's whole-row jobs (kernels_dynamic_fused.py,
kernels_qmatmul._emit_gemm's `rows`): one x86-vnni build in that form (32 rows, 3 channel blocks: the
8 x 3 tile of even_tiles, two jobs of 16 whole rows) and one with the separate row pass
(ROW_JOB_WEIGHT_BYTES 0), both identical to the integer reference at 1 and 2 threads; the row-job form
on the aarch64 targets too. The row tail and channel tail of the same form (no even tile) run on every
llvm target in the op case dynamic_dense_add_norm_tails."""
import numpy as np
import pytest

from qcomp.codegen.llvm import emit, kernels_dot, kernels_dynamic_fused
from qcomp.codegen.llvm.kernels_qmatmul import even_tiles
from qcomp.ref import run_integer
from qcomp.target import get_target, host_support
from tests.opcases.dynamic_fused_cases import dense_add_norm

VNNI = get_target("x86-vnni")
runs_here = pytest.mark.skipif(not host_support(VNNI).can_run,
                               reason=f"target x86-vnni: {host_support(VNNI).why}")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    graph, feeds = dense_add_norm("addnorm_rows", np.random.default_rng(1919), (1, 32, 72), 48)
    row_jobs = tmp_path_factory.mktemp("addnorm_row_jobs")
    emit(graph, VNNI, row_jobs)
    separate = tmp_path_factory.mktemp("addnorm_row_pass")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(kernels_dynamic_fused, "ROW_JOB_WEIGHT_BYTES", 0)
        emit(graph, VNNI, separate)
    return {"row_jobs": row_jobs, "separate": separate}, graph, feeds, run_integer(graph, feeds)


def test_the_row_pass_moves_into_the_gemm_jobs(built):
    dirs = built[0]
    assert "layer_norm_job" not in (dirs["row_jobs"] / "model.ll").read_text()
    assert "layer_norm_job" in (dirs["separate"] / "model.ll").read_text()


@runs_here
@pytest.mark.parametrize("form", ["row_jobs", "separate"])
@pytest.mark.parametrize("threads", [1, 2])
def test_bit_exact_to_the_reference(built, form, threads):
    from qcomp.runtime.llvm import Runner
    dirs, graph, feeds, want = built
    assert np.unique(want["y"]).size > 1000, "degenerate reference output"
    runner = Runner(dirs[form] / "model.so", num_threads=threads)
    for _ in range(2):
        np.testing.assert_array_equal(runner.run(feeds)["y"], want["y"], err_msg=f"{form}, {threads} threads")


@pytest.mark.parametrize("target", ["arm-sdot", "arm-neon", "arm-i8mm"])
def test_bit_exact_to_the_reference_on_arm(built, target):
    """The same whole-row jobs with each aarch64 micro-kernel's even shape (SDOT: 8 x 3 of 4-lane
    blocks; SMMLA and the NEON sequence: their own tables), under QEMU."""
    from tests.opcases.targets import host_skip, run_arm
    why = host_skip(target)()
    if why:
        pytest.skip(why)
    _, graph, feeds, want = built
    np.testing.assert_array_equal(run_arm(target)(graph, feeds)["y"], want["y"], err_msg=target)


def test_even_tiles_splits_rows_and_blocks_without_a_remainder():
    avx512, avx2 = kernels_dot.MR_FOR_NR[32], kernels_dot.MR_FOR_NR[16]
    assert even_tiles(128, 24, avx512) == {3: 8}        # 6 x 4 would leave a 2-row tile
    assert even_tiles(48, 8, avx512) == {4: 6}          # the most accumulators among the even shapes
    assert even_tiles(38, 5, avx512) is avx512          # none even: gemm_plan's own choice
    assert even_tiles(128, 24, avx2) is avx2
    assert even_tiles(120, 2, avx2) == {2: 5}
