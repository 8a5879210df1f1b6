"""Section 1: the bundled example CNN (examples/fashion_mnist) on labelled Fashion-MNIST test images.

    FP32     onnxruntime on model.onnx
    qcomp    qcomp.api.build(model, target="ref", calib=calib.npz, **options) then .run per image,
             for each configuration of qcomp_path.CONFIGS asked for
    peer     onnxruntime quantize_static (QDQ, per-channel, int8/int8, MinMax or Percentile)
             on the same calib.npz

calib.npz holds 256 training images (none is a test image). The model has a static batch of 1, so
every path runs the images one at a time.
"""
from __future__ import annotations

import importlib.util
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import peers
from .metrics import Comparison, top1
from .qcomp_path import CONFIGS, build_runner, label, run_all
from .report import comparison_table, pct

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "fashion_mnist"
MODEL = EXAMPLE / "model.onnx"
CALIB = EXAMPLE / "calib.npz"
SAMPLES = EXAMPLE / "samples.npz"


def _fmnist_data():
    if "fmnist_data" in sys.modules:
        return sys.modules["fmnist_data"]
    spec = importlib.util.spec_from_file_location("fmnist_data", EXAMPLE / "fmnist_data.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["fmnist_data"] = module
    spec.loader.exec_module(module)
    return module


def full_test_set() -> tuple[np.ndarray, np.ndarray]:
    """All 10 000 test images (N, 1, 28, 28) float32 and labels, from the Debian package's IDX files."""
    data = _fmnist_data()
    images, labels = data.load_split("t10k")
    return data.preprocess(images), labels


def bundled_samples() -> tuple[np.ndarray, np.ndarray]:
    """The 500 test images of examples/fashion_mnist/samples.npz (the first 500 of the test set)."""
    with np.load(SAMPLES) as f:
        return f["input"], f["label"]


def calibration_samples() -> list[dict[str, np.ndarray]]:
    with np.load(CALIB) as f:
        x = f["input"]
    return [{"input": x[i:i + 1]} for i in range(x.shape[0])]


@dataclass
class FashionResult:
    images: str
    count: int
    fp32_top1: float
    rows: list[Comparison] = field(default_factory=list)
    seconds_per_image: dict[str, float] = field(default_factory=dict)

    def row(self, path: str) -> Comparison:
        return next(r for r in self.rows if r.path == path)


def measure(images: np.ndarray, labels: np.ndarray, work: Path, what: str,
            qcomp_configs: tuple[str, ...] = ("minmax",), ort_methods: tuple[str, ...] = ("minmax",),
            log=print) -> FashionResult:
    feeds = [{"input": images[i:i + 1]} for i in range(images.shape[0])]
    fp32, _ = run_all(peers.session_runner(MODEL), feeds, "logits")
    result = FashionResult(what, len(feeds), top1(fp32, labels))
    log(f"fashion-mnist: FP32 top-1 {pct(result.fp32_top1)} on {what}")
    for k, config in enumerate(qcomp_configs):
        path = label(config)
        built = build_runner(MODEL, work / f"qcomp_{k}", CALIB, **CONFIGS[config])
        logits, per_image = run_all(built.runner, feeds, "logits")
        result.rows.append(Comparison.of_logits(path, logits, fp32, labels))
        result.seconds_per_image[path] = per_image
        log(f"fashion-mnist: {path}: top-1 {pct(result.rows[-1].top1)}, agreement "
            f"{pct(result.rows[-1].agreement)} ({per_image * 1e3:.1f} ms/image)")
    for method in ort_methods:
        path = f"onnxruntime quantize_static ({method})"
        model = peers.quantize_static(MODEL, calibration_samples(), work / "ort", method)
        logits, per_image = run_all(peers.session_runner(model), feeds, "logits")
        result.rows.append(Comparison.of_logits(path, logits, fp32, labels))
        result.seconds_per_image[path] = per_image
        log(f"fashion-mnist: {path}: top-1 {pct(result.rows[-1].top1)}, agreement {pct(result.rows[-1].agreement)}")
    return result


def render(r: FashionResult) -> list[str]:
    lines = [f"### 1. Bundled example CNN (examples/fashion_mnist), {r.images}", "",
             "Calibration: `examples/fashion_mnist/calib.npz` (256 training images, none in the test set), the same "
             "arrays for qcomp and onnxruntime. Top-1 against the labels; the other columns compare each int8 "
             "path with the FP32 logits image by image.", ""]
    lines += comparison_table(r.rows, r.fp32_top1, with_labels=True)
    lines += ["", "Run time per image (batch 1, one thread): " + ", ".join(
        f"{k} {v * 1e3:.1f} ms" for k, v in r.seconds_per_image.items()) + "."]
    return lines
