"""Top-1 accuracy of the example model through qcomp's float reference and through onnxruntime.

    top1 = #{ i : argmax_k logits[i, k] == label[i] } / N

on `samples.npz` (the first 500 official test images) or, with `--full`, on all 10 000 test images
read from the IDX files. Every path is a `Predict` callable, (B, 1, 28, 28) float32 -> (B, 10)
logits, so later int8 paths (the integer reference, compiled artifacts) plug into `evaluate`
unchanged. The model has a static batch of 1, so `per_sample` turns a batch-1 runner into a
`Predict` by running the images of a batch one at a time along axis 0.

Besides the accuracies it prints how closely qcomp's float reference follows onnxruntime: the
argmax agreement and the smallest per-image cosine similarity of the logits.

Usage: python examples/fashion_mnist/evaluate.py [--full] [--model PATH] [--samples PATH]
"""
from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
for _p in (str(HERE), str(REPO)):  # the sibling data module and this checkout's qcomp
    if _p not in sys.path:
        sys.path.insert(0, _p)

import fmnist_data  # noqa: E402
from qcomp.frontend import import_onnx  # noqa: E402
from qcomp.ref import run_float  # noqa: E402

MODEL = HERE / "model.onnx"
SAMPLES = HERE / "samples.npz"

Predict = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Evaluation:
    """The result of one path on one labelled set: its logits (N, classes) and the labels (N,)."""
    logits: np.ndarray
    labels: np.ndarray

    @property
    def total(self) -> int:
        return int(self.labels.shape[0])

    @property
    def correct(self) -> int:
        return int(np.sum(np.argmax(self.logits, axis=1) == self.labels))

    @property
    def top1(self) -> float:
        return self.correct / self.total


def evaluate(predict: Predict, images: np.ndarray, labels: np.ndarray, batch_size: int = 100) -> Evaluation:
    """Run `predict` over `images` in batches along axis 0 and collect the logits."""
    if images.shape[0] != labels.shape[0] or images.shape[0] == 0:
        raise ValueError(f"need as many labels as images (at least one), got {images.shape[0]} images "
                         f"and {labels.shape[0]} labels")
    chunks = []
    for start in range(0, images.shape[0], batch_size):
        batch = images[start:start + batch_size]
        logits = np.asarray(predict(batch))
        if logits.ndim != 2 or logits.shape[0] != batch.shape[0]:
            raise ValueError(f"predict returned shape {logits.shape} for a batch of {batch.shape[0]} images; "
                             f"it must return (batch, classes) logits")
        chunks.append(logits.astype(np.float32, copy=False))
    return Evaluation(np.concatenate(chunks), np.asarray(labels))


def per_sample(run_one: Callable[[np.ndarray], np.ndarray]) -> Predict:
    """A Predict from a runner of one (1, 1, 28, 28) image -> (1, classes) logits."""
    def predict(batch: np.ndarray) -> np.ndarray:
        return np.concatenate([np.asarray(run_one(batch[i:i + 1])).reshape(1, -1) for i in range(batch.shape[0])])
    return predict


def onnxruntime_predictor(model_path: str | Path = MODEL) -> Predict:
    import onnxruntime as ort
    sess = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    input_name, output_name = sess.get_inputs()[0].name, sess.get_outputs()[0].name
    return per_sample(lambda x: sess.run([output_name], {input_name: x})[0])


def qcomp_ref_predictor(model_path: str | Path = MODEL) -> Predict:
    graph = import_onnx(str(model_path))
    input_name, output_name = graph.inputs[0], graph.outputs[0]
    return per_sample(lambda x: run_float(graph, {input_name: x})[output_name])


def artifact_predictor(artifact: str | Path) -> Predict:
    """int8 predictions of a compiled qcomp artifact (`qcomp build ... -o ARTIFACT`)."""
    import qcomp
    art = qcomp.load(artifact)
    input_name, output_name = art.manifest["inputs"][0]["name"], art.manifest["outputs"][0]["name"]
    return per_sample(lambda x: art.run({input_name: x})[output_name])


def cosine_per_row(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    return np.sum(a64 * b64, axis=1) / (np.linalg.norm(a64, axis=1) * np.linalg.norm(b64, axis=1))


def load_samples(path: str | Path = SAMPLES) -> tuple[np.ndarray, np.ndarray]:
    with np.load(path) as f:
        return f["input"], f["label"]


def load_full_test_set() -> tuple[np.ndarray, np.ndarray]:
    images, labels = fmnist_data.load_split("t10k")
    return fmnist_data.preprocess(images), labels


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--full", action="store_true", help="all 10 000 test images from the IDX files")
    ap.add_argument("--model", type=Path, default=MODEL)
    ap.add_argument("--samples", type=Path, default=SAMPLES)
    ap.add_argument("--artifact", type=Path, help="also measure this int8 artifact (qcomp build ... -o DIR)")
    args = ap.parse_args(argv)

    images, labels = load_full_test_set() if args.full else load_samples(args.samples)
    what = f"{labels.shape[0]} Fashion-MNIST test images"
    predictors = {"qcomp ref": qcomp_ref_predictor(args.model)}
    try:
        predictors["onnxruntime"] = onnxruntime_predictor(args.model)
    except ModuleNotFoundError as e:  # onnxruntime is a test/bench extra, not a qcomp dependency
        print(f"FP32 (onnxruntime): not measured, {e.name} is not installed (pip install onnxruntime)")
    results = {}
    for label, predict in predictors.items():
        results[label] = evaluate(predict, images, labels)
        print(f"FP32 ({label}): {100 * results[label].top1:.2f}% top-1 on {what}", flush=True)
    if args.artifact is not None:
        target = json.loads((args.artifact / "manifest.json").read_text())["target"]
        int8 = evaluate(artifact_predictor(args.artifact), images, labels)
        fp32 = results["qcomp ref"]
        agree = int(np.sum(int8.logits.argmax(1) == fp32.logits.argmax(1)))
        print(f"int8 (qcomp {target} artifact): {100 * int8.top1:.2f}% top-1 on {what} "
              f"(FP32 {100 * fp32.top1:.2f}%, {100 * (int8.top1 - fp32.top1):+.2f} points); "
              f"argmax equal to FP32 on {agree}/{labels.shape[0]}", flush=True)
    if "onnxruntime" in results:
        ref, ort = results["qcomp ref"].logits, results["onnxruntime"].logits
        agree = int(np.sum(ref.argmax(1) == ort.argmax(1)))
        print(f"qcomp ref vs onnxruntime: argmax equal on {agree}/{labels.shape[0]}, "
              f"min cosine {cosine_per_row(ref, ort).min():.7f}, max |diff| {np.abs(ref - ort).max():.3g}")


if __name__ == "__main__":
    main()
