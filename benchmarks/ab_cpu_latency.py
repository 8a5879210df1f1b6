"""Two artifacts' latency in one process, alternating: the CPU time of the running thread.

    python benchmarks/ab_cpu_latency.py A_DIR B_DIR [--rounds 7] [--runs 20] [--threads 1] [--feeds NPZ]

On a shared machine wall times carry the other processes' load; at 1 thread the calling thread's CPU
time (time.thread_time) does not, and alternating A and B over rounds spreads what is left evenly.
Prints each artifact's median of round medians and B / A. Random feeds from each manifest (seed 0), or
--feeds: one .npz of inputs for both.
"""
from __future__ import annotations

import argparse
import statistics
import time

import numpy as np

from qcomp.artifact import read_manifest
from qcomp.bench import load_qcomp, random_feeds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("a")
    ap.add_argument("b")
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--feeds", default=None, help="an .npz of both artifacts' inputs (default: random feeds)")
    args = ap.parse_args()
    paths = {"A": args.a, "B": args.b}
    arts = {k: load_qcomp(p, args.threads) for k, p in paths.items()}
    feeds = {k: random_feeds(read_manifest(p)["inputs"], np.random.default_rng(0)) for k, p in paths.items()}
    if args.feeds:                          # a real input (a padded sentence) instead of random ones
        feeds = {k: dict(np.load(args.feeds)) for k in paths}
    medians: dict[str, list[float]] = {k: [] for k in arts}
    for r in range(args.rounds):
        for k in (list(arts) if r % 2 == 0 else list(arts)[::-1]):
            for _ in range(3):
                arts[k].run(dict(feeds[k]))
            seconds = []
            for _ in range(args.runs):
                t0 = time.thread_time()
                arts[k].run(dict(feeds[k]))
                seconds.append(time.thread_time() - t0)
            medians[k].append(statistics.median(seconds))
    a, b = (1e3 * statistics.median(medians[k]) for k in ("A", "B"))
    print(f"A {a:.2f} ms CPU ({args.a}), B {b:.2f} ms CPU ({args.b}), B / A {b / a:.3f}")


if __name__ == "__main__":
    main()
