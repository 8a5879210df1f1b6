"""The four MLPerf Tiny reference models on Cortex-M4, M7 and M55: instructions per inference, per MAC,
per op, flash and RAM, next to the cycles that published latencies imply.

    python benchmarks/mlperf_tiny.py               all four models, updates RESULTS.md (section mlperf-tiny)
    python benchmarks/mlperf_tiny.py --no-write --models kws_dscnn

Models: tests/models/export_mlperf_tiny.py (seeded random weights, through the export cache), each
quantized by qcomp (8 seeded N(0, 1) calibration inputs) and lowered once; every build below runs the
same TARGET graph. Builds (qcomp.codegen.c.emit, run on qemu-system-arm -icount shift=0):

  cortex-m4 plain     the plain per-op reference C (-DQCOMP_PLAIN, emit(plain=True)): textbook loops
  cortex-m4           the default build: SXTB16 + SMLAD, two pixels x two channels per pass
  cortex-m7           the same C for Cortex-M7 (mps2-an500)
  cortex-m55 no-MVE   the Cortex-M4 kernels on Cortex-M55 (-DQCOMP_NO_MVE: DSP extension only)
  cortex-m55          the default build: Helium (VMLADAVA.S8, VCTP-predicated tails)

Every build's raw int8 outputs must equal qcomp.ref.run_integer's (the script stops otherwise).
Instructions: the runner's SysTick count around qcomp_run_mode (one instruction per ns of virtual
time; 40 per tick at 25 MHz on mps2, 31.25 at 32 MHz on mps3-an547). The per-op split comes from a
second build with -DQCOMP_COST_NODES (a SysTick read after every kernel call; its own instructions
make the split's sum slightly larger than the plain count). "Without float I/O" subtracts the split's
Quantize / Dequantize calls (the float input quantized, soft-float on the M4 build, the output copied):
MLPerf Tiny feeds the model int8 data. Flash: text + rodata + data of the
model's objects (code + weights); RAM: arena + static data + gcc's stack bound (manifest figures).

QEMU counts instructions, not cycles: the cycle figures of the published latencies (latency x core
clock) include pipeline stalls, load-use and multiply latencies, flash wait states and cache misses
that an instruction count does not see. On Cortex-M4 most instructions of these loops are single
cycle (SMLAD, SXTB16, LDR 1-2), so instructions are a lower bound of the cycles; on M7 (dual issue)
and M55 (beat-wise MVE: a VMLADAV.S8 of 16 lanes takes 2 beats per 4-lane beat pair) cycles can be
fewer or more than instructions.
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime
import platform
import re
import shlex
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
for _p in (str(HERE), str(REPO)):
    if _p not in sys.path:
        sys.path.insert(0, _p)

from accuracy_lib.report import table, update_section  # noqa: E402
from qcomp.api import load_model  # noqa: E402
from qcomp.builder import BuildOptions, quantize_model  # noqa: E402
from qcomp.codegen.c import emit  # noqa: E402
from qcomp.ir import Graph, qops, verify  # noqa: E402
from qcomp.ir.stats import node_macs  # noqa: E402
from qcomp.passes.lower_integer import lower_integer  # noqa: E402
from qcomp.passes.plan_memory import plan_memory  # noqa: E402
from qcomp.ref import run_integer  # noqa: E402
from qcomp.runtime.c import load  # noqa: E402
from qcomp.target import get_target, host_support  # noqa: E402
from tests.models.export_cache import cached_export  # noqa: E402

MODELS = {   # name: (title, input shape)
    "kws_dscnn": ("Keyword spotting, DS-CNN (49x10 MFCC, 12 classes)", (1, 1, 49, 10)),
    "vww_mobilenet": ("Visual wake words, MobileNetV1 0.25 (96x96x3, 2 classes)", (1, 3, 96, 96)),
    "ic_resnet8": ("Image classification, ResNet-8 (32x32x3, 10 classes)", (1, 3, 32, 32)),
    "ad_autoencoder": ("Anomaly detection, FC autoencoder (640 inputs)", (1, 640)),
}
# Published MLPerf Tiny v1.0 latencies (closed division, ms per inference), as quoted in issue 16:
# NUCLEO-L4R5ZI (Cortex-M4, 120 MHz) with X-CUBE-AI, NUCLEO-H7A3ZI-Q (Cortex-M7, 280 MHz)
PUBLISHED = {"kws_dscnn": (75.1, 16.8), "vww_mobilenet": (225.9, 50.7), "ic_resnet8": (226.8, 54.3),
             "ad_autoencoder": (7.6, 1.83)}
M4_MHZ, M7_MHZ = 120, 280
TFLM_KWS_M4_MS = 182.0   # TFLite Micro + CMSIS-NN reference (v0.5), DS-CNN on the same board
# (label, target, extra cflags, plain, per-op split)
BUILDS = (("cortex-m4 plain", "cortex-m4", (), True, True), ("cortex-m4", "cortex-m4", (), False, True),
          ("cortex-m7", "cortex-m7", (), False, True),
          ("cortex-m55 no-MVE", "cortex-m55", ("-DQCOMP_NO_MVE",), False, True),
          ("cortex-m55", "cortex-m55", (), False, True))
IO_OPS = ("Quantize", "Dequantize")   # the float input / output conversions: MLPerf Tiny feeds int8


@dataclasses.dataclass
class Figures:
    label: str
    instructions: int
    flash: int
    ram: int
    arena: int
    per_op: dict[str, int]

    @property
    def layers(self) -> int:
        """Instructions without the float I/O conversions (their share of the per-op split)."""
        return self.instructions - sum(self.per_op.get(k, 0) for k in IO_OPS)


def _tool_version(cmd: list[str]) -> str:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=30).stdout.splitlines()[0].strip()
    except (OSError, IndexError):
        return "unknown"


def _cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def model_graph(name: str, work: Path) -> tuple[Graph, dict[str, np.ndarray]]:
    path = cached_export("export_mlperf_tiny.py") / f"{name}.onnx"
    shape = MODELS[name][1]
    rng = np.random.default_rng(0)
    calib = work / f"{name}_calib.npy"
    np.save(calib, rng.standard_normal((8, *shape)).astype(np.float32))
    q, _ = quantize_model(load_model(path, {}), BuildOptions(calib=str(calib)))
    feed = {"input": rng.standard_normal(shape).astype(np.float32)}
    return verify(plan_memory(lower_integer(q))), feed


def op_class(graph: Graph, node) -> str:
    """The row of the per-op split: convolutions by kind, else the op's name."""
    op = node.op
    if isinstance(op, qops.QConv2D):
        o, kh, kw, cg = graph.types[node.inputs[1]].shape
        if cg == 1 and op.group == o:
            return "depthwise conv"
        return "conv 1x1" if kh == kw == 1 else f"conv {kh}x{kw}"
    return {"QDense": "dense", "QSoftmax": "softmax", "QAvgPool2D": "avg pool", "QAdd": "add"}.get(
        type(op).__name__, type(op).__name__)


def _variant(target_name: str, extra: tuple[str, ...]):
    target = get_target(target_name)
    return dataclasses.replace(target, toolchain={**target.toolchain,
                                                  "cflags": [*target.toolchain["cflags"], *extra]})


def measure(graph: Graph, feed: dict[str, np.ndarray], work: Path) -> list[Figures]:
    want = run_integer(graph, feed, raw=True)
    calls = [n for n in graph.nodes if not graph.memory.is_view(n)]
    out = []
    for label, target_name, extra, plain, split in BUILDS:
        art = work / label.replace(" ", "_")
        target = _variant(target_name, extra)
        manifest = emit(graph, target, art, plain=plain)
        runner = load(art, manifest, target)
        got = runner.run(feed, raw=True)
        for k in want:
            if not np.array_equal(got[k], want[k]):
                raise SystemExit(f"{graph.name} on {label}: output {k!r} differs from run_integer")
        per_op: dict[str, int] = {}
        if split:
            target = _variant(target_name, (*extra, "-DQCOMP_COST_NODES"))
            manifest_n = emit(graph, target, work / f"{art.name}_nodes", plain=plain)
            runner_n = load(work / f"{art.name}_nodes", manifest_n, target)
            runner_n.run(feed, raw=True)
            ticks = runner_n.last_node_instructions or []
            if len(ticks) != len(calls):
                raise SystemExit(f"{graph.name}: {len(ticks)} kernel calls timed, {len(calls)} nodes expected")
            split_sum: dict[str, int] = defaultdict(int)
            for n, insns in zip(calls, ticks):
                split_sum[op_class(graph, n)] += insns
            per_op = dict(split_sum)
        out.append(Figures(label, runner.last_instructions, manifest["flash_bytes"], manifest["ram_bytes"],
                           manifest["workspace_bytes"], per_op))
        print(f"  {label}: {runner.last_instructions:,} instructions, flash {manifest['flash_bytes']:,} B, "
              f"RAM {manifest['ram_bytes']:,} B", flush=True)
    return out


def section(results, seconds: float, command: str) -> str:
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                            text=True).stdout.strip() or "unknown"
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "## MLPerf Tiny models on Cortex-M4, M7 and M55", "",
        f"Written by `{command}` ({seconds / 60:.1f} min) on {_cpu_model()}.", "",
        f"Measured {date}; {_tool_version(['arm-none-eabi-gcc', '--version'])}; "
        f"{_tool_version(['qemu-system-arm', '--version'])}; qcomp {commit}.", "",
        "The four reference architectures of MLPerf Tiny (tests/models/export_mlperf_tiny.py, seeded random "
        "weights: the figures are costs, not accuracies), quantized by qcomp (8 seeded N(0, 1) calibration "
        "inputs), one inference = one `qcomp_run_mode` call (float input quantized, every layer, raw int8 "
        "outputs: the classifiers' integer Softmax included). Every build's outputs equal "
        "`qcomp.ref.run_integer`'s bit for bit. Instructions: SysTick around the call under "
        "`qemu-system-arm -icount shift=0` (mps2-an386 for M4, mps2-an500 for M7, mps3-an547 for M55). "
        "Builds: `plain` = the plain per-op reference C (`-DQCOMP_PLAIN`); `cortex-m4` / `cortex-m7` = "
        "SXTB16 + SMLAD, two pixels x two output channels per pass (a patch row of KW taps copied in one "
        "run), depthwise two interior pixels per pass; `cortex-m55 no-MVE` = the same C "
        "kernels on M55 (`-DQCOMP_NO_MVE`); `cortex-m55` = Helium (`VMLADAVA.S8`, VCTP tails; depthwise "
        "`VMULLB` / `VMULLT.S16` across 8 channels). "
        "Flash = code + weights of the model's objects; RAM = arena + static data + gcc's stack bound.", "",
        "Published cycles = the MLPerf Tiny v1.0 latency (closed division, as quoted in issue 16) x the "
        f"board's clock: NUCLEO-L4R5ZI (Cortex-M4, {M4_MHZ} MHz, X-CUBE-AI) and NUCLEO-H7A3ZI-Q "
        f"(Cortex-M7, {M7_MHZ} MHz). QEMU counts instructions, not cycles: a board's cycles add pipeline "
        "stalls, multiply and load-use latencies, flash wait states and cache misses (M4: most instructions "
        "of these loops take one cycle, so instructions are close to a lower bound of cycles; M7 issues "
        "two instructions per cycle at best; M55's MVE instructions take beats).", "",
    ]
    for name, graph, macs, figs in results:
        title = MODELS[name][0]
        m4_ms, m7_ms = PUBLISHED[name]
        lines += [f"### {title}", "", f"{macs:,} MACs per inference. Published: Cortex-M4 {m4_ms} ms = "
                  f"{m4_ms * M4_MHZ * 1e3 / 1e6:.2f} M cycles; Cortex-M7 {m7_ms} ms = "
                  f"{m7_ms * M7_MHZ * 1e3 / 1e6:.2f} M cycles"
                  + (f"; TFLite Micro + CMSIS-NN (v0.5) on the M4: {TFLM_KWS_M4_MS} ms = "
                     f"{TFLM_KWS_M4_MS * M4_MHZ / 1e3:.2f} M cycles" if name == "kws_dscnn" else "") + ".", ""]
        published = {"cortex-m4": m4_ms * M4_MHZ * 1e3, "cortex-m7": m7_ms * M7_MHZ * 1e3}
        rows = []
        for f in figs:
            ref = published.get(f.label)
            rows.append([f.label, f"{f.instructions:,}", f"{f.layers:,}", f"{f.layers / macs:.2f}", f"{f.flash:,}",
                         f"{f.ram:,}", f"{f.arena:,}",
                         f"{ref:,.0f} ({f.layers / ref:.2f}x)" if ref else ""])
        lines += table(["build", "instructions", "without float I/O", "per MAC", "flash B", "RAM B", "arena B",
                        "published cycles (ours without I/O / theirs)"], rows)
        by = {f.label: f for f in figs}
        lines += ["", f"- Without the float I/O: Cortex-M55 (Helium) / Cortex-M4 "
                  f"{by['cortex-m4'].layers / by['cortex-m55'].layers:.2f}x fewer instructions; the Cortex-M4 "
                  f"build / its plain C {by['cortex-m4 plain'].layers / by['cortex-m4'].layers:.2f}x fewer.", ""]
        split = [f for f in figs if f.per_op]
        ops = sorted({k for f in split for k in f.per_op}, key=lambda k: -split[0].per_op.get(k, 0))
        rows = [[op, *(f"{f.per_op.get(op, 0):,} ({100 * f.per_op.get(op, 0) / sum(f.per_op.values()):.0f}%)"
                       for f in split)] for op in ops]
        lines += table(["op (per-op split, instructions)", *(f.label for f in split)], rows)
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default=",".join(MODELS), help="comma-separated subset of " + ", ".join(MODELS))
    ap.add_argument("--no-write", action="store_true", help="print the section instead of updating RESULTS.md")
    ap.add_argument("--results", default=str(HERE / "RESULTS.md"))
    args = ap.parse_args(argv)
    for t in ("cortex-m4", "cortex-m7", "cortex-m55"):
        support = host_support(get_target(t))
        if not support.can_run:
            raise SystemExit(f"target {t} cannot run here: {support.why} (scripts/setup.sh --test installs it)")
    start = time.time()
    results = []
    with tempfile.TemporaryDirectory(prefix="qcomp-mlperf-tiny-") as tmp:
        for name in args.models.split(","):
            print(MODELS[name][0], flush=True)
            graph, feed = model_graph(name, Path(tmp))
            macs = sum(node_macs(graph, n) for n in graph.nodes)
            results.append((name, graph, macs, measure(graph, feed, Path(tmp) / name)))
    command = "python benchmarks/mlperf_tiny.py" + (" " + shlex.join(argv) if argv else "")
    text = section(results, time.time() - start, command)
    if args.no_write:
        print(text)
    else:
        print(f"wrote {update_section(args.results, 'mlperf-tiny', text)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
