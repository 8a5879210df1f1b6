"""Two llvm artifacts of one model, node by node: the minimum of each node's time over many runs.

    python benchmarks/node_ab.py A_DIR B_DIR [--threads 1] [--runs 200] [--rounds 3]

On a shared machine a node's time in one run carries the other processes' preemptions and cache
traffic; its minimum over `runs` profiled runs (the artifact's own per-node clock, qcomp_set_profiler)
is the run that had the core to itself. Each round profiles A and B in fresh child processes, their
order alternating between rounds; a node's figure is the median of its round minima. Prints the
nodes slowest first (layer shape, MACs, A, B, B / A) and the sums; the nodes are matched by name, so
both artifacts must come from the same model. Memory-bound nodes still swing with what the other
processes keep in the shared L3; compute-bound ones agree within a fraction of a percent.
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

import numpy as np


def child(path: str, threads: int, runs: int) -> dict:
    from qcomp.artifact import read_manifest
    from qcomp.bench import load_qcomp, random_feeds
    art = load_qcomp(path, threads)
    feeds = random_feeds(read_manifest(path)["inputs"], np.random.default_rng(0))
    names, times, _ = art._runner.profile(feeds, runs, 10)
    return {n: float(times[:, i].min()) / 1e6 for i, n in enumerate(names)}


def describe(path: str) -> dict:
    """node name -> (op, layer shape text, MACs) from the artifact's TARGET graph."""
    from qcomp.builder import target_passes
    from qcomp.ir.serialize import load_graph
    from qcomp.ir.stats import node_macs
    from qcomp.passes.pipeline import run_passes
    from qcomp.target import get_target
    from qcomp.artifact import read_manifest
    g = run_passes(load_graph(Path(path) / "model.qir"), target_passes(get_target(read_manifest(Path(path))["target"])))
    out = {}
    for node in g.nodes:
        layer = ""
        if node.kind.startswith("QConv"):
            w, x, y = (g.types[v].shape for v in (node.inputs[1], node.inputs[0], node.outputs[0]))
            layer = f"{w[1]}x{w[2]} {x[-1]}->{w[0]}" + (f" g{node.op.group}" if node.op.group > 1 else "") + \
                (f" s{node.op.strides[0]}" if node.op.strides[0] > 1 else "") + f" @{y[1]}"
        out[node.name] = (node.kind, layer, node_macs(g, node))
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("a", nargs="?")
    ap.add_argument("b", nargs="?")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--runs", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(child(*json.loads(args.child))))
        return 0
    got: dict[str, list[dict]] = {args.a: [], args.b: []}
    for r in range(args.rounds):
        for path in ((args.a, args.b) if r % 2 == 0 else (args.b, args.a)):
            out = subprocess.run([sys.executable, __file__, "--child", json.dumps([path, args.threads, args.runs])],
                                 capture_output=True, text=True, timeout=1800)
            if out.returncode:
                raise SystemExit(f"profiling {path} failed:\n{out.stderr}")
            got[path].append(json.loads(out.stdout.strip().splitlines()[-1]))
    names = list(got[args.a][0])
    ma = {n: statistics.median(g[n] for g in got[args.a]) for n in names}
    mb = {n: statistics.median(g.get(n, 0.0) for g in got[args.b]) for n in names}
    info = describe(args.a)
    sa, sb = sum(ma.values()), sum(mb.values())
    print(f"{args.threads} thread(s): per-node minimum over {args.runs} runs, median of {args.rounds} rounds; "
          f"sum A {sa:.4f} ms, B {sb:.4f} ms, B/A {sb / sa:.3f}")
    print("| node | op | layer | MMACs | A ms | B ms | B/A |")
    print("|---|---|---|---|---|---|---|")
    for n in sorted(names, key=lambda n: -ma[n]):
        op, layer, macs = info.get(n, ("?", "", 0))
        print(f"| {n} | {op} | {layer} | {macs / 1e6:.1f} | {ma[n]:.4f} | {mb[n]:.4f} | "
              f"{mb[n] / ma[n] if ma[n] else 0:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
