"""One fused --quant dynamic attention core (DynamicAttention) built by two qcomp checkouts, on x86-vnni:
CPU time per run, alternating, in one process.

    python benchmarks/attention_checkout_ab.py --base /path/to/base/checkout [--seq 128] [--heads 12]
                                               [--head-dim 32] [--rounds 9] [--runs 40] [--valid T]

The graph and feeds are benchmarks/attention_ab.py's (tests/passes/test_fuse_attention.py's, after
fuse_attention); each checkout emits it in a child process with PYTHONPATH set to that checkout, then both
libraries run here alternately (1 thread), `--runs` runs per round after 3 untimed ones; each figure is the
median of round medians of the calling thread's CPU time. Prints both and this / base; the two outputs
are compared and their equality printed (a change of the float math may move P's last bits).
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(HERE))

BUILD = """
import sys
from qcomp.codegen.llvm import emit
from qcomp.passes.fuse_attention import fuse_attention
from qcomp.target import get_target
from tests.passes import test_fuse_attention as cases
cases.B, cases.SQ, cases.H, cases.D = 1, {seq}, {heads}, {dim}
g = fuse_attention(cases._graph(sk={seq}, dv={dim}))
assert [n.kind for n in g.nodes] == ["DynamicAttention"]
emit(g, get_target("{target}"), sys.argv[1])
"""


def shape_args(ap: argparse.ArgumentParser) -> None:
    """The options both attention checkout scripts take: the other checkout and the core's shape."""
    ap.add_argument("--base", required=True, help="the other qcomp checkout")
    ap.add_argument("--seq", type=int, default=128)
    ap.add_argument("--heads", type=int, default=12)
    ap.add_argument("--head-dim", type=int, default=32)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    shape_args(ap)
    ap.add_argument("--rounds", type=int, default=9)
    ap.add_argument("--runs", type=int, default=40)
    ap.add_argument("--valid", type=int, default=None, help="mask every column from this one on")
    args = ap.parse_args()
    from qcomp.runtime.llvm import Runner
    from tests.passes import test_fuse_attention as cases
    cases.B, cases.SQ, cases.H, cases.D = 1, args.seq, args.heads, args.head_dim
    cases.PADDED = args.seq if args.valid is None else args.valid
    feeds = cases._feeds(cases._graph(sk=args.seq, dv=args.head_dim))
    code = BUILD.format(seq=args.seq, heads=args.heads, dim=args.head_dim, target="x86-vnni")
    with tempfile.TemporaryDirectory(prefix="qcomp-attention-") as tmp:
        runners = {}
        for name, checkout in (("base", Path(args.base).resolve()), ("this", HERE)):
            out = Path(tmp) / name
            out.mkdir()
            subprocess.run([sys.executable, "-c", code, str(out)], check=True,
                           env={**os.environ, "PYTHONPATH": str(checkout)}, cwd=checkout)
            runners[name] = Runner(out / "model.so", num_threads=1)
        outs = [r.run(dict(feeds))["y"] for r in runners.values()]
        medians: dict[str, list[float]] = {name: [] for name in runners}
        for r in range(args.rounds):
            for name in (list(runners) if r % 2 == 0 else list(runners)[::-1]):
                for _ in range(3):
                    runners[name].run(dict(feeds))
                seconds = []
                for _ in range(args.runs):
                    t0 = time.thread_time()
                    runners[name].run(dict(feeds))
                    seconds.append(time.thread_time() - t0)
                medians[name].append(statistics.median(seconds))
    a, b = (1e6 * statistics.median(medians[name]) for name in ("base", "this"))
    print(f"S {args.seq} ({cases.PADDED} unpadded), {args.heads} heads of {args.head_dim}, 1 thread: base {a:.1f} us, "
          f"this {b:.1f} us, this / base {b / a:.3f}; outputs equal: {np.array_equal(*outs)}")


if __name__ == "__main__":
    main()
