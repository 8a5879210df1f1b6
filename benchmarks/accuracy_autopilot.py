"""The accuracy controls on real models: `--calib-method auto`, each method, and `--equalize`.

    python benchmarks/accuracy_autopilot.py [--views N] [--mobilenet-width W] [-o SECTION.md]

1. EfficientNet-Lite0 (ImageNet weights, the cached export of benchmarks/accuracy.py section 2) on
   the same 25 test photos, calibrated on a few real photographs (`--views` crops per photo, fewer
   than accuracy.py's 8): qcomp int8 with each calibration method, `auto`, `--equalize` (per channel
   and per tensor weights), and onnxruntime quantize_static (MinMax, Percentile) on the same arrays.
   For `auto`, the methods it chose (the artifact's manifest, calibration.methods) and the clip
   warnings.
2. A MobileNetV2-style net (tests/models/cnn_zoo.py, seeded random weights and BatchNorm
   statistics) with and without `--equalize`, per-channel and per-tensor weights. Equalization
   needs ReLU between the layers (ReLU6 does not commute with a per-channel scale), so it is
   measured on the net with ReLU in place of ReLU6 (Nagel et al. did the same); on the ReLU6
   original it equalizes only the pairs with no activation between, and the note says so.

qcomp runs through its public API (`--target ref` artifacts, the integer reference every backend is
bit-exact to). The section is printed (and written with -o); it goes into benchmarks/RESULTS.md by hand.
"""
from __future__ import annotations

import argparse
import json
import platform
import shlex
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
for _p in (str(HERE), str(REPO)):
    if _p not in sys.path:
        sys.path.insert(0, _p)

import numpy as np  # noqa: E402

from accuracy_lib import efficientnet, peers, photos  # noqa: E402
from accuracy_lib.metrics import Comparison  # noqa: E402
from accuracy_lib.qcomp_path import CONFIGS, build_runner, label, run_all, save_calibration  # noqa: E402
from accuracy_lib.report import comparison_table  # noqa: E402

EFFICIENTNET = ("minmax", "percentile", "entropy", "mse", "auto", "minmax + equalize")
MOBILENET = ("minmax", "minmax + equalize", "minmax, per-tensor weights", "minmax, per-tensor weights + equalize")


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def auto_summary(artifact: Path) -> list[str]:
    c = json.loads((artifact / "manifest.json").read_text())["calibration"]
    counts: dict[str, int] = {}
    for m in c.get("methods", {}).values():
        counts[m] = counts.get(m, 0) + 1
    lines = ["`auto` chose, over the " + str(sum(counts.values())) + " activation tensors: "
             + ", ".join(f"{m} {k}" for m, k in sorted(counts.items(), key=lambda mk: -mk[1])) + "."]
    warnings = c.get("warnings", [])
    lines.append(f"Clip warnings (a kept range clips > 1 % of a tensor's calibration values): {len(warnings)}"
                 + (": " + "; ".join(warnings[:3]) + (" ..." if len(warnings) > 3 else "") if warnings else "") + ".")
    return lines


def equalize_notes(artifact: Path) -> list[str]:
    c = json.loads((artifact / "manifest.json").read_text())["calibration"]
    return [n for n in c.get("notes", []) if n.startswith("--equalize")]


def float_notes(model: Path) -> list[str]:
    """What --equalize does to `model`'s float graph (the build's notes), without calibrating."""
    import qcomp
    from qcomp.builder import BuildOptions, float_graph
    notes: list[str] = []
    float_graph(qcomp.load_model(model), BuildOptions(equalize=True), notes)
    return notes


def section_efficientnet(work: Path, views: int) -> list[str]:
    t0 = time.perf_counter()
    r = efficientnet.measure(work / "efficientnet", EFFICIENTNET, ("minmax", "percentile"),
                             views_per_photo=views, log=log)
    lines = [f"EfficientNet-Lite0, {len(r.test_names)} test photos, {r.calibration_count} calibration samples "
             f"({views} views per large photo + the 40 CIFAR photos):", ""]
    lines += comparison_table(r.rows, r.fp32_top1, with_labels=True)
    lines += [""] + auto_summary(work / "efficientnet" / f"qcomp_{EFFICIENTNET.index('auto')}")
    lines += ["`--equalize` on EfficientNet-Lite0: " + " ".join(float_notes(efficientnet.efficientnet_lite0()))]
    lines += ["Build time: " + ", ".join(f"{k.removeprefix('qcomp int8 ')} {v:.0f} s" for k, v in r.build_seconds.items())
              + f". Section time {time.perf_counter() - t0:.0f} s."]
    return lines


def mobilenet(work: Path, width: float, relu: bool) -> Path:
    import onnx
    from tests.models.cnn_zoo import mobilenet_v2
    from tests.models.onnx_builder import OnnxBuilder

    original = OnnxBuilder.relu6
    if relu:
        OnnxBuilder.relu6 = OnnxBuilder.relu
    try:
        model = mobilenet_v2(width=width, seed=0)
    finally:
        OnnxBuilder.relu6 = original
    path = work / f"mobilenet_v2_{width}_{'relu' if relu else 'relu6'}.onnx"
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, path)
    return path


def section_mobilenet(work: Path, views: int, width: float) -> list[str]:
    test, _ = photos.evaluation_photos()
    feeds = [{"input": photos.preprocess(p.pixels)} for p in test]
    calib_feeds = [{"input": s} for s in photos.calibration_photos(views).samples]
    calib = save_calibration(calib_feeds, work / "mobilenet" / "calibration.npz")
    lines = []
    for relu in (True, False):
        model = mobilenet(work / "mobilenet", width, relu)
        fp32, _ = run_all(peers.session_runner(model), feeds, _output_name(model))
        rows = []
        configs = MOBILENET if relu else ("minmax", "minmax + equalize")
        for k, config in enumerate(configs):
            out = work / "mobilenet" / f"{model.stem}_{k}"
            built = build_runner(model, out, calib, **CONFIGS[config])
            logits, _ = run_all(built.runner, feeds, _output_name(model))
            rows.append(Comparison.of_logits(label(config), logits, fp32, np.full(len(feeds), -1)))
            log(f"mobilenet {model.stem}: {config}: cosine mean {rows[-1].cosine_mean:.5f}")
            if config == "minmax + equalize":
                note = " ".join(equalize_notes(out))
        if relu:
            int8 = peers.quantize_static(model, calib_feeds, work / "mobilenet" / "ort", "minmax")
            logits, _ = run_all(peers.session_runner(int8), feeds, _output_name(model))
            rows.append(Comparison.of_logits("onnxruntime quantize_static (minmax)", logits, fp32,
                                             np.full(len(feeds), -1)))
            lines += [f"MobileNetV2-style (cnn_zoo.mobilenet_v2, width {width}, seeded random weights, ReLU in "
                      f"place of ReLU6), the same {len(feeds)} test photos, {len(calib_feeds)} calibration samples:", ""]
            lines += comparison_table(rows, None, with_labels=False) + ["", f"`--equalize` there: {note}", ""]
        else:
            lines += [f"On the ReLU6 original (cnn_zoo.mobilenet_v2 as it is): {note} Cosine mean minmax "
                      f"{rows[0].cosine_mean:.5f}, with --equalize {rows[1].cosine_mean:.5f}."]
    return lines


def section_minilm(work: Path, calib_count: int, configs=("minmax", "auto")) -> list[str]:
    """all-MiniLM-L6-v2 with static int8 activations (`--quant full`): calibrated on the first
    `calib_count` sentences of accuracy_lib/minilm.py, compared on the others."""
    from accuracy_lib import minilm
    from accuracy_lib.metrics import mean_pool

    model = minilm.minilm_dir() / "model.onnx"
    feeds = minilm.tokenize()
    calib_feeds, test = feeds[:calib_count], feeds[calib_count:]
    calib = save_calibration(calib_feeds, work / "minilm" / "calibration.npz")
    masks = np.concatenate([f["attention_mask"] for f in test])

    def embed(runner):
        return mean_pool(run_all(runner, test, "last_hidden_state")[0], masks)

    fp32 = embed(peers.session_runner(model))
    rows = []
    for k, config in enumerate(configs):
        built = build_runner(model, work / "minilm" / f"qcomp_{k}", calib, **CONFIGS[config])
        rows.append(Comparison.of_embeddings(label(config), embed(built.runner), fp32))
        log(f"minilm: {config}: cosine mean {rows[-1].cosine_mean:.5f}")
    int8 = peers.quantize_static(model, calib_feeds, work / "minilm" / "ort", "minmax")
    rows.append(Comparison.of_embeddings("onnxruntime quantize_static (minmax)", embed(peers.session_runner(int8)), fp32))
    lines = [f"all-MiniLM-L6-v2, static int8 activations, calibrated on {len(calib_feeds)} sentences, sentence-embedding "
             f"cosine on the other {len(test)}:", ""]
    return lines + comparison_table(rows, None, with_labels=False)


def _output_name(model: Path) -> str:
    import onnx
    return onnx.load(str(model), load_external_data=False).graph.output[0].name


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--views", type=int, default=2, help="calibration views per large photo (default 2)")
    ap.add_argument("--mobilenet-width", type=float, default=0.5)
    ap.add_argument("--sections", default="efficientnet,mobilenet", help="efficientnet, mobilenet, minilm")
    ap.add_argument("--minilm-calib", type=int, default=6, help="MiniLM calibration sentences (the rest are tested)")
    ap.add_argument("--work", default="/tmp/qcomp_accuracy_autopilot")
    ap.add_argument("-o", "--output")
    args = ap.parse_args(argv)
    work = Path(args.work)
    lines = [f"Command: `python {' '.join(shlex.quote(a) for a in ['benchmarks/accuracy_autopilot.py', *(argv or sys.argv[1:])])}`, "
             f"{time.strftime('%Y-%m-%d', time.gmtime())}, {cpu_model()}.", ""]
    sections = args.sections.split(",")
    if "efficientnet" in sections:
        lines += section_efficientnet(work, args.views) + [""]
    if "mobilenet" in sections:
        lines += section_mobilenet(work, args.views, args.mobilenet_width)
    if "minilm" in sections:
        lines += section_minilm(work, args.minilm_calib)
    text = "\n".join(lines) + "\n"
    print(text)
    if args.output:
        Path(args.output).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
