"""The cost of one `run` outside the model's nodes: `qcomp.load(ART).run(feeds)` against the bare
`qcomp_run_ex` call on the same inputs and preallocated outputs, in the calling thread's CPU time.

    python benchmarks/run_overhead.py ART [ART ...] [--base CHECKOUT] [--rounds 7] [--runs N] [--threads 1]

Per artifact: the median over rounds of each round's median per call of (a) the bare ctypes call with
prebuilt pointer arrays (the library's own time: its nodes and its entry checks), (b) Artifact.run
(feed checks, output arrays, ctypes arguments, the call) and (c) "outside the nodes": each
Artifact.run less the qcomp_run_ex call inside it (timed by a wrapper around the library's function,
whose own Python call is counted in (c)), the Python side of a run, measured per run so that the
nodes' time and its noise (0.5 % of a 9 ms run is more than the whole Python side) drop out.
--base CHECKOUT also runs the same measurement with that checkout's qcomp (PYTHONPATH), one child process per checkout and round,
alternating which goes first, and prints both overheads and what this checkout saves.
"""
from __future__ import annotations

import argparse
import ctypes
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent


class _Timed:
    """The runner's library with qcomp_run_ex timed: `inside` gets the thread CPU ns of each call."""

    def __init__(self, lib, inside: list[int]):
        self._lib, self._inside, self._real = lib, inside, lib.qcomp_run_ex

    def qcomp_run_ex(self, *args):
        t0 = time.thread_time_ns()
        status = self._real(*args)
        self._inside.append(time.thread_time_ns() - t0)
        return status

    def __getattr__(self, name):
        return getattr(self._lib, name)


def measure(art_path: str, runs: int, threads: int) -> dict[str, float]:
    """{"bare": us, "run": us, "outside": us}: medians over `runs` timed calls each (after 3 untimed
    ones) of the bare call, of Artifact.run, and of Artifact.run less the qcomp_run_ex call inside it."""
    import qcomp
    from qcomp.artifact import read_manifest
    from qcomp.bench import random_feeds
    art = qcomp.load(art_path, num_threads=threads)
    feeds = random_feeds(read_manifest(art_path)["inputs"], np.random.default_rng(0))
    r = art._runner
    ins = [np.ascontiguousarray(feeds[i.name.decode()]) for i in r.inputs]
    outs = [np.empty(tuple(o.shape[:o.rank]), np.float64) for o in r.outputs]   # 8 bytes: wide enough
    in_ptrs = (ctypes.c_void_p * max(len(ins), 1))(*[a.ctypes.data for a in ins])
    out_ptrs = (ctypes.c_void_p * max(len(outs), 1))(*[a.ctypes.data for a in outs])
    real = r._lib.qcomp_run_ex

    def bare():
        if real(r._workspace, r._size, in_ptrs, out_ptrs, 0) != 0:
            raise SystemExit("qcomp_run_ex failed")
    inside: list[int] = []
    r._lib = _Timed(r._lib, inside)
    if hasattr(r, "_run_ex"):   # a runner that keeps the function itself
        r._run_ex = r._lib.qcomp_run_ex
    times = {}
    for name, fn in (("bare", bare), ("run", lambda: art.run(feeds))):
        for _ in range(3):
            fn()
        ns, outside = [], []
        for _ in range(runs):
            inside.clear()
            t0 = time.thread_time_ns()
            fn()
            ns.append(time.thread_time_ns() - t0)
            outside.append(ns[-1] - sum(inside))
        times[name] = statistics.median(ns) / 1e3
    times["outside"] = statistics.median(outside) / 1e3
    return times


def rounds_in_child(checkout: str, args) -> list[dict[str, float]]:
    env = dict(os.environ, PYTHONPATH=checkout)
    cmd = [sys.executable, str(HERE / "run_overhead.py"), "--child", "--runs", str(args.runs),
           "--threads", str(args.threads), *args.artifacts]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True, cwd=checkout).stdout
    return json.loads(out.splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("artifacts", nargs="+")
    ap.add_argument("--base", default=None, help="another qcomp checkout to compare against")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    args.artifacts = [str(Path(a).resolve()) for a in args.artifacts]
    if args.child:   # one round of every artifact, as JSON
        print(json.dumps([measure(a, args.runs, args.threads) for a in args.artifacts]))
        return
    here = str(HERE.parent)
    checkouts = {"this": here} | ({"base": str(Path(args.base).resolve())} if args.base else {})
    got: dict[str, list[list[dict[str, float]]]] = {k: [] for k in checkouts}
    for r in range(args.rounds):
        for k in (list(checkouts) if r % 2 == 0 else list(checkouts)[::-1]):
            got[k].append(rounds_in_child(checkouts[k], args))
    for i, art in enumerate(args.artifacts):
        line = []
        for k in checkouts:
            bare = statistics.median(g[i]["bare"] for g in got[k])
            run = statistics.median(g[i]["run"] for g in got[k])
            over = statistics.median(g[i]["outside"] for g in got[k])
            line.append(f"{k}: bare {bare:.1f} us, run {run:.1f} us, outside the nodes {over:.1f} us")
        if args.base:
            d = [statistics.median(g[i]["outside"] for g in got[k]) for k in ("base", "this")]
            line.append(f"saved {d[0] - d[1]:.1f} us per run")
        print(f"{Path(art).name}: " + "; ".join(line))


if __name__ == "__main__":
    main()
