"""Cost of the dsp-c backend on Cortex-M4: instructions per inference, flash and RAM, side by side
with a plain per-op reference C version of the same model.

    python benchmarks/dsp_cost.py                  bundled example + MobileNetV2, updates RESULTS.md
    python benchmarks/dsp_cost.py --no-mobilenet --no-write

Three builds of each model for the cortex-m4 target (arm-none-eabi-gcc -O2 -mthumb -mcpu=cortex-m4,
run on qemu-system-arm -M mps2-an386 -icount shift=0):

  plain      qcomp.codegen.c.emit(..., plain=True): the plain per-op reference C. The same generated
             model (one kernel call per node, the same fixed-point primitives transcribed from
             qcomp/fixedpoint.py) without the backend's optimizations: every activation in its own
             slice of the arena (no liveness reuse), the convolution as the textbook nested loops
             with a bounds check per multiply-accumulate, dense one output at a time, and no DSP
             instructions (-DQCOMP_PLAIN).
  portable   the backend's own code with the DSP path compiled out (-DQCOMP_PORTABLE): liveness
             arena, per-pixel patch gather + four output channels per pass, scalar multiply-adds.
  dsp        the backend's default build for cortex-m4: the same with SXTB16 + SMLAD
             (__ARM_FEATURE_DSP) in the dot products.

Every build's raw int8 outputs are checked equal to qcomp.ref.run_integer's (the script fails
otherwise). Instructions: the runner's SysTick count around qcomp_run_mode (QEMU -icount shift=0:
one instruction per ns, 40 per tick of the 25 MHz clock), to 40 instructions. Flash: text + rodata
+ data of the model's objects (code + weights; `size`), and of the whole linked program (with the
runner and newlib) against the 4 MiB of mps2-an386. RAM: arena + static data + the stack bound
from gcc's call graph; the peak stack measured by painting is shown beside it.

The script rewrites the `dsp-cost` section of benchmarks/RESULTS.md (between its markers).
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime
import importlib
import importlib.util
import platform
import re
import shlex
import subprocess
import sys
import tempfile
import time
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
from qcomp.codegen.c import plain_plan, emit  # noqa: E402
from qcomp.errors import QcompError  # noqa: E402
from qcomp.passes.plan_memory import plan_memory  # noqa: E402
from qcomp.ir import Graph, verify  # noqa: E402
from qcomp.passes.lower_integer import lower_integer  # noqa: E402
from qcomp.ref import run_integer  # noqa: E402
from qcomp.runtime.c import load  # noqa: E402
from qcomp.target import get_target, host_support  # noqa: E402

EXAMPLE = REPO / "examples" / "fashion_mnist"
FLASH_LIMIT = RAM_LIMIT = 4 * 1024 * 1024   # mps2-an386 (runtime/dsp/mps2.ld)
VARIANTS = ("plain", "portable", "dsp")
MOBILENET = dict(width=1.0, image=224, num_classes=1000)
# what decides the figures (the "with uncommitted changes" note of the section)
SOURCES = ("qcomp/codegen/c", "qcomp/runtime/c.py", "qcomp/passes", "qcomp/fixedpoint", "runtime/dsp",
           "targets/cortex-m4.toml", "benchmarks/dsp_cost.py")


@dataclasses.dataclass
class Figures:
    variant: str
    instructions: list[int]
    flash: int
    elf_flash: int
    elf_ram: int
    ram: int
    arena: int
    stack_bound: int
    stack_peak: int
    smlad: int
    note: str = ""


def _git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, timeout=30).stdout.strip()
    except OSError:
        return ""


def _tool_version(cmd: list[str]) -> str:
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=30).stdout.splitlines()[0].strip()
    except (OSError, IndexError):
        return "unknown"


def _elf_sizes(elf: Path) -> tuple[int, int]:
    """(flash, static RAM) of the whole linked program: text + data, data + bss (Berkeley `size`)."""
    line = subprocess.run(["arm-none-eabi-size", str(elf)], capture_output=True, text=True,
                          check=True).stdout.splitlines()[1].split()
    text, data, bss = int(line[0]), int(line[1]), int(line[2])
    return text + data, data + bss


def _count(elf: Path, mnemonic: str) -> int:
    disasm = subprocess.run(["arm-none-eabi-objdump", "-d", str(elf)], capture_output=True, text=True,
                            check=True).stdout
    return len(re.findall(rf"\t{mnemonic}\s", disasm))


def _variant_target(variant: str):
    target = get_target("cortex-m4")
    if variant == "portable":
        return dataclasses.replace(target, toolchain={**target.toolchain,
                                                      "cflags": [*target.toolchain["cflags"], "-DQCOMP_PORTABLE"]})
    return target


def measure(graph: Graph, feeds: list[dict[str, np.ndarray]], work: Path) -> list[Figures]:
    wants = [run_integer(graph, x, raw=True) for x in feeds]
    out = []
    for variant in VARIANTS:
        target = _variant_target(variant)
        art = work / variant
        try:
            manifest = emit(graph, target, art, plain=variant == "plain")
        except QcompError as e:
            if "overflow" not in str(e):
                raise
            arena = plain_plan(graph).workspace_bytes if variant == "plain" else graph.memory.workspace_bytes
            print(f"  {variant}: does not link, the arena of {arena:,} B overflows the RAM", flush=True)
            out.append(Figures(variant, [], 0, 0, 0, 0, arena, 0, 0, 0,
                               note=f"does not fit: its arena of {arena:,} B alone exceeds the {RAM_LIMIT:,} B of "
                                    f"RAM (the link fails)"))
            continue
        runner = load(art, manifest, target)
        counts, peak = [], 0
        for x, want in zip(feeds, wants):
            got = runner.run(x, raw=True)
            for name in want:
                if not np.array_equal(got[name], want[name]):
                    raise SystemExit(f"{graph.name} ({variant}): output {name!r} differs from run_integer")
            counts.append(runner.last_instructions)
            peak = max(peak, runner.last_stack_bytes or 0)
        elf_flash, elf_ram = _elf_sizes(art / "model.elf")
        out.append(Figures(variant, counts, manifest["flash_bytes"], elf_flash, elf_ram, manifest["ram_bytes"],
                           manifest["workspace_bytes"], manifest["stack_bytes"], peak,
                           _count(art / "model.elf", "smlad")))
        print(f"  {variant}: {counts[0]:,} instructions, flash {manifest['flash_bytes']:,} B, "
              f"RAM {manifest['ram_bytes']:,} B", flush=True)
    return out


def example_graph() -> tuple[Graph, list[dict[str, np.ndarray]], str]:
    g = load_model(EXAMPLE / "model.onnx", {})
    q, _ = quantize_model(g, BuildOptions(calib=str(EXAMPLE / "calib.npz")))
    samples = np.load(EXAMPLE / "samples.npz")["input"].astype(np.float32)
    feeds = [{"input": samples[i:i + 1]} for i in range(0, len(samples), max(1, len(samples) // 10))][:10]
    return verify(plan_memory(lower_integer(q))), feeds, "examples/fashion_mnist/model.onnx, calibrated on calib.npz"


def mobilenet_graph(work: Path) -> tuple[Graph, list[dict[str, np.ndarray]], str]:
    """tests/models/cnn_zoo.py's MobileNetV2 (seeded random weights), calibrated on 4 seeded normal inputs."""
    import onnx
    models = REPO / "tests" / "models"
    spec = importlib.util.spec_from_file_location("qcomp_bench_models", models / "__init__.py",
                                                  submodule_search_locations=[str(models)])
    sys.modules["qcomp_bench_models"] = module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    zoo = importlib.import_module("qcomp_bench_models.cnn_zoo")
    path = work / "mobilenet_v2.onnx"
    onnx.save(zoo.mobilenet_v2(**MOBILENET), path)
    rng = np.random.default_rng(0)
    image = MOBILENET["image"]
    np.save(work / "calib.npy", rng.normal(0, 1, (4, 3, image, image)).astype(np.float32))
    q, _ = quantize_model(load_model(path, {}), BuildOptions(calib=str(work / "calib.npy")))
    feeds = [{"input": rng.normal(0, 1, (1, 3, image, image)).astype(np.float32)}]
    return (verify(plan_memory(lower_integer(q))), feeds,
            f"tests/models/cnn_zoo.py mobilenet_v2(width={MOBILENET['width']}, image={image}, "
            f"num_classes={MOBILENET['num_classes']}), calibrated on 4 seeded N(0, 1) inputs")


def _macs(graph: Graph) -> int:
    """Multiply-accumulates of the convolutions, dense layers and matmuls of a TARGET graph."""
    from qcomp.ir import qops
    total = 0
    for n in graph.nodes:
        out = graph.types[n.outputs[0]].shape
        if isinstance(n.op, (qops.QConv2D, qops.QConvTranspose2D)):
            w = graph.types[n.inputs[1]].shape          # [O, KH, KW, C / group]
            total += int(np.prod(out)) * int(np.prod(w[1:]))
        elif isinstance(n.op, (qops.QDense, qops.QMatMul)):
            total += int(np.prod(out)) * int(graph.types[n.inputs[0]].shape[-1])
    return total


def _mean(f: Figures) -> float:
    return sum(f.instructions) / len(f.instructions)


def _insns(f: Figures) -> str:
    lo, hi = min(f.instructions), max(f.instructions)
    return f"{lo:,}" if lo == hi else f"{lo:,} - {hi:,}"


def section(results: list[tuple[str, str, Graph, int, list[Figures]]], seconds: float, command: str) -> str:
    commit = _git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = " with uncommitted changes" if _git("status", "--porcelain", "--", *SOURCES) else ""
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "## dsp-c on Cortex-M4: instructions, flash and RAM per inference", "",
        f"Written by `{command}` ({seconds / 60:.1f} min).", "",
        f"Measured {date}; {_tool_version(['arm-none-eabi-gcc', '--version'])}; "
        f"{_tool_version(['qemu-system-arm', '--version'])}; {platform.system()} {platform.release()}; "
        f"qcomp {commit}{dirty}.", "",
        "Target `cortex-m4`: `arm-none-eabi-gcc -std=c99 -O2 -mthumb -mcpu=cortex-m4`, run on "
        "`qemu-system-arm -M mps2-an386 -icount shift=0` (semihosting). Three builds of each model:", "",
        "- **plain reference C** (`qcomp.codegen.c.emit(..., plain=True)`, `-DQCOMP_PLAIN`): real generated C "
        "with the same per-op structure (one kernel call per node, the fixed-point primitives of "
        "`qcomp/fixedpoint.py`) but none of the backend's optimizations: every activation has its own slice of "
        "the arena (no liveness reuse), the convolution is the textbook nested loop with a bounds check per "
        "multiply-accumulate, dense computes one output at a time, and no DSP instructions.",
        "- **portable**: the backend's code with its DSP path compiled out (`-DQCOMP_PORTABLE`): liveness-planned "
        "arena, receptive field gathered into a patch once per output pixel, four output channels per pass (then two, one), "
        "scalar multiply-adds.",
        "- **dsp**: the backend's default cortex-m4 build: the same, with `SXTB16` + `SMLAD` (ACLE `__sxtb16`, "
        "`__smlad` under `__ARM_FEATURE_DSP`) in the int8 dot products of Conv and Dense.", "",
        "Every build's raw int8 outputs equal `qcomp.ref.run_integer`'s on every input measured (the script "
        "stops otherwise). One inference = one `qcomp_run_mode` call on a float input: quantizing the input "
        "(soft-float division, as `-mcpu=cortex-m4` without `-mfpu` builds it), every layer, and the int8 "
        "logits (raw outputs). Instructions: SysTick ticks around that call x 40 (one instruction per ns "
        "under `-icount shift=0`, 25 MHz SysTick clock), exact to 40 instructions; deterministic for a given "
        "input, a range over the inputs (the savings below compare means). Flash: text + rodata + data of the model's objects (code + weights, from `size`); \"whole ELF\" "
        "adds the runner and newlib (semihosting stdio) against the 4 MiB flash of mps2-an386. RAM: arena + "
        "static data + stack bound (heaviest call chain of gcc's `-fcallgraph-info=su` graph, library leaf "
        "calls counted 128 B); the peak stack measured by painting the stack is shown beside the bound.", "",
    ]
    for title, how, graph, macs, figs in results:
        by = {f.variant: f for f in figs if f.instructions}
        lines += [f"### {title}", "", f"{how}; {macs:,} MACs per inference; "
                  f"{max(len(f.instructions) for f in figs)} input(s) measured.", ""]
        rows = []
        for f in figs:
            if not f.instructions:
                rows.append([f.variant, f.note, "", "", "", "", f"{f.arena:,}", "", ""])
                continue
            rows.append([f.variant, _insns(f), f"{_mean(f) / macs:.2f}", f"{f.flash:,}", f"{f.elf_flash:,}",
                         f"{f.ram:,}", f"{f.arena:,}", f"{f.stack_bound:,} / {f.stack_peak:,}", f"{f.smlad:,}"])
        lines += table(["build", "instructions / inference", "per MAC", "flash B (model)", "flash B (whole ELF)",
                        "RAM B (model)", "arena B", "stack B bound / peak", "SMLAD in code"], rows)
        lines.append("")
        dsp, portable = by["dsp"], by["portable"]
        saved = _mean(portable) - _mean(dsp)
        lines.append(f"- The DSP instructions saved {saved:,.0f} instructions per inference against the portable "
                     f"build ({100 * saved / _mean(portable):.1f}%, {_mean(portable) / _mean(dsp):.2f}x fewer), "
                     f"for {dsp.flash - portable.flash:+,} B of flash.")
        if "plain" in by:
            plain = by["plain"]
            lines.append(f"- Against the plain reference C, the dsp build runs {_mean(plain) / _mean(dsp):.2f}x fewer "
                         f"instructions ({_mean(plain) - _mean(dsp):,.0f} fewer) and needs "
                         f"{plain.ram - dsp.ram:,} B less RAM (liveness arena {dsp.arena:,} B instead of "
                         f"{plain.arena:,} B); flash {dsp.flash - plain.flash:+,} B.")
        else:
            plain = next(f for f in figs if f.variant == "plain")
            lines.append(f"- The plain reference C {plain.note}; the liveness plan brings the arena down to "
                         f"{dsp.arena:,} B.")
        lines += [f"- Fits mps2-an386: whole ELF {dsp.elf_flash:,} B of {FLASH_LIMIT:,} B flash; "
                  f"{dsp.elf_ram + dsp.stack_bound:,} B of {RAM_LIMIT:,} B RAM (static data: arena, I/O buffers, "
                  f"newlib; plus the stack bound).", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--no-mobilenet", action="store_true", help="only the bundled example")
    ap.add_argument("--no-write", action="store_true", help="print the section instead of updating RESULTS.md")
    ap.add_argument("--results", default=str(HERE / "RESULTS.md"))
    args = ap.parse_args(argv)
    support = host_support(get_target("cortex-m4"))
    if not support.can_run:
        raise SystemExit(f"target cortex-m4 cannot run here: {support.why} (scripts/setup.sh --test installs it)")
    start = time.time()
    results = []
    with tempfile.TemporaryDirectory(prefix="qcomp-dsp-cost-") as tmp:
        work = Path(tmp)
        models = [("Bundled example CNN (examples/fashion_mnist)", example_graph)]
        if not args.no_mobilenet:
            models.append((f"MobileNetV2 {MOBILENET['width']} @ {MOBILENET['image']}x{MOBILENET['image']}",
                           lambda: mobilenet_graph(work)))
        for i, (title, make) in enumerate(models):
            print(title, flush=True)
            graph, feeds, how = make()
            results.append((title, how, graph, _macs(graph), measure(graph, feeds, work / f"m{i}")))
    command = "python benchmarks/dsp_cost.py" + (" " + shlex.join(argv) if argv else "")
    text = section(results, time.time() - start, command)
    if args.no_write:
        print(text)
    else:
        print(f"wrote {update_section(args.results, 'dsp-cost', text)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
