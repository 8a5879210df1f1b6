"""Single-node DynamicDenseAddNorm and LayerNorm artifacts of two checkouts, node time alternating.

    python benchmarks/addnorm_ab.py build OUT            (with PYTHONPATH set to the checkout to build)
    python benchmarks/addnorm_ab.py ab A_OUT B_OUT [--threads 1] [--rounds 7] [--runs 200]

`build` writes one x86-vnni artifact per shape into OUT/NAME (its feeds next to it): the residual
Dense + Add + LayerNorm block of MiniLM (attention output 384 -> 384, FFN output 1536 -> 384) and of a
BERT-base-size encoder (768 -> 768, 3072 -> 768) at 128 tokens (tests/opcases/dynamic_fused_cases.py's
graph, seeded), and a lone LayerNorm node of 128 rows of 384 and of 768. `ab` loads A's and B's
artifact of each name, profiles each node (qcomp_set_profiler: the node's own clock) for `runs`
runs per round, A and B alternating their order every round, and prints the median over rounds of
each round's median and minimum, B / A, and whether A's and B's outputs are equal bit for bit.
"""
from __future__ import annotations

import argparse
import statistics
from pathlib import Path

import numpy as np

DENSE = {"minilm_attn_out": (384, 384), "minilm_ffn_out": (1536, 384),
         "bert_attn_out": (768, 768), "bert_ffn_out": (3072, 768)}
LAYER_NORM = {"layer_norm_384": 384, "layer_norm_768": 768}
TOKENS = 128


def build(out: Path) -> None:
    from qcomp.codegen.llvm import emit
    from qcomp.ir import DType, Graph, Stage, TensorType, ops, verify
    from qcomp.target import get_target
    from tests.opcases.dynamic_fused_cases import dense_add_norm
    target = get_target("x86-vnni")
    graphs = {}
    for name, (k, n) in DENSE.items():
        graphs[name] = dense_add_norm(name, np.random.default_rng(19), (1, TOKENS, k), n)
    for name, n in LAYER_NORM.items():
        rng = np.random.default_rng(20)
        g = Graph(name, Stage.TARGET)
        g.add_input("x", TensorType((1, TOKENS, n), DType.FLOAT32))
        params = [g.add_constant(p, rng.standard_normal(n).astype(np.float32)) for p in "sb"]
        g.add_node(ops.LayerNorm(2, 1e-12), ["x", *params], "y", outputs=["y"])
        g.outputs = ["y"]
        graphs[name] = verify(g), {"x": (rng.standard_normal((1, TOKENS, n)) * 3 + 1).astype(np.float32)}
    for name, (g, feeds) in graphs.items():
        d = out / name
        d.mkdir(parents=True, exist_ok=True)
        emit(g, target, d)
        np.savez(d / "feeds.npz", **feeds)


def ab(a: Path, b: Path, threads: int, rounds: int, runs: int) -> None:
    from qcomp.runtime.llvm import Runner
    for name in [*DENSE, *LAYER_NORM]:
        feeds = dict(np.load(a / name / "feeds.npz"))
        runners = {"A": Runner(a / name / "model.so", num_threads=threads),
                   "B": Runner(b / name / "model.so", num_threads=threads)}
        same = runners["A"].run(feeds)["y"].tobytes() == runners["B"].run(feeds)["y"].tobytes()
        med, low = {"A": [], "B": []}, {"A": [], "B": []}
        for r in range(rounds):
            for key in ("A", "B") if r % 2 == 0 else ("B", "A"):
                _, ns, _ = runners[key].profile(feeds, runs, 20)
                ms = ns[:, 0].astype(np.float64) / 1e6
                med[key].append(float(np.median(ms)))
                low[key].append(float(ms.min()))
        ma, mb = statistics.median(med["A"]), statistics.median(med["B"])
        la, lb = statistics.median(low["A"]), statistics.median(low["B"])
        print(f"{name:16s} {threads} thread(s)  median A {ma:.4f} B {mb:.4f} ms  B/A {mb / ma:.3f} | "
              f"min A {la:.4f} B {lb:.4f}  B/A {lb / la:.3f} | outputs equal: {same}", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    sub.add_parser("build").add_argument("out", type=Path)
    p = sub.add_parser("ab")
    p.add_argument("a", type=Path)
    p.add_argument("b", type=Path)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--runs", type=int, default=200)
    args = ap.parse_args()
    if args.cmd == "build":
        build(args.out)
    else:
        ab(args.a, args.b, args.threads, args.rounds, args.runs)


if __name__ == "__main__":
    main()
