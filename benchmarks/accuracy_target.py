"""`--accuracy COS` on the bundled example and on the test model with one bad tensor.

    python benchmarks/accuracy_target.py [--target x86-vnni] [--runs 300] [-o SECTION.md]

1. examples/fashion_mnist (trained CNN, real data): calibrated on calib.npz (256 images; --accuracy
   holds back 16 of them), evaluated on samples.npz (500 other test images with labels): default
   int8 and `--accuracy` at a few goals.
2. tests/accuracy/bad_tensor.py (seeded weights, one long-tailed tensor by construction):
   24 calibration samples, 64 fresh evaluation samples.

For each build: the tensors raised (the manifest's `accuracy`), the held-back cosine it recorded,
then on the evaluation samples the per-sample output cosine vs FP32 (mean, min), top-1 agreement
with FP32 and label accuracy where there are labels, and the median latency on one thread
(qcomp.bench, interleaved engines not used: one artifact at a time, same run count).
The section is printed (and written with -o); it goes into benchmarks/RESULTS.md by hand.
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
for p in (str(REPO), str(REPO / "tests" / "accuracy")):
    if p not in sys.path:
        sys.path.insert(0, p)

import qcomp  # noqa: E402
from qcomp.bench import bench  # noqa: E402

EXAMPLE = REPO / "examples" / "fashion_mnist"


def evaluate(model: Path, artifact: Path, x: np.ndarray, labels: np.ndarray | None, name: str, out: str) -> dict:
    g = qcomp.load_model(model)
    art = qcomp.load(artifact)
    cos, agree, right = [], 0, 0
    for i in range(len(x)):
        feeds = {name: x[i:i + 1]}
        a = np.asarray(qcomp.run_float(g, feeds)[out], np.float64).ravel()
        b = np.asarray(art.run(feeds)[out], np.float64).ravel()
        cos.append(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))
        agree += int(np.argmax(a) == np.argmax(b))
        right += int(labels is not None and np.argmax(b) == labels[i])
    return {"cos_mean": float(np.mean(cos)), "cos_min": float(np.min(cos)), "agree": agree / len(x),
            "acc": right / len(x) if labels is not None else None}


def row(model, calib, x, labels, name, out, target, runs, work: Path, goal=None) -> tuple[list[str], float]:
    """The cells of one build (after its label), and its median latency in ms."""
    t = time.perf_counter()
    art = qcomp.build(model, target, calib, work / f"{Path(model).stem}-{goal}.{target}",
                      **({"accuracy": goal} if goal else {}))
    seconds = time.perf_counter() - t
    m = json.loads((art / "manifest.json").read_text())
    e = evaluate(model, art, x, labels, name, out)
    latency = bench(art, threads=1, runs=runs, warmup=10).timings[0].median_ms
    a = m.get("accuracy")
    raised = ", ".join(f"{r['tensor']} ({r['kind']})" for r in a["raised"]) if a else ""
    held = (f"{a['final_cosine']:.6f}" + ("" if a["reached"] else " (not reached)")) if a else ""
    acc = f"{100 * e['acc']:.2f}%" if e["acc"] is not None else ""
    return [raised or "-", held, f"{e['cos_mean']:.6f}", f"{e['cos_min']:.6f}", f"{100 * e['agree']:.2f}%", acc,
            f"{latency:.4f}", f"{seconds:.1f}"], latency


def section(title, model, calib, x, labels, name, out, goals, args, work) -> list[str]:
    lines = [title, "", "| build | tensors raised | held-back cosine | cosine mean | cosine min | top-1 = FP32 | "
             "top-1 (labels) | ms (1 thread) | build s | latency cost |", "|---|---|---|---|---|---|---|---|---|---|"]
    base = None
    for goal in (None, *goals):
        cells, latency = row(model, calib, x, labels, name, out, args.target, args.runs, work, goal)
        base = latency if base is None else base
        cost = f"{100 * (latency / base - 1):+.1f}%" if goal else ""
        label = f"--accuracy {goal}" if goal else "int8 (default)"
        lines.append("| " + " | ".join([label, *cells, cost]) + " |")
    return lines + [""]


def cpu_name() -> str:
    try:
        return next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.machine()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--target", default="x86-vnni")
    ap.add_argument("--runs", type=int, default=300)
    ap.add_argument("-o", "--output")
    args = ap.parse_args()
    from bad_tensor import write_model, write_samples
    lines = [f"## `--accuracy COS` (target {args.target}, {cpu_name()})", "",
             "Command: `python benchmarks/accuracy_target.py --target " + args.target + f" --runs {args.runs}`", ""]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        z = np.load(EXAMPLE / "samples.npz")
        lines += section("examples/fashion_mnist, calibration calib.npz (256; 16 held back by --accuracy), "
                         "evaluation samples.npz (500 test images):", EXAMPLE / "model.onnx", EXAMPLE / "calib.npz",
                         z["input"], z["label"], "input", "logits", (0.99995, 0.99999), args, work)
        model, calib = write_model(work / "bad.onnx"), write_samples(work / "calib.npz", 24, seed=1)
        x = np.random.default_rng(3).normal(0, 1, (64, 3, 12, 12)).astype(np.float32)
        lines += section("tests/accuracy/bad_tensor.py (one long-tailed tensor `hot`), 24 calibration samples "
                         "(6 held back), 64 fresh evaluation samples:", model, calib, x, None, "x", "logits",
                         (0.999,), args, work)
    text = "\n".join(lines)
    print(text)
    if args.output:
        Path(args.output).write_text(text + "\n")


if __name__ == "__main__":
    main()
