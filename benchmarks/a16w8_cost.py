"""A16W8 (int16 activations) against int8 on Cortex-M4 and M55: instructions per MAC of one conv layer.

    python benchmarks/a16w8_cost.py              prints the table and updates RESULTS.md (section a16w8-m4)
    python benchmarks/a16w8_cost.py --no-write

Each layer is one TARGET-stage QConv2D16 (tests/opcases/graphs16.py: int16 input, int8 weights,
int64 bias, int16 output) and its int8 twin of the same geometry (tests/opcases/graphs.py: QConv2D),
seeded; each is built by qcomp.codegen.c.emit for cortex-m4 (and cortex-m55) and run on
qemu-system-arm -icount shift=0 (mps2-an386; mps3-an547), where the runner's SysTick count around
qcomp_run_mode is the instruction count. Builds: int8 default (Cortex-M4: SXTB16 + SMLAD, two pixels
x two channels; M55: VMLADAVA.S8), A16W8 default (Cortex-M4: SMLAD on int16 pairs of activations and
build-time widened weights, two pixels x two channels, int32 blocks of 504 K-terms added into int64;
M55: VMLADAVA.S16 on 8 int16 lanes), A16W8 -DQCOMP_PORTABLE on cortex-m4 (the scalar loops of the
same kernel). Every output equals qcomp.ref.run_integer's (the script stops otherwise). Instructions per
MAC = instructions of the whole run / (N * OH * OW * O * K): it includes the patch copies and the
requantize of every output, not just the inner loop.
"""
from __future__ import annotations

import argparse
import dataclasses
import sys
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
for _p in (str(HERE), str(REPO)):
    if _p not in sys.path:
        sys.path.insert(0, _p)

from accuracy_lib.report import table, update_section  # noqa: E402
from qcomp.codegen.c import emit  # noqa: E402
from qcomp.ref import run_integer  # noqa: E402
from qcomp.runtime.c import load  # noqa: E402
from qcomp.target import get_target, host_support  # noqa: E402
from tests.opcases import graphs, graphs16  # noqa: E402

# name: (input NHWC, output channels, kernel, pads)
LAYERS = {
    "conv 3x3, 16x16x32 -> 32 (K = 288, int32 acc)": ((1, 16, 16, 32), 32, (3, 3), (1, 1, 1, 1)),
    "conv 1x1, 8x8x640 -> 32 (K = 640, int64 acc)": ((1, 8, 8, 640), 32, (1, 1), (0, 0, 0, 0)),
}


def _variant(target_name: str, extra: tuple[str, ...]):
    target = get_target(target_name)
    return dataclasses.replace(target, toolchain={**target.toolchain,
                                                  "cflags": [*target.toolchain["cflags"], *extra]})


def instructions(graph, feeds, target_name: str = "cortex-m4", extra: tuple[str, ...] = ()) -> int:
    """Instructions of one qcomp_run_mode (QEMU -icount); the outputs must equal the reference's."""
    target = _variant(target_name, extra)
    with tempfile.TemporaryDirectory(prefix="qcomp-a16w8-") as out:
        runner = load(out, emit(graph, target, out), target)
        got = runner.run(dict(feeds))
        want = run_integer(graph, feeds)
        for k, v in want.items():
            if not np.array_equal(got[k], v):
                raise SystemExit(f"{graph.name}: output {k!r} differs from the reference")
        return int(runner.last_instructions)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--no-write", action="store_true", help="print only, leave RESULTS.md alone")
    args = ap.parse_args()
    for name in ("cortex-m4", "cortex-m55"):
        support = host_support(get_target(name))
        if not support.can_run:
            raise SystemExit(f"{name} cannot run here: {support.why}")
    rows = []
    for title, (shape, out_ch, kernel, pads) in LAYERS.items():
        rng = np.random.default_rng(0)
        g8, f8 = graphs.conv("int8", rng, shape, out_ch, kernel, pads=pads)
        g16, f16 = graphs16.conv16("a16w8", np.random.default_rng(0), shape, out_ch, kernel, pads=pads)
        n, h, w, c = shape
        macs = n * h * w * out_ch * kernel[0] * kernel[1] * c   # stride 1, 'same' or 1x1: OH = H, OW = W
        i8, i16 = instructions(g8, f8), instructions(g16, f16)
        i16p = instructions(g16, f16, extra=("-DQCOMP_PORTABLE",))
        h8, h16 = instructions(g8, f8, "cortex-m55"), instructions(g16, f16, "cortex-m55")
        acc_bits = next(nd.op.acc_bits for nd in g16.nodes if hasattr(nd.op, "acc_bits"))
        rows.append((title, f"{macs:,}", str(acc_bits), f"{i8 / macs:.3f}", f"{i16 / macs:.3f}", f"{i16p / macs:.3f}",
                     f"{i16 / i8:.2f}x", f"{h8 / macs:.3f}", f"{h16 / macs:.3f}", f"{h16 / h8:.2f}x"))
        print(rows[-1], flush=True)
    body = "\n".join([
        "## A16W8 on Cortex-M4 and M55: one conv layer, int16 activations vs its int8 twin", "",
        "Instructions per MAC of the whole layer (qemu-system-arm -icount shift=0, mps2-an386 / mps3-an547; patch "
        "copies and requantize included), outputs bit-exact to qcomp.ref. `python benchmarks/a16w8_cost.py`.", "",
        *table(["layer", "MACs", "A16W8 acc bits", "M4 int8 (SXTB16 + SMLAD)", "M4 A16W8 (SMLAD)",
                "M4 A16W8 -DQCOMP_PORTABLE", "M4 A16W8 / int8", "M55 int8 (VMLADAVA.S8)", "M55 A16W8 (VMLADAVA.S16)",
                "M55 A16W8 / int8"], rows),
        "",
        "A16W8: weights widened to int16 at build time, so one 32-bit load holds two int16 terms of activations "
        "and of weights and one SMLAD adds both products (the int8 kernel needs SXTB16 to widen its bytes first, but "
        "gets four terms per load); on M55 a VMLADAVA.S16 takes 8 lanes where VMLADAVA.S8 takes 16; int32 partial sums over blocks of 504 K-terms (504 * 32768 * 128 < "
        "2^31, exact) are added into int64 for the acc_bits 64 layers.",
    ])
    print(body)
    if not args.no_write:
        update_section(HERE / "RESULTS.md", "a16w8-m4", body)


if __name__ == "__main__":
    main()
