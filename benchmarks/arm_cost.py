"""Cost of arm-sdot code without an Arm board: SDOT per MAC in the hot loops, from the disassembly,
and instructions executed per inference, counted by QEMU.

    python benchmarks/arm_cost.py              updates the arm-cost section of benchmarks/RESULTS.md
    python benchmarks/arm_cost.py --no-write --no-zoo    the bundled example only, printed

QEMU's timings say nothing about a real core (it translates every instruction to several x86 ones,
SDOT to a helper call), so this script reports counts instead:

  static   The bundled example (examples/fashion_mnist) is built for arm-sdot and its model.so is
           disassembled with aarch64-linux-gnu-objdump. In the code of every conv / dense / matmul
           node (its function node.N and the job functions node.N hands to qcomp_parallel_for),
           the hot loops are the innermost loops (a backward branch and its target) that contain
           SDOT. Per loop iteration: instructions,
           SDOT, MACs = 16 x SDOT (4 int32 lanes x 4 int8 products each), hence SDOT per MAC
           (1/16 = 0.0625 is the floor for 128-bit SDOT) and instructions per MAC in the loop.
  dynamic  The artifact's static runner runs under qemu-aarch64 -cpu max with a small TCG plugin
           (benchmarks/arm_insn_plugin.c, built here with gcc: Debian's qemu-user ships the plugin
           API but no plugins) that counts executed instructions and SDOT. Per inference =
           (count with --repeat 3 - count with --repeat 1) / 2, which removes process start-up and
           file I/O; QCOMP_NUM_THREADS=1 (inline counters are per process, not atomic). MACs per
           inference are those of the conv / dense nodes (output elements x reduction length), so
           MACs / (16 x SDOT) shows how much of the SDOT lanes is padding. Measured for the example
           and, at a reduced resolution (--zoo-image, 96), the ResNet-18-style and MobileNetV2-style
           models of tests/models/cnn_zoo.py.

measure_model takes the target (arm-sdot by default; arm-neon, arm-i8mm: their multiply instructions
in DOT_MACS): benchmarks/arm_targets.py compares the three aarch64 targets with it.
The raw int8 outputs are checked equal to the integer reference (the script fails otherwise).
The script rewrites the `arm-cost` section of benchmarks/RESULTS.md (between its markers).
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
EXAMPLE = REPO / "examples" / "fashion_mnist"
PLUGIN_SOURCE = HERE / "arm_insn_plugin.c"
MACS_PER_SDOT = 16           # 128-bit SDOT: 4 int32 lanes x 4 int8 products
# int8 MACs per instruction of each target's GEMM step (arm-sdot: SDOT; arm-i8mm: SMMLA, 2x2 lanes x 8;
# arm-neon: 8 int8 x int8 products per SMULL/SMULL2/SMLAL2, SADALP only widens them)
DOT_MACS = {"arm-sdot": {"sdot": 16}, "arm-i8mm": {"smmla": 32},
            "arm-neon": {"smull": 8, "smull2": 8, "smlal": 8, "smlal2": 8}}
BRANCHES = re.compile(r"^(b(\.\w+)?|cbn?z|tbn?z)$")


@dataclasses.dataclass(frozen=True)
class Insn:
    address: int
    mnemonic: str
    operands: str


@dataclasses.dataclass(frozen=True)
class Loop:
    start: int      # address of the branch target (loop head)
    end: int        # address of the backward branch
    instructions: int
    sdot: int       # the target's dot instructions (DOT_MACS; SDOT by default)
    macs: int = 0   # MACs per iteration (0: 16 per SDOT)

    @property
    def sdot_per_mac(self) -> float:
        return self.sdot / (self.macs or self.sdot * MACS_PER_SDOT)

    @property
    def instructions_per_mac(self) -> float:
        return self.instructions / (self.macs or self.sdot * MACS_PER_SDOT)


def disassemble(binary: Path, objdump: str = "aarch64-linux-gnu-objdump") -> dict[str, list[Insn]]:
    """Function name -> its instructions, from `objdump -d --no-show-raw-insn`."""
    text = subprocess.run([objdump, "-d", "--no-show-raw-insn", str(binary)], capture_output=True, text=True,
                          check=True).stdout
    functions: dict[str, list[Insn]] = {}
    current = None
    for line in text.splitlines():
        head = re.match(r"^([0-9a-f]+) <(.+)>:$", line)
        if head:
            current = functions.setdefault(head.group(2), [])
            continue
        m = re.match(r"^\s+([0-9a-f]+):\s+(\S+)\s*(.*)$", line)
        if m and current is not None:
            current.append(Insn(int(m.group(1), 16), m.group(2), m.group(3).split("//")[0].strip()))
    return functions


def loops(insns: list[Insn]) -> list[tuple[int, int]]:
    """(head, branch) address pairs of the function's loops: branches back to an address inside it."""
    if not insns:
        return []
    lo, out = insns[0].address, []
    for i in insns:
        if BRANCHES.match(i.mnemonic):
            target = re.search(r"\b([0-9a-f]+) <", i.operands + " <")
            address = int(target.group(1), 16) if target else None
            if address is not None and lo <= address <= i.address:
                out.append((address, i.address))
    return out


def hot_loops(insns: list[Insn], dot: dict[str, int] | None = None) -> list[Loop]:
    """The innermost loops that contain SDOT (no smaller loop inside them contains any); with `dot`
    (mnemonic -> MACs, DOT_MACS[target]) the loops of those instructions, their MACs counted."""
    dot = dot or {"sdot": MACS_PER_SDOT}
    sdot_at = [i.address for i in insns if i.mnemonic in dot]
    with_sdot = [(a, b) for a, b in loops(insns) if any(a <= s <= b for s in sdot_at)]
    innermost = [(a, b) for a, b in with_sdot
                 if not any((c, d) != (a, b) and a <= c and d <= b for c, d in with_sdot)]
    return [Loop(a, b, sum(a <= i.address <= b for i in insns), sum(a <= s <= b for s in sdot_at),
                 sum(dot.get(i.mnemonic, 0) for i in insns if a <= i.address <= b))
            for a, b in sorted(set(innermost))]


def references(functions: dict[str, list[Insn]], name: str) -> set[str]:
    """Functions that `name` calls (bl) or takes the address of (adrp + add: the job functions it
    hands to qcomp_parallel_for)."""
    starts = {insns[0].address: f for f, insns in functions.items() if insns}
    out, pages = set(), {}
    for i in functions.get(name, []):
        ops = [o.strip() for o in i.operands.split(",")]
        if i.mnemonic == "bl":
            m = re.match(r"([0-9a-f]+) <([^>+]+)>", i.operands)
            if m and "@" not in m.group(2):
                out.add(m.group(2))
        elif i.mnemonic == "adrp" and len(ops) == 2:
            pages[ops[0]] = int(ops[1].split()[0], 16)
        elif i.mnemonic == "add" and len(ops) == 3 and ops[1] in pages and ops[2].startswith("#"):
            target = pages[ops[1]] + int(ops[2][1:], 0)
            if target in starts:
                out.add(starts[target])
    return out - {name}


def node_functions(functions: dict[str, list[Insn]], index: int) -> list[str]:
    """node.<index> and the kernel functions it reaches (its parallel_for jobs), not the runtime's."""
    todo, seen = [f"node.{index}"], []
    while todo:
        f = todo.pop()
        if f in seen or f not in functions:
            continue
        seen.append(f)
        todo += sorted(g for g in references(functions, f) if not g.startswith(("qcomp_", "node.")))
    return seen


def node_macs(graph, node) -> int:
    """Multiply-accumulates of a conv / dense / matmul node: output elements x reduction length
    (TARGET graphs are channel-last; the weight's elements per output channel are the reduction)."""
    out = graph.types[node.outputs[0]].shape
    if node.kind in ("QMatMul",):
        return int(np.prod(out)) * int(graph.types[node.inputs[0]].shape[-1])
    weight = graph.constants[node.inputs[1]]
    return int(np.prod(out)) * (weight.size // int(out[-1]))


def build_plugin(out: Path) -> tuple[Path | None, str]:
    """The counting plugin, or None and why it is unavailable."""
    if shutil.which("gcc") is None:
        return None, "no host gcc to build the QEMU plugin"
    plugin = out / "arm_insn_plugin.so"
    proc = subprocess.run(["gcc", "-O2", "-shared", "-fPIC", "-o", str(plugin), str(PLUGIN_SOURCE)],
                          capture_output=True, text=True)
    if proc.returncode != 0:
        return None, f"building the plugin failed: {proc.stderr.strip()[-300:]}"
    return plugin, ""


def count(command: list[str], plugin: Path, args: list[str], tmp: Path) -> tuple[int, int]:
    """(instructions, sdot) executed by one runner process under the plugin (counted_dots() gives
    the SMMLA count of the same run)."""
    counts = tmp / "counts.txt"
    counts.unlink(missing_ok=True)
    emulator, program = command[:-1], command[-1]
    proc = subprocess.run([*emulator, "-plugin", f"{plugin},out={counts}", program, *args], capture_output=True,
                          text=True, env={**os.environ, "QCOMP_NUM_THREADS": "1"}, timeout=600)
    if proc.returncode != 0 or not counts.is_file():
        raise RuntimeError(f"counting run failed ({proc.returncode}): {proc.stderr.strip()[-500:]}")
    values = dict(line.split() for line in counts.read_text().splitlines())
    _LAST_COUNTS.clear()
    _LAST_COUNTS.update({k: int(v) for k, v in values.items()})
    return int(values["instructions"]), int(values["sdot"])


_LAST_COUNTS: dict[str, int] = {}


def counted_dots() -> dict[str, int]:
    """Every count of the last count() run (instructions, sdot, smmla)."""
    return dict(_LAST_COUNTS)


def _zoo_model(name: str, image: int, out: Path) -> Path:
    """tests/models/cnn_zoo.py's model `name` at image x image, saved as ONNX."""
    import importlib
    import importlib.util

    import onnx
    package = "qcomp_bench_models"
    if package not in sys.modules:
        spec = importlib.util.spec_from_file_location(package, REPO / "tests" / "models" / "__init__.py",
                                                      submodule_search_locations=[str(REPO / "tests" / "models")])
        sys.modules[package] = module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    path = out / f"{name}.onnx"
    onnx.save(getattr(importlib.import_module(f"{package}.cnn_zoo"), name)(image=image), path)
    return path


def measure_model(label: str, model: Path, calib: Path, feeds: dict, work: Path, plugin: Path | None,
                  why: str, target_name: str = "arm-sdot", ref: Path | None = None) -> dict:
    """Build `model` for `target_name` (arm-sdot, arm-neon, arm-i8mm) and ref (unless `ref`, an
    artifact built from the same calibration, is given), check the raw outputs equal, then the
    static and the dynamic figures."""
    import qcomp
    from qcomp.builder import BuildOptions, build
    from qcomp.ir import verify
    from qcomp.ir.serialize import load_graph
    from qcomp.passes.lower_integer import lower_integer
    from qcomp.runtime.llvm_cross import CrossRunner
    from qcomp.target import get_target

    target = get_target(target_name)
    art = build(model, work / target_name, BuildOptions(target=target_name, calib=str(calib)))
    ref = ref or build(model, work / "ref", BuildOptions(target="ref", calib=str(calib)))
    got, want = qcomp.load(art).run(feeds, raw=True), qcomp.load(ref).run(feeds, raw=True)
    for name in want:
        np.testing.assert_array_equal(got[name], want[name], err_msg=f"{label}: {target_name} output {name} differs")
    graph = verify(lower_integer(verify(load_graph(art / "model.qir"))))
    functions = disassemble(art / "model.so", target.toolchain.get("objdump", "aarch64-linux-gnu-objdump"))
    rows, total_macs, sdot_macs = [], 0, 0
    for index, node in enumerate(graph.nodes):
        if node.kind not in ("QConv2D", "QDense", "QMatMul", "QConvTranspose2D"):
            continue
        macs = node_macs(graph, node)
        code = [i for f in node_functions(functions, index) for i in functions[f]]
        dot = DOT_MACS.get(target_name, {"sdot": MACS_PER_SDOT})
        hot = [loop for f in node_functions(functions, index) for loop in hot_loops(functions[f], dot)]
        sdot = sum(i.mnemonic in dot for i in code)
        total_macs += macs
        sdot_macs += macs if sdot else 0
        rows.append({"node": node.name, "op": node.kind, "shape": _shape(graph, node), "macs": macs, "loops": hot,
                     "sdot": sdot, "instructions": len(code)})
    dynamic: dict = {"label": label, "macs": total_macs, "sdot_macs": sdot_macs}
    if plugin is None:
        return {"rows": rows, "functions": functions, "dynamic": dynamic | {"unavailable": why}}
    runner = CrossRunner(art / "runner", target, graph.inputs, graph.outputs)
    args = []
    for k, name in enumerate(runner.inputs):
        np.save(work / f"in{k}.npy", feeds[name])
        args += ["-i", str(work / f"in{k}.npy")]
    for k in range(len(runner.outputs)):
        args += ["-o", str(work / f"out{k}.npy")]
    try:
        i1, s1 = count(runner.command(), plugin, ["--repeat", "1", *args], work)
        m1 = counted_dots().get("smmla", 0)
        i3, s3 = count(runner.command(), plugin, ["--repeat", "3", *args], work)
        m3 = counted_dots().get("smmla", 0)
    except RuntimeError as e:
        return {"rows": rows, "functions": functions,
                "dynamic": dynamic | {"unavailable": f"QEMU could not run with the plugin: {e}"}}
    return {"rows": rows, "functions": functions,
            "dynamic": dynamic | {"instructions": (i3 - i1) // 2, "sdot": (s3 - s1) // 2, "smmla": (m3 - m1) // 2,
                                                "startup_instructions": i1 - (i3 - i1) // 2}}


def measure(work: Path, zoo_image: int | None) -> dict:
    plugin, why = build_plugin(work)
    (work / "example").mkdir()
    example = measure_model("bundled example (fashion_mnist, 1x28x28)", EXAMPLE / "model.onnx",
                            EXAMPLE / "calib.npz", dict(np.load(EXAMPLE / "input.npz")), work / "example",
                            plugin, why)
    dynamic = [example["dynamic"]]
    if zoo_image:
        rng = np.random.default_rng(0)
        for name, label in (("resnet18", "ResNet-18-style"), ("mobilenet_v2", "MobileNetV2-style")):
            (work / name).mkdir()
            model = _zoo_model(name, zoo_image, work / name)
            np.savez(work / name / "calib.npz",
                     input=rng.standard_normal((2, 3, zoo_image, zoo_image)).astype(np.float32))
            feeds = {"input": rng.standard_normal((1, 3, zoo_image, zoo_image)).astype(np.float32)}
            dynamic.append(measure_model(f"{label}, 1x3x{zoo_image}x{zoo_image}", model, work / name / "calib.npz",
                                         feeds, work / name, plugin, why)["dynamic"])
    return {"rows": example["rows"], "dynamic": dynamic}


def _shape(graph, node) -> str:
    w = graph.constants.get(node.inputs[1]) if len(node.inputs) > 1 else None
    out = graph.types[node.outputs[0]].shape
    k = (w.size // int(out[-1])) if w is not None else int(graph.types[node.inputs[0]].shape[-1])
    return f"K={k}, N={int(out[-1])}, {int(np.prod(out)) // int(out[-1])} rows"


def _versions() -> str:
    qemu = subprocess.run(["qemu-aarch64", "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    gcc = subprocess.run(["aarch64-linux-gnu-gcc", "--version"], capture_output=True, text=True).stdout.splitlines()[0]
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=REPO).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--", "qcomp", "runtime", "targets"],
                           capture_output=True, text=True, cwd=REPO).stdout.strip()
    import llvmlite
    return (f"{qemu}; {gcc}; llvmlite {llvmlite.__version__}; qcomp {commit}"
            f"{' with uncommitted changes in qcomp/ or runtime/' if dirty else ''}")


def render(result: dict, seconds: float) -> str:
    sys.path.insert(0, str(HERE))
    from accuracy_lib.report import table
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = ["## arm-sdot: cost without hardware (SDOT per MAC, instructions per inference)", "",
             f"Written by `python benchmarks/arm_cost.py` ({seconds:.0f} s).", "",
             f"Measured {now}; {platform.machine()} host, {_versions()}.", "",
             "QEMU timings say nothing about a Cortex-A55/A76, so these are counts. Every model is built with "
             "`qcomp build --target arm-sdot`, and its raw int8 outputs under QEMU equal the `--target ref` "
             "artifact's (checked by the script). The hot-loop table is the bundled example's "
             "(examples/fashion_mnist, calibrated on its calib.npz).", "",
             "### Hot loops, from the disassembly of model.so (aarch64-linux-gnu-objdump)", "",
             "Per conv / dense node: the innermost loops that contain SDOT. One SDOT is 16 MACs (4 int32 lanes "
             "x 4 int8 products), so 1/16 = 0.0625 SDOT per MAC is the floor; the rest of the loop "
             "(loads, pointer and counter updates, the branch) is the instructions-per-MAC overhead. A node whose "
             "reduction is short enough to be unrolled has no loop around SDOT: its row gives the SDOT count "
             "of its whole code against its MACs.", ""]
    rows = []
    for r in result["rows"]:
        for k, loop in enumerate(r["loops"] or [None]):
            if loop is None:   # no loop around SDOT: the reduction is unrolled straight-line code
                rows.append([r["node"], r["op"], r["shape"], f"{r['macs']:,}",
                             "none: unrolled" if r["sdot"] else "no SDOT", f"{r['instructions']} / {r['sdot']} in all",
                             f"{r['sdot'] / r['macs']:.4f}" if r["sdot"] else "", ""])
                continue
            rows.append([r["node"] if k == 0 else "", r["op"] if k == 0 else "", r["shape"] if k == 0 else "",
                         f"{r['macs']:,}" if k == 0 else "", f"{loop.start:#x}-{loop.end:#x}",
                         f"{loop.instructions} / {loop.sdot}", f"{loop.sdot_per_mac:.4f}",
                         f"{loop.instructions_per_mac:.3f}"])
    lines += table(["node", "op", "shape", "MACs", "hot loop", "instructions / SDOT per iteration",
                    "SDOT per MAC", "instructions per MAC"], rows)
    lines += ["", "### Executed per inference, counted by QEMU (TCG plugin benchmarks/arm_insn_plugin.c)", ""]
    measured = [d for d in result["dynamic"] if "unavailable" not in d]
    for d in result["dynamic"]:
        if "unavailable" in d:
            lines.append(f"{d['label']}: not measured: {d['unavailable']}.")
    if measured:
        lines += table(["model", "instructions per inference", "SDOT executed", "conv + dense MACs",
                        "of them in SDOT kernels", "SDOT per SDOT-kernel MAC", "SDOT lanes doing useful MACs",
                        "instructions per MAC (whole model)"],
                       [[d["label"], f"{d['instructions']:,}", f"{d['sdot']:,}", f"{d['macs']:,}",
                         f"{d['sdot_macs']:,}", f"{d['sdot'] / d['sdot_macs']:.4f}",
                         f"{d['sdot_macs'] / (MACS_PER_SDOT * d['sdot']):.2%}",
                         f"{d['instructions'] / d['macs']:.3f}"] for d in measured])
        startup = ", ".join(f"{d['startup_instructions']:,}" for d in measured)
        lines += ["", "Per inference = (run with `--repeat 3` - run with `--repeat 1`) / 2, one thread "
                  f"(QCOMP_NUM_THREADS=1); the runner's start-up and file I/O ({startup} instructions) are "
                  "excluded. Instructions include quantize/dequantize, requantization, pooling, depthwise "
                  "convolutions (their own kernel, no SDOT: MACs not in SDOT kernels) and the ABI checks. "
                  "\"SDOT lanes doing useful MACs\" = MACs of the SDOT kernels / (16 x SDOT executed): the rest "
                  "is padding of the reduction (K) and output-channel (N) blocks to multiples of 4. The zoo "
                  "models use seeded random weights and inputs (tests/models/cnn_zoo.py) at a reduced "
                  "resolution (every layer and channel count as at 224); their raw outputs equal the ref "
                  "target's too."]
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--no-write", action="store_true", help="print the section, leave RESULTS.md alone")
    ap.add_argument("--results", type=Path, default=HERE / "RESULTS.md")
    ap.add_argument("--zoo-image", type=int, default=96, help="image size of the ResNet-18/MobileNetV2-style rows")
    ap.add_argument("--no-zoo", action="store_true", help="the bundled example only")
    args = ap.parse_args()
    sys.path.insert(0, str(REPO))
    from qcomp.target import get_target, host_support
    support = host_support(get_target("arm-sdot"))
    if not support.can_run:
        print(f"arm-sdot cannot run here: {support.why}", file=sys.stderr)
        return 1
    start = time.time()
    with tempfile.TemporaryDirectory(prefix="qcomp-arm-cost-") as tmp:
        result = measure(Path(tmp), None if args.no_zoo else args.zoo_image)
    body = render(result, time.time() - start)
    print(body)
    if not args.no_write:
        sys.path.insert(0, str(HERE))
        from accuracy_lib.report import update_section
        print(f"updated {update_section(args.results, 'arm-cost', body)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
