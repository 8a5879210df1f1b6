"""The GEMM phase's job split (kernels_dot.gemm_plan): a node whose weights come from L3 at every run
(more than CHUNK_SPLIT_WEIGHT_BYTES) is split by its chunks of output blocks, each job over every
pixel tile (each chunk's weight panel read by one core); a node with weights that stay in L2 keeps
the split over groups of tiles too. Bit-exactness at every thread count: test_kernels_dot.py."""
import numpy as np
import pytest

from qcomp.codegen.llvm import emit
from qcomp.codegen.llvm.kernels_dot import CHUNK_JOBS, CHUNK_SPLIT_WEIGHT_BYTES, gemm_plan
from qcomp.ref import run_integer
from qcomp.target import get_target, host_support
from tests.opcases import graphs as gb

VNNI = get_target("x86-vnni")


def _jobs(plan: dict, groups: int = 1) -> int:
    return groups * plan["n_chunks"] * plan["n_groups"]


def test_large_weights_split_by_chunks_only():
    # ResNet-18's last 3x3 stage: 7x7 pixels, 512 -> 512 channels, K = 4608: 2.4 MB of weights
    plan = gemm_plan(pixels=49, n_ob=32, groups=1, kpad=4608, lanes=16)
    assert 32 * 16 * 4608 > CHUNK_SPLIT_WEIGHT_BYTES
    assert (plan["n_chunks"], plan["n_groups"], plan["tiles_per_job"]) == (8, 1, plan["n_tiles"])
    assert _jobs(plan) >= CHUNK_JOBS


def test_small_weights_keep_the_tile_groups():
    # ResNet-18's first 3x3 stage (37 KB of weights) and MobileNetV2's last 1x1 (410 KB)
    for pixels, n_ob, kpad in ((3136, 4, 576), (49, 80, 320)):
        assert n_ob * 16 * kpad <= CHUNK_SPLIT_WEIGHT_BYTES
        plan = gemm_plan(pixels=pixels, n_ob=n_ob, groups=1, kpad=kpad, lanes=16)
        assert plan["n_groups"] > 1, (pixels, n_ob, kpad)


def test_large_weights_with_few_chunks_keep_the_tile_groups():
    # too few chunks for the pool: 2 chunks of 4 blocks with K = 8192 (1 MB of weights)
    plan = gemm_plan(pixels=196, n_ob=8, groups=1, kpad=8192, lanes=16)
    assert plan["n_chunks"] < CHUNK_JOBS and plan["n_groups"] > 1


@pytest.mark.skipif(not host_support(VNNI).can_run, reason=f"target x86-vnni: {host_support(VNNI).why}")
def test_chunk_jobs_equal_the_reference_at_every_thread_count(tmp_path):
    """A 3x3 conv with 1.1 MB of weights (8 chunks of 4 blocks, a last tile of 1 pixel), run in its
    chunk jobs at 1, 2 and 3 threads."""
    from qcomp.runtime.llvm import Runner
    graph, feeds = gb.conv("big_weights", np.random.default_rng(2), (1, 5, 5, 240), 512, (3, 3), pads=(1, 1, 1, 1))
    assert 512 * 3 * 3 * 240 > CHUNK_SPLIT_WEIGHT_BYTES
    want = run_integer(graph, feeds)["conv"]
    assert np.unique(want).size > 8
    emit(graph, VNNI, tmp_path)
    runner = Runner(tmp_path / "model.so")
    for n in (1, 2, 3):
        runner.set_num_threads(n)
        np.testing.assert_array_equal(runner.run(feeds)["conv"], want, err_msg=f"{n} threads")
