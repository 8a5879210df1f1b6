"""Per-node 2-thread scaling of llvm artifacts: where a second core's time goes.

    python benchmarks/thread_scaling.py ARTIFACT [ARTIFACT ...] [--threads 1,2] [--runs 50] [--rounds 3] [--top 20]
                                        [--json OUT.json]

`rounds` rounds; in each, for every artifact and thread count (in an order rotated every round), a
fresh child process times every node with the artifact's own per-node clock
(qcomp.layer_profile.profile_layers: the median over `runs` runs after 5 warm-up runs). A node's figure
is the median over the rounds. The table lists the nodes by the time lost to imperfect scaling,

    lost = t(n threads) - t(1 thread) / n        (0: perfect scaling; > 0: the time a core idles or waits)

with the speedup t(1) / t(n) and, for nodes with MACs, the share of the n-core VNNI peak
(layer_profile.cpu_peak: the measured clock). The totals compare the sums of the node medians.
The peak is the profiler's: 1 vpdpbusd zmm per cycle per core on Zen 4 (two 256-bit halves).
"""
from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def child(artifact: str, threads: int, runs: int) -> dict:
    from qcomp.layer_profile import profile_layers
    p = profile_layers(artifact, threads=threads, runs=runs, warmup=5)
    return {"threads": p.threads, "peak_gops": p.peak.gops, "cpu": p.cpu_model, "run_ms": p.run_ms,
            "layers": [[layer.name, layer.op, layer.macs, layer.ms] for layer in p.layers]}


def profile(artifact: str, threads: int, runs: int) -> dict:
    r = subprocess.run([sys.executable, __file__, "--child", json.dumps([artifact, threads, runs])],
                       capture_output=True, text=True, cwd=REPO, timeout=1800)
    if r.returncode:
        raise SystemExit(f"profiling {artifact} at {threads} threads failed:\n{r.stderr}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def collect(artifacts: list[str], counts: list[int], runs: int, rounds: int) -> dict:
    """artifact -> thread count -> the profiles of the rounds; each round runs every (artifact,
    count) pair once, in an order rotated from round to round (the machine's load spread evenly)."""
    pairs = [(a, n) for n in counts for a in artifacts]
    got: dict = {a: {n: [] for n in counts} for a in artifacts}
    for r in range(rounds):
        shift = r % len(pairs)
        for a, n in pairs[shift:] + pairs[:shift]:
            got[a][n].append(profile(a, n, runs))
    return got


def report(artifact: str, got: dict, counts: list[int], rounds: int, runs: int, top: int, record: dict) -> list[str]:
    base, many = counts[0], counts[-1]
    first = got[base][0]
    names = [row[0] for row in first["layers"]]
    ops = {row[0]: (row[1], row[2]) for row in first["layers"]}
    ms = {n: {name: statistics.median(p["layers"][i][3] for p in got[n]) for i, name in enumerate(names)}
          for n in counts}
    run_ms = {n: statistics.median(p["run_ms"] for p in got[n]) for n in counts}
    record[artifact] = {str(n): {"nodes": ms[n], "ops": {name: ops[name][0] for name in names}, "run_ms": run_ms[n]}
                        for n in counts}
    peak = {n: got[n][0]["peak_gops"] for n in counts}
    lines = [f"{artifact}: per-node median ms over {rounds} rounds x {runs} runs; CPU {first['cpu']}; "
             f"{many}-thread VNNI peak {peak[many]:.0f} GOPS",
             "", f"| node | op | MMACs | {base} thr ms | {many} thr ms | speedup | lost ms | {many} thr % peak |",
             "|---|---|---|---|---|---|---|---|"]
    lost = {name: ms[many][name] - ms[base][name] * base / many for name in names}
    order = sorted(names, key=lambda name: -lost[name])
    for name in order[:top]:
        op, macs = ops[name]
        t1, tn = ms[base][name], ms[many][name]
        share = f"{100 * 2 * macs / (tn * 1e-3) / 1e9 / peak[many]:.0f} %" if macs and tn > 0 else "-"
        lines.append(f"| {name} | {op} | {macs / 1e6:.1f} | {t1:.4f} | {tn:.4f} | {t1 / tn if tn else 0:.2f}x | "
                     f"{lost[name]:.4f} | {share} |")
    if len(order) > top:
        rest = order[top:]
        lines.append(f"| ({len(rest)} more nodes) | | | {sum(ms[base][n] for n in rest):.4f} | "
                     f"{sum(ms[many][n] for n in rest):.4f} | | {sum(lost[n] for n in rest):.4f} | |")
    t1, tn = sum(ms[base].values()), sum(ms[many].values())
    lines += [f"| all {len(names)} nodes | | {sum(m for _, m in ops.values()) / 1e6:.0f} | {t1:.4f} | {tn:.4f} | "
              f"{t1 / tn:.2f}x | {sum(lost.values()):.4f} | |",
              "", f"whole run call (median): {run_ms[base]:.3f} ms at {base} thread(s), {run_ms[many]:.3f} ms at {many}"]
    return lines


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("artifacts", nargs="*")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--top", type=int, default=20)
    ap.add_argument("--json", help="also write every node's medians here")
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(child(*json.loads(args.child))))
        return 0
    counts = [int(n) for n in args.threads.split(",")]
    record: dict = {}
    got = collect(args.artifacts, counts, args.runs, args.rounds)
    for artifact in args.artifacts:
        print("\n".join(report(artifact, got[artifact], counts, args.rounds, args.runs, args.top, record)), flush=True)
        print()
    if args.json:
        Path(args.json).write_text(json.dumps(record, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
