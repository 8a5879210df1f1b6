"""Section 2: EfficientNet-Lite0 (ImageNet weights) on real photographs.

    test         the 20 ImageNet validation images of foolbox (labelled) + the installed real photos
    calibration  other real photographs (accuracy_lib/photos.py), proven disjoint from the test set
    FP32         onnxruntime on the exported model
    qcomp        one ref artifact per configuration (qcomp_path.CONFIGS), calibrated on that .npz
    peer         onnxruntime quantize_static (QDQ, per-channel, int8/int8) on the same arrays,
                 MinMax and Percentile

Figures per path: top-1 vs the labels (ImageNet images), top-1 agreement with FP32 and the cosine of
the 1000 logits with FP32 (all test images), and where the int8 top-1 differs from FP32.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import peers, photos
from .metrics import Comparison, cosine_rows, top1
from .models import efficientnet_lite0
from .qcomp_path import CONFIGS, build_runner, label, run_all, save_calibration
from .report import comparison_table, cos, pct, table

BROKEN = "qcomp bug: the output is unrelated to FP32 (see the notes after this section)"


@dataclass
class EfficientNetResult:
    test_names: list[str]
    labels: np.ndarray
    missing_photos: list[str]
    calibration_sources: list[str]
    calibration_count: int
    views_per_photo: int
    fp32_top1: float
    fp32_top_classes: list[int]
    rows: list[Comparison] = field(default_factory=list)
    build_seconds: dict[str, float] = field(default_factory=dict)
    seconds_per_image: dict[str, float] = field(default_factory=dict)
    per_image: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)  # path -> (argmax, cosine)

    def row(self, path: str) -> Comparison:
        return next(r for r in self.rows if r.path == path)


def measure(work: Path, qcomp_configs=("minmax", "percentile"), ort_methods=("minmax", "percentile"),
            test_limit: int | None = None, views_per_photo: int = 8, log=print) -> EfficientNetResult:
    work.mkdir(parents=True, exist_ok=True)
    test, missing = photos.evaluation_photos()
    if test_limit is not None:
        test = test[:test_limit]
    photos.check_disjoint(photos.calibration_sources() + photos.cifar_photos(), test)
    calib_set = photos.calibration_photos(views_per_photo)
    calib_feeds = [{"input": s} for s in calib_set.samples]
    calib = save_calibration(calib_feeds, work / "calibration.npz")
    model = efficientnet_lite0()
    feeds = [{"input": photos.preprocess(p.pixels)} for p in test]
    labels = np.array([p.label for p in test])
    fp32, _ = run_all(peers.session_runner(model), feeds, "logits")
    keep = labels >= 0
    result = EfficientNetResult([p.name for p in test], labels, missing, calib_set.sources, len(calib_feeds),
                                views_per_photo, top1(fp32[keep], labels[keep]), [int(k) for k in fp32.argmax(1)])
    log(f"efficientnet: {len(test)} test images, {len(calib_feeds)} calibration samples; FP32 top-1 "
        f"{pct(result.fp32_top1)} on the {int(keep.sum())} labelled")
    for k, config in enumerate(qcomp_configs):
        path = label(config)
        built = build_runner(model, work / f"qcomp_{k}", calib, **CONFIGS[config])
        logits, per_image = run_all(built.runner, feeds, "logits")
        row = Comparison.of_logits(path, logits, fp32, labels)
        if row.agreement < 0.5:
            row = Comparison.of_logits(path, logits, fp32, labels, note=BROKEN)
        result.rows.append(row)
        result.per_image[path] = (logits.argmax(1), cosine_rows(logits, fp32))
        result.build_seconds[path], result.seconds_per_image[path] = built.seconds, per_image
        log(f"efficientnet: {path}: agreement {pct(result.rows[-1].agreement)}, cosine mean "
            f"{cos(result.rows[-1].cosine_mean)} min {cos(result.rows[-1].cosine_min)}")
    for method in ort_methods:
        path = f"onnxruntime quantize_static ({method})"
        int8 = peers.quantize_static(model, calib_feeds, work / "ort", method)
        logits, per_image = run_all(peers.session_runner(int8), feeds, "logits")
        result.rows.append(Comparison.of_logits(path, logits, fp32, labels))
        result.per_image[path] = (logits.argmax(1), cosine_rows(logits, fp32))
        result.seconds_per_image[path] = per_image
        log(f"efficientnet: {path}: agreement {pct(result.rows[-1].agreement)}, cosine mean "
            f"{cos(result.rows[-1].cosine_mean)} min {cos(result.rows[-1].cosine_min)}")
    return result


def render(r: EfficientNetResult, class_names: list[str] | None) -> list[str]:
    n_lab = int(np.sum(r.labels >= 0))
    lines = [f"### 2. EfficientNet-Lite0 (ImageNet weights), {len(r.test_names)} real photographs", "",
             "Model: `tests/models/export_efficientnet.py --dynamo 1 --opset 18` (BatchNorm folded by the exporter). "
             "Preprocessing (DATA.md): short side to 256 (bilinear), centre crop 224, (x - 127) / 128, RGB, NCHW.", "",
             f"Test images: the {n_lab} ImageNet validation images of the foolbox 3.3.4 wheel (label from the file "
             f"name) and {len(r.test_names) - n_lab} real photos without a label: "
             + ", ".join(n for n, lab in zip(r.test_names, r.labels) if lab < 0) + "."
             + (" Not installed, so not measured: " + "; ".join(r.missing_photos) + "." if r.missing_photos else ""), "",
             f"Calibration: {r.calibration_count} samples, the same arrays for qcomp and onnxruntime, from real "
             "photographs that are none of the test images (checked: no equal pixels, no 16x16-thumbnail correlation "
             f"above 0.95). Each large photo gives its whole image plus {r.views_per_photo - 1} seeded random square "
             "crops (50-100% of the short side, mirrored with probability 1/2):", ""]
    lines += [f"- {s}" for s in r.calibration_sources]
    lines += ["", f"FP32 top-1 on the {n_lab} labelled images: {pct(r.fp32_top1)}. Top-1 columns count the labelled "
              f"images; agreement and cosine (of the 1000 logits) count all {len(r.test_names)}.", ""]
    lines += comparison_table(r.rows, r.fp32_top1, with_labels=True)
    lines += ["", "Where the int8 top-1 differs from FP32, and the lowest cosine:", ""]
    for path, (argmax, cosine) in r.per_image.items():
        differ = [f"{r.test_names[i]} ({r.fp32_top_classes[i]} -> {int(argmax[i])})"
                  for i in np.flatnonzero(argmax != np.array(r.fp32_top_classes))]
        worst = int(np.argmin(cosine))
        where = ", ".join(differ) if len(differ) <= 5 else f"{len(differ)} of {len(argmax)} images"
        lines.append(f"- {path}: " + (where if differ else "nowhere")
                     + f"; lowest cosine {cos(float(cosine[worst]))} on {r.test_names[worst]}")
    lines += ["", "Build time (import, calibration, quantization): " + ", ".join(
        f"{k} {v:.1f} s" for k, v in r.build_seconds.items()) + ". Run time per image (batch 1, one thread): "
        + ", ".join(f"{k} {v * 1e3:.0f} ms" for k, v in r.seconds_per_image.items()) + "."]
    if class_names is not None:
        lines += ["", "<details><summary>FP32 top-1 class of each test image</summary>", ""]
        rows = [[n, "-" if lab < 0 else f"{lab} {class_names[lab]}", f"{k} {class_names[k]}"]
                for n, lab, k in zip(r.test_names, r.labels, r.fp32_top_classes)]
        lines += table(["image", "label", "FP32 top-1"], rows) + ["", "</details>"]
    return lines
