"""The three trained real-model fixtures of tests/models/data as accuracy cases (benchmarks/zoo_accuracy.py).

    mobilenetv3  fmnist_mobilenetv3.onnx (tests/models/train_mobilenetv3.py): MobileNetV3-style
                 classifier, hard-swish and squeeze-excite. Metric: top-1 on Fashion-MNIST test images.
    centernet    fmnist_centernet.onnx (train_centernet.py): heatmap detector whose graph ends in
                 MaxPool / Equal / Where / TopK. Metric: hit rate (zoo_data.hit_rate: right class,
                 centre within one cell, score >= 0.3) on test canvases. Cosine on the heatmap.
    crnn         fmnist_crnn.onnx (train_crnn.py): conv features, bidirectional LSTM, per-column
                 classifier (CTC). Metric: sequence accuracy of best-path decoding on test strips.

Calibration: `calib` samples made from the training split (seed 10), the same arrays for qcomp and
onnxruntime; test inputs from the test split (seed 11), never calibrated on. Cosine vs FP32 is per
test input over the flattened primary output (metrics.cosine_rows), then mean and min.
"""
from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "tests" / "models" / "data"
if str(REPO / "tests" / "models") not in sys.path:
    sys.path.insert(0, str(REPO / "tests" / "models"))
import zoo_data  # noqa: E402

Outputs = Sequence[Mapping[str, np.ndarray]]      # one dict of outputs per test input


@dataclass(frozen=True)
class Case:
    name: str
    model: Path
    calib: list[dict[str, np.ndarray]]
    test: list[dict[str, np.ndarray]]
    primary: str                                   # the output the cosine is taken on
    metric_name: str
    metric: Callable[[Outputs], float]             # the task metric of a path's outputs
    agreement: Callable[[Outputs, Outputs], float]  # how often the path decides as FP32 does


def _batch(x: np.ndarray) -> list[dict[str, np.ndarray]]:
    return [{"input": x[i:i + 1]} for i in range(len(x))]


def _stack(outs: Outputs, name: str, axis: int = 0) -> np.ndarray:
    return np.concatenate([np.asarray(o[name]) for o in outs], axis=axis)


def mobilenetv3(calib: int, test: int) -> Case:
    pixels, _ = zoo_data.fashion("train")
    rng = np.random.default_rng(10)
    x = zoo_data.classify(pixels[rng.choice(len(pixels), calib, replace=False)])
    tp, ty = zoo_data.fashion("t10k")
    pick = np.random.default_rng(11).choice(len(tp), test, replace=False)
    labels = ty[pick]

    def top1(outs: Outputs) -> float:
        return float(np.mean(_stack(outs, "logits").argmax(1) == labels))

    def agree(outs: Outputs, fp32: Outputs) -> float:
        return float(np.mean(_stack(outs, "logits").argmax(1) == _stack(fp32, "logits").argmax(1)))
    return Case("MobileNetV3-style (Fashion-MNIST)", DATA / "fmnist_mobilenetv3.onnx", _batch(x),
                _batch(zoo_data.classify(tp[pick])), "logits", "top-1", top1, agree)


def centernet(calib: int, test: int) -> Case:
    x, _ = zoo_data.detect(*zoo_data.fashion("train"), calib, seed=10)
    xt, objects = zoo_data.detect(*zoo_data.fashion("t10k"), test, seed=11)

    def hits(outs: Outputs) -> float:
        return zoo_data.hit_rate(_stack(outs, "scores"), _stack(outs, "indices"), objects)[0]

    def agree(outs: Outputs, fp32: Outputs) -> float:
        a = zoo_data.detections(_stack(outs, "scores"), _stack(outs, "indices"))
        b = zoo_data.detections(_stack(fp32, "scores"), _stack(fp32, "indices"))
        return float(np.mean([sorted(p) == sorted(q) for p, q in zip(a, b)]))
    return Case("CenterNet-style detector (64x64 canvases)", DATA / "fmnist_centernet.onnx", _batch(x), _batch(xt),
                "heat", "hit rate", hits, agree)


def crnn(calib: int, test: int) -> Case:
    x, _ = zoo_data.recognize(*zoo_data.fashion("train"), calib, seed=10)
    xt, labels = zoo_data.recognize(*zoo_data.fashion("t10k"), test, seed=11)

    def seq_acc(outs: Outputs) -> float:
        return zoo_data.sequence_accuracy(_stack(outs, "logits", axis=1), labels)

    def agree(outs: Outputs, fp32: Outputs) -> float:
        a = zoo_data.ctc_greedy(_stack(outs, "logits", axis=1))
        b = zoo_data.ctc_greedy(_stack(fp32, "logits", axis=1))
        return float(np.mean([p == q for p, q in zip(a, b)]))
    return Case("CRNN (conv + BiLSTM + CTC, 16x96 strips)", DATA / "fmnist_crnn.onnx", _batch(x), _batch(xt),
                "logits", "sequence accuracy", seq_acc, agree)


CASES = {"mobilenetv3": mobilenetv3, "centernet": centernet, "crnn": crnn}
