"""Job counts that 2 and 4 threads divide evenly (job_split.py) and benchmarks/thread_balance.py.

The count rules on tables of cases (no build); then one x86-vnni DynamicDenseAddNorm of MiniLM's
attention-output shape [1, 128, 384] -> 384 in its separate-row-pass form, whose four phases take the
new splits (min/max and pack 3 -> 4 jobs, GEMM tile groups 6 + 6 + 4 -> 8 + 8, LayerNorm rows 7 -> 8
jobs), identical to the integer reference at 1 and 2 threads."""
import importlib.util
import re
from pathlib import Path

import numpy as np
import pytest

from qcomp.codegen.llvm import emit, kernels_depthwise, kernels_dynamic_fused, kernels_dynamic_pack
from qcomp.codegen.llvm.job_split import balanced, spread, spread_rows, tile_groups
from qcomp.ref import run_integer
from qcomp.target import get_target, host_support
from tests.opcases.dynamic_fused_cases import dense_add_norm

REPO = Path(__file__).resolve().parents[3]
VNNI = get_target("x86-vnni")
runs_here = pytest.mark.skipif(not host_support(VNNI).can_run,
                               reason=f"target x86-vnni: {host_support(VNNI).why}")


@pytest.mark.parametrize("jobs, units, limit, want", [
    (1, 128, 16, 1),      # one job stays one call: no new fork-join
    (3, 128, 16, 4),      # MiniLM's 128 x 384 quantize
    (6, 128, 16, 8),      # BERT-base's 128 x 768
    (12, 128, 16, 12),    # already a multiple of 4
    (13, 128, 16, 16),
    (15, 128, 64, 16),
    (17, 128, 16, 16),    # capped by the limit
    (3, 3, 16, 3),        # capped by the units
])
def test_balanced(jobs, units, limit, want):
    assert balanced(jobs, units, limit) == want


@pytest.mark.parametrize("units, jobs, want", [
    (128, 8, (16, 8)), (128, 16, (8, 16)), (20, 8, (5, 4)), (7, 4, (2, 4)), (3, 3, (1, 3)), (5, 1, (5, 1)),
    (384, 20, (24, 16)),    # MiniLM at sequence 384: LayerNorm rows in 16 equal jobs, not 19 of 20 and one of 4
    (100, 16, (13, 8)),     # 8 jobs (+4 % at 2 and 4 threads) over 15 of 7 rows (+12 %)
])
def test_spread(units, jobs, want):
    per, count = spread(units, jobs)
    assert (per, count) == want and (count - 1) * per < units <= count * per


@pytest.mark.parametrize("rows, jobs, group, want", [
    (128, 7, 1, (16, 8)),      # LayerNorm of 128 rows of 384 (21 rows a job before: 7 jobs)
    (128, 13, 1, (8, 16)),     # ... of 768 (10 a job: 13 jobs)
    (384, 39, 1, (12, 32)),    # 384 rows of 768: 32 jobs of 12, not 38 of 10 and one of 4
    (384, 12, 32, (32, 12)),   # groups of 32 rows: 12 jobs of one group
    (128, 3, 32, (32, 4)),     # 4 groups of 32: 3 jobs -> 4
    (100, 3, 32, (32, 4)),     # the last job the 4 rows left
])
def test_spread_rows(rows, jobs, group, want):
    per, count = spread_rows(rows, jobs, 64, group)
    assert (per, count) == want and per % group == 0 and (count - 1) * per < rows <= count * per


@pytest.mark.parametrize("n_tiles, per_chunk, want", [(16, 3, 8), (16, 4, 4), (16, 1, 16), (15, 4, 5), (7, 3, 3)])
def test_tile_groups(n_tiles, per_chunk, want):
    assert tile_groups(n_tiles, per_chunk) == want


def test_quantize_jobs_never_add_a_fork_join():
    """Over rows x K grids: one job exactly where the count before rounding was one; otherwise a
    multiple of 4 or every row its own job."""
    for rows in (1, 2, 3, 7, 16, 100, 128, 384, 1000):
        for kd in (64, 384, 768, 1536, 3072, 4096):
            before = max(1, min(kernels_dynamic_pack.MAX_JOBS, rows, rows * kd // kernels_dynamic_pack.MIN_JOB_ELEMS))
            got = kernels_dynamic_pack.n_jobs(rows * kd, rows)
            assert (got == 1) == (before == 1) and got >= before, (rows, kd, got)
            assert got == 1 or got % 4 == 0 or got == rows, (rows, kd, got)


def _script():
    spec = importlib.util.spec_from_file_location("qcomp_bench_balance", REPO / "benchmarks" / "thread_balance.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_makespan_model():
    tb = _script()
    three = np.array([10.0, 10.0, 10.0])
    assert (tb.makespan(three, 2), tb.ideal(three, 2)) == (20.0, 15.0)
    assert (tb.makespan(np.full(4, 10.0), 2), tb.makespan(np.full(4, 10.0), 4)) == (20.0, 10.0)
    cold = np.array([16.0, 10.0, 10.0, 10.0])   # job 0 pays 6 of first touches: so does thread 1's first job
    assert (tb.cold(cold), tb.makespan(cold, 2), tb.ideal(cold, 2)) == (6.0, 26.0, 26.0)


def test_instrument_numbers_each_call_site():
    tb = _script()
    ll = ('define internal i32 @"node.4"(ptr %".1") {\n'
          '  call void @"qcomp_parallel_for"(void (ptr, i64)* @"dq_pack.2", ptr %"ctx.1", i64 4)\n}\n'
          'declare void @"qcomp_parallel_for"(ptr %".1", ptr %".2", i64 %".3")\n')
    text, sites = tb.instrument(ll)
    assert sites == [(4, "dq_pack", 4)]
    assert 'call void @"qcomp_trace_for"(void (ptr, i64)* @"dq_pack.2", ptr %"ctx.1", i64 4, i64 0)' in text
    assert 'declare void @"qcomp_trace_for"(ptr, ptr, i64, i64)' in text


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    graph, feeds = dense_add_norm("balance", np.random.default_rng(2020), (1, 128, 384), 384)
    out = tmp_path_factory.mktemp("job_balance")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(kernels_dynamic_fused, "ROW_JOB_WEIGHT_BYTES", 0)     # the separate LayerNorm pass
        # 24 GEMM jobs wanted over 8 chunks: 3 per chunk of 16 row tiles (groups 6, 6, 4 before)
        mp.setattr(kernels_depthwise, "JOB_MACS", 128 * 384 * 384 // 24)
        emit(graph, VNNI, out)
    return out, graph, feeds, run_integer(graph, feeds)


def test_phases_take_the_even_splits(built):
    ll = (built[0] / "model.ll").read_text()
    call = r'qcomp_parallel_for"\(void \(ptr, i64\)\* @"([a-z_]+)[^"]*", ptr %"[^"]*", i64 (\d+)'
    counts = dict(re.findall(call, ll))
    assert counts == {"dq_minmax": "4", "dq_pack": "4", "qmatmul_job": "16", "layer_norm_job": "4"}


@runs_here
@pytest.mark.parametrize("threads", [1, 2])
def test_bit_exact_to_the_reference(built, threads):
    from qcomp.runtime.llvm import Runner
    out, _, feeds, want = built
    assert np.unique(want["y"]).size > 10000, "degenerate reference output"
    runner = Runner(out / "model.so", num_threads=threads)
    for _ in range(2):
        np.testing.assert_array_equal(runner.run(feeds)["y"], want["y"], err_msg=f"{threads} threads")


def test_report_ranks_classes_by_lost_time():
    """Two sites of one class (3 equal jobs: half a job lost at 2 threads each) and one of 4 equal jobs
    (none lost); the serial work per node kind and the Amdahl total follow."""
    tb = _script()
    sites = [(0, "dq_pack", 3), (1, "dq_pack", 3), (2, "qmatmul_job", 4)]
    times = {0: np.full(3, 1000.0), 1: np.full(3, 1000.0), 2: np.full(4, 5000.0)}
    kinds = {0: "DynamicDense", 1: "DynamicDense", 2: "DynamicDense"}
    lines = tb.report(sites, times, kinds, [2], 5, {0: 400.0, 1: 400.0, 2: 200.0})
    assert lines[1].split()[:4] == ["DynamicDense", "dq_pack", "3", "2"]
    assert lines[1].split()[-2:] == ["1.0", "33.3"]            # 2 x (2000 - 1500) ns over 2 x 1500
    assert lines[2].split()[-2:] == ["0.0", "0.0"]
    assert lines[3].startswith("parallel phases: 3 fork-joins, 0.026 ms at 1 thread")
    assert "ideal 0.013 ms, modelled 0.014 ms" in lines[4]
    assert lines[-1].strip().startswith("2 threads, no hand-off cost: 0.015 ms")   # 1 us serial + 14 us
