"""Prepare gpu_bundle/: everything `scripts/gpu_check.sh` needs on a GPU machine that it cannot build there.

    python benchmarks/gpu_bundle.py                         the four CNNs into gpu_bundle/ (with wheels/)
    python benchmarks/gpu_bundle.py --set minilm            MiniLM into gpu_bundle_minilm/ (no wheels)
    python benchmarks/gpu_bundle.py --models fashion_mnist --out /tmp/b --no-wheels

The GPU machine gets a copy of the working tree (the qcomp source travels with it) plus carried
ignored folders (64 MiB per call, the tree included), has no network, and cannot export the torch
models (their weights come from pip packages installed here) nor run the ref interpreter on 224x224
models in its time budget. So, per model:

  common/            model.cu, weights.bin, model.h, qcomp_cuda_emulate.h of `qcomp build --target cuda`
  variants/V/        manifest.json + model.fatbin: the same artifact with the fatbin rebuilt for V and
                     model.qir left out (the quantized graph, which the cuda runtime never reads; it would
                     double the size). `sm_90`: SASS sm_90 + PTX compute_90 (what an H100 takes from the
                     full sm_75..sm_90 fatbin, nvcc compiling each architecture on its own); `sm_80`: PTX
                     compute_80 only (__CUDA_ARCH__ = 800, the mma.sync m16n8k32 GEMMs, JIT-compiled by the
                     driver); `sm_75`: PTX compute_75 only (__CUDA_ARCH__ = 750, the __dp4a GEMMs). The
                     check copies common/ next to them and qcomp.load verifies every sha256 the manifest lists.
  feeds.npz          seeded batch-1 inputs (np.random.default_rng(0))
  expected.npz       the `ref` artifact's raw outputs (Artifact.run(feeds, raw=True)) on those inputs, built
                     from the same calibration (2 seeded samples; the bundled model its calib.npz)
  roofline.json      per launch of the plan: the H100 roofline bound and modelled occupancy
                     (qcomp.codegen.cuda.roofline with the ptxas -v usage of model.cu for sm_90)

and bundle.json (models, variants, sizes, the qcomp commit) and wheels/: a cp312 manylinux x86-64 numpy
wheel, the one third-party package qcomp imports to load and run a cuda artifact besides the machine's
own cuda-bindings; gpu_check.sh installs it only when `import numpy` fails there. MiniLM's weights.bin
alone is 58 MB (its 30522 x 384 float32 word embeddings), so it travels in a bundle of its own, in a
second call. A bundle over MAX_BUNDLE_BYTES is refused here rather than at the device call.
"""
from __future__ import annotations

import argparse
import datetime
import json
import shutil
import subprocess
import sys
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
for _p in (str(REPO), str(REPO / "tests")):
    if _p not in sys.path:
        sys.path.insert(0, _p)

from qcomp.artifact import load, write_manifest  # noqa: E402
from qcomp.builder import BuildOptions, build  # noqa: E402
from qcomp.codegen.cuda.nvcc import compile_cubin, compile_fatbin, find_nvcc, parse_ptxas_usage  # noqa: E402
from qcomp.codegen.cuda.roofline import H100, roofline  # noqa: E402
from qcomp.target import get_target  # noqa: E402

sys.path.insert(0, str(HERE))
from gpu_check import source_digest  # noqa: E402

EXAMPLE = REPO / "examples" / "fashion_mnist"
MODELS = ("fashion_mnist", "resnet18", "mobilenet_v2", "efficientnet_lite0", "minilm")
SETS = {"cnn": (MODELS[:4], "gpu_bundle", True), "minilm": (("minilm",), "gpu_bundle_minilm", False)}
MAX_BUNDLE_BYTES = 60 * 2**20    # 64 MiB per call, less the working tree itself (about 3.5 MiB)
# variant -> (fatbin architectures, PTX, the CPU emulation's arch for the same kernel path, description)
VARIANTS = {
    "sm_90": (("sm_90",), "compute_90", 80, "SASS sm_90 (what an H100 runs of the full fatbin): mma.sync GEMMs"),
    "sm_80": ((), "compute_80", 80, "PTX compute_80 only, JIT on the GPU: the sm_80 mma.sync m16n8k32 GEMMs"),
    "sm_75": ((), "compute_75", 75, "PTX compute_75 only, JIT on the GPU: the sm_75 __dp4a GEMMs"),
}
NUMPY_WHEEL = "numpy==2.4.6"


def _rng_inputs(name: str, n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    if name == "fashion_mnist":
        return {"input": rng.uniform(0, 1, (n, 1, 28, 28)).astype(np.float32)}
    if name == "minilm":
        return {"input_ids": rng.integers(0, 30000, (n, 128)).astype(np.int64),
                "attention_mask": np.concatenate([np.ones((n, 100)), np.zeros((n, 28))], axis=1).astype(np.int64)}
    return {"input": rng.uniform(-1, 1, (n, 3, 224, 224)).astype(np.float32)}


def model_source(name: str, work: Path) -> tuple[str, Path, Path]:
    """(title, model.onnx, calibration .npz) of one model; torch exports are cached in .cache/models/."""
    from models.export_cache import cached_export
    calib = work / "calib.npz"
    if name == "fashion_mnist":
        return "bundled example CNN (examples/fashion_mnist), 1x1x28x28", EXAMPLE / "model.onnx", EXAMPLE / "calib.npz"
    np.savez(calib, **_rng_inputs(name, 2, np.random.default_rng(1)))
    if name in ("resnet18", "mobilenet_v2"):
        import onnx

        from models import cnn_zoo
        model = cnn_zoo.resnet18() if name == "resnet18" else cnn_zoo.mobilenet_v2(width=1.0)
        onnx.save(model, work / "model.onnx")
        title = "ResNet-18-style" if name == "resnet18" else "MobileNetV2-style 1.0"
        return f"{title} (tests/models/cnn_zoo.py, seeded weights), 1x3x224x224", work / "model.onnx", calib
    if name == "efficientnet_lite0":
        path = cached_export("export_efficientnet.py", "--dynamo", "1", "--opset", "18") / "model.onnx"
        return "EfficientNet-Lite0 (torch dynamo export, opset 18), 1x3x224x224", path, calib
    if name == "minilm":
        path = cached_export("export_minilm.py", "--seq", "128") / "model.onnx"
        return "all-MiniLM-L6-v2 (torch export, sequence 128), 1x128 tokens", path, calib
    raise SystemExit(f"unknown model {name!r}; choose from {', '.join(MODELS)}")


def make_variant(base: Path, out: Path, variant: str, nvcc: str) -> dict:
    """variants/V/: manifest.json and model.fatbin of the base artifact rebuilt with V's architectures and
    without model.qir (the quantized graph, which the cuda runtime never reads: it would double the size)."""
    archs, ptx, _, what = VARIANTS[variant]
    out.mkdir(parents=True)
    target = replace(get_target("cuda"), architectures=archs, ptx=ptx)
    with tempfile.TemporaryDirectory() as tmp:
        stage = Path(tmp)
        manifest = json.loads((base / "manifest.json").read_text())
        del manifest["files"]["graph"]
        for rel in manifest["files"].values():
            shutil.copy(base / rel, stage / rel)
        compile_fatbin(nvcc, target, stage / "model.cu", stage / "model.fatbin")
        manifest["architectures"] = list(archs) + [ptx]
        manifest["build_notes"] = manifest.get("build_notes", []) + [f"gpu_bundle variant {variant}: {what}; "
                                                                       f"model.qir left out"]
        for key in ("manifest_sha256", "file_sha256"):
            manifest.pop(key, None)
        write_manifest(stage, manifest)
        load(stage, emulate=True)      # the variant manifest's digests hold
        shutil.copy(stage / "manifest.json", out / "manifest.json")
        shutil.copy(stage / "model.fatbin", out / "model.fatbin")
    return {"architectures": manifest["architectures"], "fatbin_bytes": (out / "model.fatbin").stat().st_size}


def roofline_rows(artifact: Path, nvcc: str, work: Path) -> list[dict]:
    manifest = json.loads((artifact / "manifest.json").read_text())
    usage = parse_ptxas_usage(compile_cubin(nvcc, H100.arch, artifact / "model.cu", work / "model.sm_90.cubin"))
    rows = []
    for launch, r in zip(manifest["launches"], roofline(manifest["launches"], H100, usage)):
        occ = r.occupancy
        rows.append({"kernel": r.kernel, "node": launch["node"], "macs": r.macs, "dram_bytes": r.dram_bytes,
                     "bound_us": r.bound_us, "limit": r.limit, "engine": r.engine, "registers": r.registers,
                     "shared_bytes": r.shared_bytes, "grid": launch["grid"], "block": launch["block"],
                     "occupancy_theoretical": occ.theoretical if occ else None,
                     "occupancy_modelled": occ.achieved if occ else None})
    return rows


COMMON_FILES = ("source", "weights", "header", "emulation_header")


def prepare_model(name: str, out: Path, work: Path, nvcc: str, variants: tuple[str, ...]) -> dict:
    work.mkdir(parents=True)
    title, onnx_path, calib = model_source(name, work)
    cuda = build(onnx_path, work / "cuda", BuildOptions(target="cuda", calib=str(calib)))
    ref = build(onnx_path, work / "ref", BuildOptions(target="ref", calib=str(calib)))
    manifest = json.loads((cuda / "manifest.json").read_text())
    (out / "common").mkdir(parents=True)
    for key in COMMON_FILES:
        shutil.copy(cuda / manifest["files"][key], out / "common" / manifest["files"][key])
    feeds = _rng_inputs(name, 1, np.random.default_rng(0))
    expected = load(ref).run(feeds, raw=True)
    for key, value in expected.items():    # a constant output would let a broken kernel pass
        if np.unique(value).size <= 8:
            raise SystemExit(f"{name}: expected output {key!r} takes {np.unique(value).size} values; "
                             f"the check would be too weak")
    np.savez(out / "feeds.npz", **feeds)
    np.savez(out / "expected.npz", **expected)
    rows = roofline_rows(cuda, nvcc, work)
    (out / "roofline.json").write_text(json.dumps({"gpu": H100.name, "source": H100.source, "launches": rows},
                                                  indent=1) + "\n")
    entry = {"name": name, "title": title, "launches": len(manifest["launches"]),
             "macs": int(sum(r["macs"] for r in rows)), "bound_us": sum(r["bound_us"] for r in rows),
             "weights_file_bytes": manifest["weights_file_bytes"],
             "outputs": {k: [str(v.dtype), list(v.shape)] for k, v in expected.items()}, "variants": {}}
    for v in variants:
        info = make_variant(cuda, out / "variants" / v, v, nvcc)
        entry["variants"][v] = info | {"emulate_arch": VARIANTS[v][2], "what": VARIANTS[v][3]}
    return entry


def fetch_wheels(out: Path) -> list[str]:
    """cp312 manylinux x86-64 wheels (no dependencies) of NUMPY_WHEEL, by pip from the package index."""
    out.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--only-binary=:all:", "--python-version",
           "3.12", "--implementation", "cp", "--platform", "manylinux_2_28_x86_64", "--platform",
           "manylinux_2_17_x86_64", "--platform", "manylinux2014_x86_64", "-d", str(out), NUMPY_WHEEL]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if r.returncode != 0:
        raise SystemExit(f"pip download {NUMPY_WHEEL} for cp312 failed:\n{r.stderr[-2000:]}")
    return sorted(p.name for p in out.glob("*.whl"))


def _git(*args: str) -> str:
    r = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True)
    return r.stdout.strip() if r.returncode == 0 else "unknown"


def tree_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def prepare(out: Path, models: tuple[str, ...], variants: tuple[str, ...] = tuple(VARIANTS),
            wheels: bool = True) -> dict:
    nvcc = find_nvcc(get_target("cuda"))
    if nvcc is None:
        raise SystemExit("gpu_bundle needs nvcc here to build the fatbins (pip install nvidia-cuda-nvcc, or the "
                         "CUDA toolkit)")
    if out.exists():
        if any(out.iterdir()) and not (out / "bundle.json").is_file():
            raise SystemExit(f"--out {out} is not empty and holds no bundle.json: choose a new folder, so nothing "
                             f"of yours is removed")
        shutil.rmtree(out)
    out.mkdir(parents=True)
    entries = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in models:
            print(f"gpu_bundle: {name}", file=sys.stderr)
            entries.append(prepare_model(name, out / name, Path(tmp) / name, nvcc, variants))
    largest = max(entries, key=lambda e: e["macs"])["name"]
    nvcc_version = subprocess.run([nvcc, "--version"], capture_output=True, text=True).stdout.strip().splitlines()
    meta = {"format": 1, "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "qcomp_commit": _git("rev-parse", "HEAD") + (" (dirty tree)" if _git("status", "--porcelain") else ""),
            "qcomp_sources": source_digest(), "nvcc": nvcc_version[-1] if nvcc_version else "?",
            "models": entries, "largest": largest,
            "wheels": fetch_wheels(out / "wheels") if wheels else [],
            "onnxruntime_gpu": {"travels": False,
                                "why": "the onnxruntime-gpu wheel (1.31.1, cp312 manylinux_2_28 x86-64) is 255.6 MB, "
                                       "over the 64 MiB a device call can carry"}}
    meta["bytes"] = tree_bytes(out)
    (out / "bundle.json").write_text(json.dumps(meta, indent=1) + "\n")
    if meta["bytes"] > MAX_BUNDLE_BYTES:
        raise SystemExit(f"gpu_bundle: {out} holds {meta['bytes'] / 2**20:.1f} MiB, over the "
                         f"{MAX_BUNDLE_BYTES / 2**20:.0f} MiB that can travel with the working tree")
    return meta


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--set", choices=SETS, default="cnn", help="cnn: the four CNNs into gpu_bundle/ with the "
                    "wheels; minilm: MiniLM into gpu_bundle_minilm/")
    ap.add_argument("--out", type=Path, help="the bundle folder (default: the set's)")
    ap.add_argument("--models", help=f"comma-separated, from {', '.join(MODELS)} (default: the set's)")
    ap.add_argument("--variants", default=",".join(VARIANTS), help=f"comma-separated, from {', '.join(VARIANTS)}")
    ap.add_argument("--no-wheels", action="store_true", help="do not download the fallback cp312 wheels")
    args = ap.parse_args(argv)
    set_models, set_out, set_wheels = SETS[args.set]
    models = tuple(m for m in args.models.split(",") if m) if args.models else set_models
    out = args.out or REPO / set_out
    variants = tuple(v for v in args.variants.split(",") if v)
    for v in variants:
        if v not in VARIANTS:
            raise SystemExit(f"unknown variant {v!r}; choose from {', '.join(VARIANTS)}")
    meta = prepare(out, models, variants, wheels=set_wheels and not args.no_wheels)
    print(f"gpu_bundle: {out}: {len(meta['models'])} models, {meta['bytes'] / 2**20:.1f} MiB, "
          f"largest {meta['largest']}, wheels {meta['wheels']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
