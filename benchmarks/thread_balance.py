"""How evenly each parallel phase of an llvm artifact splits over 2 and 4 threads, from measured job times.

    python benchmarks/thread_balance.py ARTIFACT [--runs 20] [--threads 2 4] [--top 25] [--work DIR]

The thread pool (runtime/llvm/pool.c) hands out the n jobs of a qcomp_parallel_for from an atomic
counter: each thread, when free, claims the next job index. With job times t_0 .. t_{n-1} and T
equal threads starting together, that is list scheduling in index order, and the phase ends at

    makespan_T = max over threads of the finish time of its last job        (simulated exactly)
    ideal_T    = sum_i t_i / T                                              (perfect division)

so makespan_T - ideal_T is the time a phase's split loses at T threads. Job 0 of a phase is slower
in a serial trace (the first touch of the weights); the model charges that excess to each thread's
first job, in makespan and ideal alike (`cold`). Hand-offs are not modelled: a fork-join costs the
same whatever the job count, and a split change here never adds one.

The job times are measured, not modelled: the script rewrites the artifact's model.ll so that every
`qcomp_parallel_for(job, ctx, n)` call site s calls a tracing runner instead, which runs the n jobs
one after the other on the calling thread and records each job's time
(CLOCK_MONOTONIC through the vDSO, about 20 ns a read: the thread's CPU clock is a system call of
about 0.5 us, as long as the smallest jobs), recompiles and links that module into a copy of the
artifact, runs it --runs times on random feeds (seed 0) and takes each job's median (a job the
shared machine preempted is an outlier the median drops). A call site inside `node.N` is node N of
the graph; its rows are grouped by (node kind, job function, job count), the shape class the same
split gives, summed over the model.

Prints, per class: sites, jobs per site, the median job time and the spread (max / min), the
1-thread time, and per T the loss (makespan - ideal) in us per run and as a share of ideal; then the
totals: the parallel phases' 1-thread time and their modelled T-thread time against ideal, the run's
serial work inside the nodes (per node kind: the profiler's node time less its jobs), and the nodes'
modelled T-thread time (Amdahl, no hand-off cost; the run function's own copies of inputs and outputs
are not counted).
"""
from __future__ import annotations

import argparse
import ctypes
import re
import shutil
import statistics
import subprocess
import tempfile
from collections import defaultdict
from pathlib import Path

import numpy as np

from qcomp.artifact import DIGEST_KEY, FILES_KEY, read_manifest, write_manifest
from qcomp.bench import random_feeds
from qcomp.codegen.llvm.compile import compile_object
from qcomp.target import get_target

TRACE_C = r"""
#include <stdint.h>
#include <time.h>
typedef void (*job_fn)(void *ctx, int64_t i);
#define CAP (1 << 22)
__attribute__((visibility("default"))) int64_t qcomp_trace_count;
__attribute__((visibility("default"))) int64_t qcomp_trace_records[3 * CAP];   /* site, job, ns */
static int64_t thread_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}
int64_t qcomp_trace_clock_cost(void) {   /* ns of one thread_ns() call, averaged over 4096 */
  int64_t t0 = thread_ns(), t = t0;
  for (int i = 0; i < 4096; i++) t = thread_ns();
  return (t - t0) / 4096;
}
void qcomp_trace_for(job_fn fn, void *ctx, int64_t n, int64_t site) {
  for (int64_t i = 0; i < n; i++) {
    int64_t t0 = thread_ns();
    fn(ctx, i);
    int64_t t1 = thread_ns();
    if (qcomp_trace_count < CAP) {
      int64_t *r = qcomp_trace_records + 3 * qcomp_trace_count++;
      r[0] = site; r[1] = i; r[2] = t1 - t0;
    }
  }
}
"""

CALL = re.compile(r'call void @"qcomp_parallel_for"\((.*?), i64 (\d+)\)')
DEFINE = re.compile(r'^define [^@]*@"node\.(\d+)"')
JOB = re.compile(r'@"([A-Za-z_0-9]+?)(?:\.\d+)?"')


def instrument(ll: str) -> tuple[str, list[tuple[int, str, int]]]:
    """model.ll with each parallel_for call site numbered; the sites as (node index, job, n)."""
    sites, node, out = [], -1, []
    for line in ll.splitlines():
        d = DEFINE.match(line)
        if d:
            node = int(d.group(1))
        m = CALL.search(line)
        if m:
            job = JOB.search(m.group(1))
            sites.append((node, job.group(1) if job else "?", int(m.group(2))))
            line = line[:m.start()] + f'call void @"qcomp_trace_for"({m.group(1)}, i64 {m.group(2)}, ' \
                f'i64 {len(sites) - 1})' + line[m.end():]
        elif line.startswith('declare void @"qcomp_parallel_for"'):
            out.append(line)
            line = 'declare void @"qcomp_trace_for"(ptr, ptr, i64, i64)'
        out.append(line)
    return "\n".join(out) + "\n", sites


def traced_artifact(art: Path, work: Path) -> list[tuple[int, str, int]]:
    """A copy of art in work whose model.so runs every parallel phase through qcomp_trace_for."""
    manifest = read_manifest(art)
    target = get_target(manifest["target"])
    if target.backend != "llvm" or target.kind != "native":
        raise SystemExit(f"{art}: a {manifest['target']} artifact; thread_balance needs a native llvm build")
    work.mkdir(parents=True, exist_ok=True)
    for f in art.iterdir():
        (work / f.name).unlink(missing_ok=True)      # never write through a link into art
        if f.name not in ("model.so", "model.o", "model.ll", "manifest.json"):
            (work / f.name).symlink_to(f.resolve())
    text, sites = instrument((art / "model.ll").read_text())
    (work / "model.ll").write_text(text)
    compile_object(work / "model.ll", work / "model.o", target)
    (work / "trace.c").write_text(TRACE_C)
    subprocess.run(["gcc", "-c", "-O2", "-fPIC", "-o", str(work / "trace.o"), str(work / "trace.c")], check=True)
    objects = [work / "model.o", work / "trace.o", art / "pool.o", art / "cpu_check.o"]
    objects += [art / "weights.o"] if (art / "weights.o").exists() else []
    subprocess.run(["gcc", "-shared", "-o", str(work / "model.so"), *map(str, objects), "-lm", "-pthread"], check=True)
    write_manifest(work, {k: v for k, v in manifest.items() if k not in (FILES_KEY, DIGEST_KEY)})
    return sites


def job_times(work: Path, sites: list[tuple[int, str, int]], names: dict[int, str], runs: int):
    """(site -> median ns of each of its jobs, node index -> median ns of the node outside its jobs) over
    `runs` runs (after 2 warm-up runs) on one thread. A job's interval holds about one clock read (the
    end of the one before it, the start of the one after), subtracted; a node's time (the per-node
    profiler, the same clock) less its jobs and their other clock reads is its serial work: what the
    calling thread does alone however many threads there are."""
    from qcomp.runtime.llvm import Runner
    runner = Runner(work / "model.so", num_threads=1)
    feeds = random_feeds(read_manifest(work)["inputs"], np.random.default_rng(0))
    lib = ctypes.CDLL(str(work / "model.so"))
    count = ctypes.c_int64.in_dll(lib, "qcomp_trace_count")
    records = (ctypes.c_int64 * (3 * (1 << 22))).in_dll(lib, "qcomp_trace_records")
    lib.qcomp_trace_clock_cost.restype = ctypes.c_int64
    clock_ns = min(lib.qcomp_trace_clock_cost() for _ in range(5))
    site_node = np.array([node for node, _, _ in sites] or [0])
    index_of = {name: i for i, name in names.items()}
    samples: dict[tuple[int, int], list[int]] = defaultdict(list)
    serial: dict[int, list[float]] = defaultdict(list)
    for r in range(runs + 2):
        count.value = 0
        profiled, node_ns, _ = runner.profile(dict(feeds), 1)
        rec = np.ctypeslib.as_array(records)[:3 * count.value].reshape(-1, 3)
        if r < 2:
            continue
        for s, j, ns in rec:
            samples[(int(s), int(j))].append(int(ns))
        in_jobs: dict[int, float] = defaultdict(float)
        for s, _, ns in rec:
            in_jobs[int(site_node[s])] += float(ns) + clock_ns
        for k, name in enumerate(profiled):
            if name in index_of:
                serial[index_of[name]].append(float(node_ns[0, k]) - in_jobs[index_of[name]])
    out: dict[int, list[float]] = defaultdict(list)
    for (s, j) in sorted(samples):
        out[s].append(max(0.0, statistics.median(samples[(s, j)]) - clock_ns))
    return {s: np.array(v) for s, v in out.items()}, {i: statistics.median(v) for i, v in serial.items()}


def cold(times: np.ndarray) -> float:
    """What job 0 costs over the others' median: the phase's first touch of its weights and tables, which
    the serial trace pays once and T threads pay once each (on each thread's first job)."""
    return max(0.0, float(times[0] - np.median(times[1:]))) if len(times) > 1 else 0.0


def makespan(times: np.ndarray, threads: int) -> float:
    """The pool's schedule: jobs claimed in index order by whichever thread is free first; each thread's
    first job pays the cold cost (job 0 has it already)."""
    free, c = [0.0] * threads, cold(times)
    for n, t in enumerate(times):
        i = min(range(threads), key=free.__getitem__)
        free[i] += float(t) + (c if 0 < n < threads else 0.0)
    return max(free)


def ideal(times: np.ndarray, threads: int) -> float:
    """All the work, the cold costs of every thread that gets a job included, divided evenly."""
    return (float(times.sum()) + (min(threads, len(times)) - 1) * cold(times)) / threads


def node_table(art: Path) -> tuple[dict[int, str], dict[int, str]]:
    """node index (as in model.ll's node.N) -> kind, and -> name, of the target graph."""
    from qcomp.codegen.llvm import separate_raw_outputs
    from qcomp.layer_profile import _target_graph
    g = separate_raw_outputs(_target_graph(art, get_target(read_manifest(art)["target"])))
    return {i: n.kind for i, n in enumerate(g.nodes)}, {i: n.name for i, n in enumerate(g.nodes)}


def report(sites, times, kinds, threads: list[int], top: int, node_serial: dict[int, float] | None = None) -> list[str]:
    groups: dict[tuple, list[np.ndarray]] = defaultdict(list)
    for s, (node, job, n) in enumerate(sites):
        if s in times:
            groups[(kinds.get(node, "?"), job, n)].append(times[s])
    rows = []
    for (kind, job, n), ts in groups.items():
        serial = sum(float(t.sum()) for t in ts)
        best = {T: sum(ideal(t, T) for t in ts) for T in threads}
        loss = {T: sum(makespan(t, T) for t in ts) - best[T] for T in threads}
        spread = statistics.median(float(t.max() / max(t.min(), 1.0)) for t in ts)
        rows.append((loss[threads[0]], kind, job, n, len(ts), statistics.median(float(np.median(t)) for t in ts),
                     spread, serial, loss, best))
    rows.sort(key=lambda r: -r[0])
    head = f"{'node kind':26} {'job':16} {'jobs':>4} {'sites':>5} {'job us':>7} {'max/min':>7} {'1T us':>8}"
    head += "".join(f" {f'loss@{T} us':>11} {'%':>5}" for T in threads)
    lines = [head]
    for _, kind, job, n, count, med, spread, serial, loss, best in rows[:top]:
        line = f"{kind[:26]:26} {job[:16]:16} {n:4d} {count:5d} {med / 1e3:7.1f} {spread:7.2f} {serial / 1e3:8.1f}"
        line += "".join(f" {loss[T] / 1e3:11.1f} {100 * loss[T] / best[T]:5.1f}" for T in threads)
        lines.append(line)
    total = sum(r[7] for r in rows)
    lines.append(f"parallel phases: {len(sites)} fork-joins, {total / 1e6:.3f} ms at 1 thread (sum of job times)")
    for T in threads:
        lost, best = sum(r[8][T] for r in rows), sum(r[9][T] for r in rows)
        lines.append(f"  {T} threads: ideal {best / 1e6:.3f} ms, modelled {(best + lost) / 1e6:.3f} ms "
                     f"(+{lost / 1e6:.3f} ms, {100 * lost / best:.1f} % over ideal)")
    node_serial = node_serial or {}
    outside = sum(node_serial.values())
    by_kind: dict[str, list[float]] = defaultdict(list)
    for node, ns in node_serial.items():
        by_kind[kinds.get(node, "?")].append(ns)
    lines.append(f"serial work inside the nodes (the calling thread alone): {outside / 1e6:.3f} ms per run; "
                 f"the nodes at 1 thread {(total + outside) / 1e6:.3f} ms")
    for kind, v in sorted(by_kind.items(), key=lambda kv: -sum(kv[1]))[:8]:
        per_node = sum(v) / len(v) / 1e3
        lines.append(f"  {kind[:26]:26} {len(v):4d} nodes {sum(v) / 1e3:8.1f} us ({per_node:.1f} per node)")
    for T in threads:
        lost, best = sum(r[8][T] for r in rows), sum(r[9][T] for r in rows)
        lines.append(f"  {T} threads, no hand-off cost: {(outside + best + lost) / 1e6:.3f} ms, "
                     f"{(total + outside) / (outside + best + lost):.2f}x of 1 thread")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("artifact")
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--threads", type=int, nargs="+", default=[2, 4])
    ap.add_argument("--top", type=int, default=25)
    ap.add_argument("--work", default=None, help="where the traced copy is built (default: a temporary folder)")
    args = ap.parse_args()
    art = Path(args.artifact)
    tmp = None if args.work else tempfile.mkdtemp(prefix="qcomp-balance-")
    work = Path(args.work or tmp)
    try:
        sites = traced_artifact(art, work)
        kinds, names = node_table(art)
        times, serial = job_times(work, sites, names, args.runs)
        for line in report(sites, times, kinds, args.threads, args.top, serial):
            print(line)
    finally:
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
