"""One --quant dynamic attention core, unfused against DynamicAttention, on x86-vnni: CPU time per run.

    python benchmarks/attention_ab.py [--seq 128] [--heads 12] [--head-dim 32] [--threads 1] [--rounds 7]
                                      [--valid T]

The graph is tests/passes/test_fuse_attention.py's (head splits, Q K^T * scale + mask, Softmax, P V,
head merge; seeded feeds: a quarter of the mask's columns at -10000, and with --valid every column
from T on, as a sentence of T tokens padded to --seq), built twice with the llvm backend: as lower_integer and
fuse_dynamic_attention leave it, and after fuse_attention. Both outputs are checked equal, then the two
artifacts run alternately, `--runs` runs per round; the figure of each is the median of its round
medians (the calling thread's CPU time at 1 thread, wall time otherwise). Prints both and fused / unfused.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--heads", type=int, default=12)
    ap.add_argument("--head-dim", type=int, default=32)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--runs", type=int, default=40)
    ap.add_argument("--valid", type=int, default=None,
                    help="mask every column from this one on (a padded sentence of VALID tokens)")
    args = ap.parse_args()
    from qcomp.codegen.llvm import emit
    from qcomp.passes.fuse_attention import fuse_attention
    from qcomp.runtime.llvm import Runner
    from qcomp.target import get_target
    from tests.passes import test_fuse_attention as cases
    cases.B, cases.SQ, cases.H, cases.D = 1, args.seq, args.heads, args.head_dim
    unfused = cases._graph(sk=args.seq, dv=args.head_dim)
    graphs = {"unfused": unfused, "fused": fuse_attention(unfused)}
    assert [n.kind for n in graphs["fused"].nodes] == ["DynamicAttention"]
    cases.PADDED = args.seq if args.valid is None else args.valid
    feeds = cases._feeds(unfused)
    with tempfile.TemporaryDirectory(prefix="qcomp-attention-") as tmp:
        runners = {}
        for name, g in graphs.items():
            (Path(tmp) / name).mkdir()
            emit(g, get_target("x86-vnni"), Path(tmp) / name)
            runners[name] = Runner(Path(tmp) / name / "model.so", num_threads=args.threads)
        outs = [r.run(dict(feeds))["y"] for r in runners.values()]
        assert np.array_equal(*outs), "the fused node's output differs from the unfused nodes'"
        clock = time.thread_time if args.threads == 1 else time.perf_counter
        medians: dict[str, list[float]] = {name: [] for name in runners}
        for r in range(args.rounds):
            for name in (list(runners) if r % 2 == 0 else list(runners)[::-1]):
                for _ in range(3):
                    runners[name].run(dict(feeds))
                seconds = []
                for _ in range(args.runs):
                    t0 = clock()
                    runners[name].run(dict(feeds))
                    seconds.append(clock() - t0)
                medians[name].append(statistics.median(seconds))
    a, b = (1e6 * statistics.median(medians[name]) for name in ("unfused", "fused"))
    print(f"S {args.seq} ({cases.PADDED} unpadded), {args.heads} heads of {args.head_dim}, {args.threads} thread(s): "
          f"unfused {a:.1f} us, fused {b:.1f} us, fused / unfused {b / a:.3f}")


if __name__ == "__main__":
    main()
