"""Instructions executed by one fused --quant dynamic attention core (DynamicAttention) on arm-sdot, built by
two qcomp checkouts, counted under QEMU (no Arm board: counts, not times).

    python benchmarks/attention_arm_count.py --base /path/to/base/checkout [--seq 128] [--heads 12] [--head-dim 32]

The graph and feeds are benchmarks/attention_ab.py's (after fuse_attention); each checkout emits it for
arm-sdot in a child process (PYTHONPATH and working directory that checkout); the runner runs under
qemu-aarch64 with benchmarks/arm_insn_plugin.c (arm_cost.py's count()), one thread, and the figure is
(count with --repeat 3 - count with --repeat 1) / 2: one run, start-up removed. Prints both and this / base.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE / "benchmarks"))

from attention_checkout_ab import BUILD, shape_args  # noqa: E402  (the build of one fused core, the shape options)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    shape_args(ap)
    args = ap.parse_args()
    import arm_cost
    from qcomp.runtime.llvm_cross import CrossRunner
    from qcomp.target import get_target
    from tests.passes import test_fuse_attention as cases
    cases.B, cases.SQ, cases.H, cases.D = 1, args.seq, args.heads, args.head_dim
    cases.PADDED = args.seq
    g = cases._graph(sk=args.seq, dv=args.head_dim)
    feeds = cases._feeds(g)
    code = BUILD.format(seq=args.seq, heads=args.heads, dim=args.head_dim, target="arm-sdot")
    counts = {}
    with tempfile.TemporaryDirectory(prefix="qcomp-attention-arm-") as tmp:
        plugin, why = arm_cost.build_plugin(Path(tmp))
        if plugin is None:
            raise SystemExit(why)
        for name, checkout in (("base", Path(args.base).resolve()), ("this", HERE)):
            out = Path(tmp) / name
            out.mkdir()
            subprocess.run([sys.executable, "-c", code, str(out)], check=True,
                           env={**os.environ, "PYTHONPATH": str(checkout)}, cwd=checkout)
            runner = CrossRunner(out / "runner", get_target("arm-sdot"), g.inputs, g.outputs)
            io = []
            for k, inp in enumerate(runner.inputs):
                np.save(out / f"in{k}.npy", feeds[inp])
                io += ["-i", str(out / f"in{k}.npy")]
            for k in range(len(runner.outputs)):
                io += ["-o", str(out / f"out{k}.npy")]
            i1, _ = arm_cost.count(runner.command(), plugin, ["--repeat", "1", *io], out)
            i3, _ = arm_cost.count(runner.command(), plugin, ["--repeat", "3", *io], out)
            counts[name] = (i3 - i1) // 2
    a, b = counts["base"], counts["this"]
    print(f"arm-sdot, S {args.seq}, {args.heads} heads of {args.head_dim}: base {a:,} instructions a run, "
          f"this {b:,}, this / base {b / a:.3f}")


if __name__ == "__main__":
    main()
