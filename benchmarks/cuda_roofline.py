"""Roofline and occupancy estimate of the cuda backend's kernels on an A100 and an H100 (no GPU here:
a model of the launch plan, not a measurement).

    python benchmarks/cuda_roofline.py                 four models, updates benchmarks/RESULTS.md
    python benchmarks/cuda_roofline.py --models example --no-write

Every model is built with `qcomp build --target cuda` (qcomp.builder.build; model.cu, the fatbin and
the launch plan in manifest.json). For every launch of the plan:

  MACs, bytes       the plan's own figures (int8 multiply-accumulates of the node; bytes of its operands
                    and results, weights included, each moved through DRAM once)
  registers, smem   ptxas -v of model.cu compiled for the GPU's architecture
                    (nvcc -cubin -arch=sm_80 / sm_90 -Xptxas -v), per kernel
  occupancy         theoretical (blocks per SM from warps, registers, shared memory) and achieved over the
                    launch's waves (the plan's grid on the GPU's SMs): qcomp/codegen/cuda/roofline.py
  bound, limit      max(2 MACs / peak, bytes / bandwidth), the peak being the dense int8 tensor-core peak
                    for mma.sync kernels and the INT32 CUDA-core peak for the others; memory-bound when the
                    kernel's ops/byte is below the ridge point peak / bandwidth

Calibration of the CNNs is two seeded random inputs (the plan's shapes, MACs and bytes do not depend on
the quantization parameters). EfficientNet-Lite0 is the torch export the tests use
(tests/models/export_efficientnet.py, cached in .cache/models/).

The script rewrites the `cuda-roofline` section of benchmarks/RESULTS.md (between its markers).
"""
from __future__ import annotations

import argparse
import datetime
import json
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
for _p in (str(HERE), str(REPO), str(REPO / "tests")):
    if _p not in sys.path:
        sys.path.insert(0, _p)

from accuracy_lib.report import table, update_section  # noqa: E402
from qcomp.builder import BuildOptions, build  # noqa: E402
from qcomp.codegen.cuda.nvcc import compile_cubin, find_nvcc, parse_ptxas_usage  # noqa: E402
from qcomp.codegen.cuda.roofline import GPUS, Gpu, Row, ridge, roofline  # noqa: E402
from qcomp.target import get_target  # noqa: E402

EXAMPLE = REPO / "examples" / "fashion_mnist"
MODELS = ("example", "resnet18", "mobilenet_v2", "efficientnet_lite0")


def _cnn(work: Path, name: str) -> tuple[Path, Path]:
    import onnx

    from models import cnn_zoo
    model = cnn_zoo.resnet18() if name == "resnet18" else cnn_zoo.mobilenet_v2(width=1.0)
    d = work / name
    d.mkdir()
    onnx.save(model, d / "model.onnx")
    return d / "model.onnx", _random_calib(d, (2, 3, 224, 224))


def _random_calib(d: Path, shape) -> Path:
    np.savez(d / "calib.npz", input=np.random.default_rng(0).uniform(-1, 1, shape).astype(np.float32))
    return d / "calib.npz"


def model_sources(work: Path, name: str) -> tuple[str, Path, Path]:
    """(title, model.onnx, calibration .npz) of one benchmark model."""
    if name == "example":
        return "Bundled example CNN (examples/fashion_mnist), 1x28x28", EXAMPLE / "model.onnx", EXAMPLE / "calib.npz"
    if name == "resnet18":
        return ("ResNet-18-style (tests/models/cnn_zoo.py), 1x3x224x224", *_cnn(work, name))
    if name == "mobilenet_v2":
        return ("MobileNetV2-style 1.0 (tests/models/cnn_zoo.py), 1x3x224x224", *_cnn(work, name))
    from models.export_cache import cached_export
    path = cached_export("export_efficientnet.py", "--dynamo", "1", "--opset", "18") / "model.onnx"
    d = work / name
    d.mkdir()
    return "EfficientNet-Lite0 (torch dynamo export, opset 18), 1x3x224x224", path, _random_calib(d, (2, 3, 224, 224))


def analyse(artifact: Path, nvcc: str) -> tuple[list[dict], dict[str, list[Row]]]:
    manifest = json.loads((artifact / "manifest.json").read_text())
    rows = {}
    for gpu in GPUS:
        report = compile_cubin(nvcc, gpu.arch, artifact / "model.cu", artifact / f"model.{gpu.arch}.cubin")
        usage = parse_ptxas_usage(report)
        missing = {launch["kernel"] for launch in manifest["launches"]} - set(usage)
        if missing:
            raise SystemExit(f"ptxas -v reported no usage for {sorted(missing)[:3]} on {gpu.arch}")
        rows[gpu.name] = roofline(manifest["launches"], gpu, usage)
    return manifest["launches"], rows


def _us(x: float) -> str:
    return f"{x:.3f}" if x < 10 else f"{x:.1f}" if x < 1000 else f"{x:,.0f}"


def _git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, timeout=30).stdout.strip()
    except OSError:
        return ""


def _weighted(rows: list[Row], value) -> float:
    total = sum(r.bound_us for r in rows)
    return sum(value(r) * r.bound_us for r in rows) / total if total else 0.0


def summary_rows(title: str, launches: list[dict], rows: dict[str, list[Row]]) -> list[list[str]]:
    out = []
    for gpu in GPUS:
        rs = rows[gpu.name]
        total = sum(r.bound_us for r in rs)
        compute = [r for r in rs if r.limit == "compute"]
        tensor = [r for r in rs if r.engine == "tensor"]
        out.append([title if gpu is GPUS[0] else "", gpu.name, str(len(rs)), f"{sum(r.macs for r in rs) / 1e6:,.1f}",
                    f"{sum(r.dram_bytes for r in rs) / 1e6:,.2f}", _us(total),
                    f"{len(compute)} ({100 * sum(r.bound_us for r in compute) / total:.0f}%)",
                    f"{len(rs) - len(compute)} ({100 * (total - sum(r.bound_us for r in compute)) / total:.0f}%)",
                    f"{len(tensor)} ({100 * sum(r.macs for r in tensor) / max(sum(r.macs for r in rs), 1):.0f}% of MACs)",
                    f"{100 * _weighted(rs, lambda r: r.occupancy.theoretical):.0f}% / "
                    f"{100 * _weighted(rs, lambda r: r.occupancy.achieved):.0f}%"])
    return out


def kernel_table(launches: list[dict], rows: dict[str, list[Row]]) -> list[str]:
    a, h = (rows[g.name] for g in GPUS)
    body = []
    for i, launch in enumerate(launches):
        ra, rh = a[i], h[i]
        grid = "x".join(map(str, launch["grid"]))
        block = "x".join(map(str, launch["block"]))
        body.append([str(i), f"`{launch['kernel']}`", ra.engine, grid, block, f"{ra.registers} / {rh.registers}",
                     f"{ra.shared_bytes:,}", f"{launch['macs']:,}", f"{launch['dram_bytes']:,}", f"{ra.intensity:.1f}",
                     f"{100 * ra.occupancy.theoretical:.0f}% / {100 * ra.occupancy.achieved:.0f}%",
                     f"{_us(ra.bound_us)} {ra.limit[0]}",
                     f"{100 * rh.occupancy.theoretical:.0f}% / {100 * rh.occupancy.achieved:.0f}%",
                     f"{_us(rh.bound_us)} {rh.limit[0]}"])
    return table(["#", "kernel", "engine", "grid", "block", "regs A100 / H100", "smem B", "MACs", "bytes", "ops/B",
                  "A100 occ th / ach", "A100 bound us", "H100 occ th / ach", "H100 bound us"], body)


def peaks_table() -> list[str]:
    def row(g: Gpu) -> list[str]:
        return [g.name, g.arch, f"{g.int8_ops_per_s / 1e12:,.0f}", f"{g.int32_ops_per_s / 1e12:.1f}",
                f"{g.bytes_per_s / 1e9:,.0f}", str(g.sms), f"{g.shared_per_sm // 1024} KB",
                f"{ridge(g, True):.0f}", f"{ridge(g, False):.1f}"]
    return table(["GPU", "SASS", "int8 tensor TOPS (dense)", "INT32 TOPS", "DRAM GB/s", "SMs", "smem / SM",
                  "ridge, tensor (ops/B)", "ridge, CUDA cores (ops/B)"], [row(g) for g in GPUS])


def section(results, seconds: float, command: str, nvcc_version: str) -> str:
    commit = _git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = " with uncommitted changes" if _git("status", "--porcelain", "--", "qcomp") else ""
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        "## cuda: roofline and occupancy estimate on A100 and H100 (no GPU: a model, not a measurement)", "",
        f"Written by `{command}` ({seconds / 60:.1f} min). Estimated {date}; {nvcc_version}; qcomp {commit}{dirty}.",
        "",
        "No GPU is available to qcomp's CI, so these are bounds computed from the launch plan of each "
        "`qcomp build --target cuda` artifact, not timings. Per kernel launch (batch 1):", "",
        "- **MACs** and **bytes**: the plan's figures (`manifest.json` launches: int8 multiply-accumulates; bytes of "
        "the node's operands and results, weights included, each moved through DRAM once: a lower bound on "
        "traffic, caches ignored).",
        "- **regs** and **smem**: `ptxas -v` of the artifact's model.cu compiled with `nvcc -cubin -arch=sm_80` "
        "(A100) and `-arch=sm_90` (H100).",
        "- **occupancy**: theoretical = resident warps / 64 per SM, with blocks per SM limited by warps, registers "
        "(per warp rounded up to 256), shared memory (+1 KB reserved per block) and 32 blocks; achieved = "
        "theoretical x the share of the last wave's slots the plan's grid fills, averaged over its waves (a grid "
        "smaller than one wave leaves SMs idle).",
        "- **bound**: max(2 x MACs / compute peak, bytes / DRAM bandwidth), in microseconds; the compute peak is "
        "the dense int8 tensor-core peak for the GEMM kernels (`mma.sync.m16n8k32` s8, engine `tensor`) and the "
        "INT32 CUDA-core peak (IMAD = 2 ops) for the others (direct/depthwise convolution, matmul, pooling, "
        "elementwise, copies); **c** = compute-bound, **m** = memory-bound (ops/byte below the ridge). "
        "Launch latency (a few microseconds per launch) and the occupancy are not folded into the bound.", "",
        "Peak figures used:", "",
    ]
    lines += peaks_table()
    lines += [""] + [f"- {g.name}: {g.source}." for g in GPUS] + ["", "### Per model", ""]
    body = []
    for title, launches, rows in results:
        body += summary_rows(title, launches, rows)
    lines += table(["model", "GPU", "launches", "MMACs", "MB moved", "sum of bounds us", "compute-bound kernels "
                    "(share of time)", "memory-bound kernels (share of time)", "tensor-core kernels",
                    "occupancy th / ach (time-weighted)"], body)
    lines += [""]
    for title, launches, rows in results:
        for gpu in GPUS:
            rs = rows[gpu.name]
            top = sorted(rs, key=lambda r: -r.bound_us)[:3]
            tensor = [r for r in rs if r.engine == "tensor"]
            compute = sorted({r.kernel.split("_")[1] for r in rs if r.limit == "compute"})
            lines += [f"- {title}, {gpu.name}: longest launches "
                      + ", ".join(f"`{r.kernel}` ({_us(r.bound_us)} us, {r.limit}-bound)" for r in top)
                      + f"; {sum(r.limit == 'memory' for r in tensor)} of {len(tensor)} tensor-core GEMMs are "
                      f"memory-bound (ops/byte {min((r.intensity for r in tensor), default=0):.0f} to "
                      f"{max((r.intensity for r in tensor), default=0):.0f}, ridge {ridge(gpu, True):.0f}); "
                      f"compute-bound kernel kinds: {', '.join(compute) if compute else 'none'}; "
                      f"{sum(r.occupancy.waves == 1 and r.occupancy.achieved < 0.5 * r.occupancy.theoretical for r in rs)}"
                      f" of {len(rs)} launches fill less than half of one wave (grid < half of {gpu.sms} SMs x "
                      f"blocks/SM), so their bound assumes a GPU they leave mostly idle."]
    lines += [""]
    for title, launches, rows in results:
        lines += [f"<details><summary>{title}: every launch</summary>", ""]
        lines += kernel_table(launches, rows)
        lines += ["", "</details>", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--models", default=",".join(MODELS), help=f"comma-separated subset of {','.join(MODELS)}")
    ap.add_argument("--no-write", action="store_true", help="print the section instead of updating RESULTS.md")
    ap.add_argument("--results", default=str(HERE / "RESULTS.md"))
    args = ap.parse_args(argv)
    names = [m for m in args.models.split(",") if m]
    unknown = set(names) - set(MODELS)
    if unknown:
        raise SystemExit(f"unknown model(s) {sorted(unknown)}; choose from {', '.join(MODELS)}")
    nvcc = find_nvcc(get_target("cuda"))
    if nvcc is None:
        raise SystemExit("nvcc is missing: pip install nvidia-cuda-nvcc (or the CUDA toolkit); the register and "
                         "shared-memory figures come from ptxas -v")
    version = subprocess.run([nvcc, "--version"], capture_output=True, text=True).stdout.splitlines()
    nvcc_version = "nvcc " + next((line.split("release")[-1].strip(" ,") for line in version if "release" in line), "?")
    start = time.time()
    results = []
    with tempfile.TemporaryDirectory(prefix="qcomp-cuda-roofline-") as tmp:
        work = Path(tmp)
        for name in names:
            title, model, calib = model_sources(work, name)
            print(title, flush=True)
            art = build(model, work / f"{name}-cuda", BuildOptions(target="cuda", calib=str(calib)))
            launches, rows = analyse(art, nvcc)
            results.append((title, launches, rows))
    command = "python benchmarks/cuda_roofline.py" + (" " + shlex.join(argv) if argv else "")
    text = section(results, time.time() - start, command, nvcc_version)
    if args.no_write:
        print(text)
    else:
        print(f"wrote {update_section(args.results, 'cuda-roofline', text)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
