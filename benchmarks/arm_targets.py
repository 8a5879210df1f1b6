"""The three aarch64 targets side by side under QEMU: arm-neon (SMULL/SMLAL2/SADALP), arm-sdot (SDOT),
arm-i8mm (SMMLA). Instructions per MAC per target on the same models, and their GEMM hot loops.

    python benchmarks/arm_targets.py              updates the arm-targets section of benchmarks/RESULTS.md
    python benchmarks/arm_targets.py --no-write --no-zoo    the bundled example only, printed

Each model is built once for ref and once per target (the same calibration); every target's raw
int8 outputs under QEMU must equal ref's (arm_cost.measure_model checks it). Figures, all counts
(QEMU's timings say nothing about a core):
  dynamic  instructions executed per inference (benchmarks/arm_insn_plugin.c, one thread, start-up
           removed: arm_cost.py), divided by the conv / dense MACs of the model;
  static   the innermost loops of the bundled example's /conv2/Conv (K = 144, N = 32: the
           example's largest GEMM) that hold the target's dot instructions (arm_cost.DOT_MACS):
           instructions per iteration and per MAC, and the loop's disassembly (objdump).
arm-neon runs under qemu-aarch64 -cpu cortex-a72 (its target's runner: no dotprod), the others
under -cpu max.
"""
from __future__ import annotations

import argparse
import datetime
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import arm_cost  # noqa: E402

TARGETS = ("arm-neon", "arm-sdot", "arm-i8mm")
HOT_NODE = "/conv2/Conv"


def _models(work: Path, zoo_image: int | None):
    """(label, model, calib, feeds) of the bundled example and, with zoo_image, the zoo models."""
    ex = arm_cost.EXAMPLE
    yield ("bundled example (fashion_mnist, 1x28x28)", ex / "model.onnx", ex / "calib.npz",
           dict(np.load(ex / "input.npz")))
    if zoo_image:
        rng = np.random.default_rng(0)
        for name, label in (("resnet18", "ResNet-18-style"), ("mobilenet_v2", "MobileNetV2-style")):
            (work / name).mkdir()
            model = arm_cost._zoo_model(name, zoo_image, work / name)
            np.savez(work / name / "calib.npz", input=rng.standard_normal((2, 3, zoo_image, zoo_image)).astype(np.float32))
            yield (f"{label}, 1x3x{zoo_image}x{zoo_image}", model, work / name / "calib.npz",
                   {"input": rng.standard_normal((1, 3, zoo_image, zoo_image)).astype(np.float32)})


def measure(work: Path, zoo_image: int | None) -> dict:
    from qcomp.builder import BuildOptions, build
    plugin, why = arm_cost.build_plugin(work)
    dynamic, loops = [], {}
    for m, (label, model, calib, feeds) in enumerate(_models(work, zoo_image)):
        ref = build(model, work / f"ref{m}", BuildOptions(target="ref", calib=str(calib)))
        for target in TARGETS:
            (work / f"{target}{m}").mkdir()
            r = arm_cost.measure_model(label, model, calib, feeds, work / f"{target}{m}", plugin, why, target, ref)
            dynamic.append({"target": target, **r["dynamic"]})
            if m == 0:
                row = next(row for row in r["rows"] if row["node"] == HOT_NODE)
                loops[target] = (row, _excerpt(r["functions"], row["loops"][0]) if row["loops"] else [])
    return {"dynamic": dynamic, "loops": loops}


def _excerpt(functions: dict, loop) -> list[str]:
    """The loop's instructions, as objdump prints them (address, mnemonic, operands)."""
    insns = [i for f in functions.values() for i in f if loop.start <= i.address <= loop.end]
    return [(f"{i.address:x}: " if k in (0, len(insns) - 1) else "") + f"{i.mnemonic} {i.operands}"
            for k, i in enumerate(insns)]


def render(result: dict, seconds: float) -> str:
    from accuracy_lib.report import table
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = ["## ARM targets", "",
             f"Written by `python benchmarks/arm_targets.py` ({seconds:.0f} s). Measured {now}; "
             f"{platform.machine()} host, {arm_cost._versions()}.", "",
             "The same models built for the three aarch64 targets (and for ref, the same calibration); every "
             "target's raw int8 outputs under QEMU equal ref's (checked by the script). arm-neon runs under "
             "`qemu-aarch64 -cpu cortex-a72` (no dotprod), arm-sdot and arm-i8mm under `-cpu max`. Counts, not "
             "times: instructions executed per inference (TCG plugin benchmarks/arm_insn_plugin.c, one thread, "
             "start-up removed) over the conv + dense MACs.", "",
             "### Instructions per MAC, whole model", ""]
    rows = []
    for d in result["dynamic"]:
        if "unavailable" in d:
            rows.append([d["label"], d["target"], "not measured: " + d["unavailable"], "", "", ""])
            continue
        dots = {"arm-sdot": f"{d['sdot']:,} SDOT", "arm-i8mm": f"{d['smmla']:,} SMMLA"}.get(d["target"], "-")
        rows.append([d["label"], d["target"], f"{d['instructions']:,}", f"{d['macs']:,}", dots,
                     f"{d['instructions'] / d['macs']:.3f}"])
    lines += table(["model", "target", "instructions per inference", "conv + dense MACs", "dot instructions",
                    "instructions per MAC"], rows)
    lines += ["", f"### GEMM hot loops: the bundled example's {HOT_NODE} (K = 144, N = 32, 196 rows)", "",
              "The innermost loop holding the target's multiply instructions (from `aarch64-linux-gnu-objdump -d` "
              "of model.so): per iteration, instructions and MACs (SDOT 16, SMMLA 32, SMULL/SMULL2/SMLAL2 8 "
              "each; SADALP widens, it adds no MAC).", ""]
    rows = []
    for target, (row, _) in result["loops"].items():
        for loop in row["loops"][:1]:
            rows.append([target, f"{loop.instructions}", f"{loop.sdot}", f"{loop.macs}",
                         f"{loop.instructions_per_mac:.3f}"])
    lines += table(["target", "instructions per iteration", "multiply instructions", "MACs",
                    "instructions per MAC"], rows)
    lines += ["", "The three loops side by side (objdump, one iteration each; addresses in the first and last "
              "rows):", ""]
    names = {"arm-neon": "arm-neon: SMULL / SMLAL2 / SADALP", "arm-sdot": "arm-sdot: SDOT", "arm-i8mm": "arm-i8mm: SMMLA"}
    columns = [excerpt for _, excerpt in result["loops"].values()]
    rows = [[f"`{c[k]}`" if k < len(c) else "" for c in columns] for k in range(max(map(len, columns), default=0))]
    lines += table([names.get(t, t) for t in result["loops"]], rows)
    return "\n".join(lines) + "\n"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--no-write", action="store_true", help="print the section, leave RESULTS.md alone")
    ap.add_argument("--results", type=Path, default=HERE / "RESULTS.md")
    ap.add_argument("--zoo-image", type=int, default=96, help="image size of the ResNet-18/MobileNetV2-style rows")
    ap.add_argument("--no-zoo", action="store_true", help="the bundled example only")
    args = ap.parse_args()
    sys.path.insert(0, str(arm_cost.REPO))
    from qcomp.target import get_target, host_support
    for name in TARGETS:
        support = host_support(get_target(name))
        if not support.can_run:
            print(f"{name} cannot run here: {support.why}", file=sys.stderr)
            return 1
    start = time.time()
    with tempfile.TemporaryDirectory(prefix="qcomp-arm-targets-") as tmp:
        result = measure(Path(tmp), None if args.no_zoo else args.zoo_image)
    body = render(result, time.time() - start)
    print(body)
    if not args.no_write:
        from accuracy_lib.report import update_section
        print(f"updated {update_section(args.results, 'arm-targets', body)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
