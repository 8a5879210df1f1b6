"""Labelled inputs of the three trained real-model fixtures, all made from Fashion-MNIST (the Debian
package dataset-fashion-mnist: 60k training / 10k test 28x28 grey images, 10 classes).

Every function is deterministic for its seed; the training scripts, the guard tests and
benchmarks/zoo_accuracy.py draw their data from here, so "test" images never meet training ones
(train_* scripts use split "train", evaluation uses split "t10k").

classify  (train_mobilenetv3.py)   x = pixel / 255, (N, 1, 28, 28)
detect    (train_centernet.py)     a CANVAS x CANVAS black canvas (64) with 1 to 3 items pasted at
                                   random places, x = max over the items of pixel / 255; item centres
                                   at least MIN_GAP pixels apart in x or y (items may overlap at
                                   their borders). Objects: (class, centre y, centre x) in pixels.
                                   The heatmap target at stride STRIDE (4 -> 16x16): per class
                                   exp(-((i - floor(cy/4))^2 + (j - floor(cx/4))^2) / (2 SIGMA^2)),
                                   1 at the object's cell, maximum over objects (CenterNet).
recognize (train_crnn.py)          a STRIP_H x STRIP_W strip (16 x 96) holding 3 to 5 items
                                   downscaled to 14x14 (2x2 means), left to right with random gaps;
                                   labels (N, 5) padded with -1, the class sequence to read.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples" / "fashion_mnist"))
from fmnist_data import DATA_DIR, read_idx  # noqa: E402

CANVAS = 64
STRIDE = 4
SIGMA = 0.8
MIN_GAP = 20
STRIP_H, STRIP_W = 16, 96
ITEM = 14           # recognizer items: 28x28 averaged over 2x2 blocks
MAX_LEN = 5


def fashion(split: str) -> tuple[np.ndarray, np.ndarray]:
    """(pixels uint8 (N, 28, 28), labels int64 (N,)) of split 'train' or 't10k'."""
    pixels = read_idx(DATA_DIR / f"{split}-images-idx3-ubyte.gz")
    labels = read_idx(DATA_DIR / f"{split}-labels-idx1-ubyte.gz").astype(np.int64)
    return pixels, labels


def classify(pixels: np.ndarray) -> np.ndarray:
    return (pixels.astype(np.float32) / 255.0)[:, None]


def _placements(rng: np.random.Generator, count: int) -> list[tuple[int, int]]:
    """`count` top-left corners of 28x28 items on the canvas, centres MIN_GAP apart in y or x."""
    while True:
        spots = [(int(rng.integers(0, CANVAS - 27)), int(rng.integers(0, CANVAS - 27))) for _ in range(count)]
        if all(max(abs(a[0] - b[0]), abs(a[1] - b[1])) >= MIN_GAP
               for i, a in enumerate(spots) for b in spots[i + 1:]):
            return spots


def detect(pixels: np.ndarray, labels: np.ndarray, count: int, seed: int):
    """(x (count, 1, 64, 64) float32, objects: list of [(class, cy, cx)] per canvas)."""
    rng = np.random.default_rng(seed)
    x = np.zeros((count, 1, CANVAS, CANVAS), np.float32)
    objects = []
    for n in range(count):
        items = []
        for top, left in _placements(rng, int(rng.integers(1, 4))):
            k = int(rng.integers(0, len(pixels)))
            patch = pixels[k].astype(np.float32) / 255.0
            x[n, 0, top:top + 28, left:left + 28] = np.maximum(x[n, 0, top:top + 28, left:left + 28], patch)
            items.append((int(labels[k]), top + 14.0, left + 14.0))
        objects.append(items)
    return x, objects


def heatmaps(objects, classes: int = 10) -> np.ndarray:
    """CenterNet targets (N, classes, 16, 16) for the objects of detect()."""
    side = CANVAS // STRIDE
    grid = np.arange(side, dtype=np.float32)
    out = np.zeros((len(objects), classes, side, side), np.float32)
    for n, items in enumerate(objects):
        for cls, cy, cx in items:
            ci, cj = cy // STRIDE, cx // STRIDE
            g = np.exp(-((grid[:, None] - ci) ** 2 + (grid[None, :] - cj) ** 2) / (2 * SIGMA ** 2))
            out[n, cls] = np.maximum(out[n, cls], g)
    return out


def recognize(pixels: np.ndarray, labels: np.ndarray, count: int, seed: int):
    """(x (count, 1, 16, 96) float32, labels (count, 5) int64 padded with -1)."""
    rng = np.random.default_rng(seed)
    small = pixels.astype(np.float32).reshape(-1, ITEM, 2, ITEM, 2).mean(axis=(2, 4)) / 255.0
    x = np.zeros((count, 1, STRIP_H, STRIP_W), np.float32)
    seq = np.full((count, MAX_LEN), -1, np.int64)
    for n in range(count):
        length = int(rng.integers(3, MAX_LEN + 1))
        spare = STRIP_W - length * ITEM
        cuts = np.sort(rng.integers(0, spare + 1, size=length))     # the gap before each item
        top = int(rng.integers(0, STRIP_H - ITEM + 1))
        for i in range(length):
            k = int(rng.integers(0, len(small)))
            left = int(cuts[i]) + i * ITEM
            x[n, 0, top:top + ITEM, left:left + ITEM] = small[k]
            seq[n, i] = labels[k]
    return x, seq


def ctc_greedy(logits: np.ndarray, blank: int = 10) -> list[list[int]]:
    """Best-path CTC decoding of (T, N, C) logits: argmax per column, merge repeats, drop blanks."""
    best = np.asarray(logits).argmax(axis=2)        # (T, N)
    out = []
    for n in range(best.shape[1]):
        prev, seq = blank, []
        for c in best[:, n]:
            if c != prev and c != blank:
                seq.append(int(c))
            prev = c
        out.append(seq)
    return out


def sequence_accuracy(logits: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of strips whose decoded class sequence equals the label sequence exactly."""
    decoded = ctc_greedy(logits)
    return float(np.mean([d == [int(v) for v in row if v >= 0] for d, row in zip(decoded, labels)]))


def detections(scores: np.ndarray, indices: np.ndarray, threshold: float = 0.3):
    """The detector's TopK outputs (N, K) -> per canvas [(class, cell y, cell x)] scoring >= threshold."""
    side = CANVAS // STRIDE
    out = []
    for s_row, i_row in zip(np.asarray(scores), np.asarray(indices)):
        out.append([(int(i) // (side * side), (int(i) // side) % side, int(i) % side)
                    for s, i in zip(s_row, i_row) if s >= threshold])
    return out


def hit_rate(scores: np.ndarray, indices: np.ndarray, objects, threshold: float = 0.3) -> tuple[float, int]:
    """(objects found / objects, false detections): a hit is an unused detection of the object's class
    whose cell is within one cell of the object's centre cell in y and x."""
    found = total = false = 0
    for dets, items in zip(detections(scores, indices, threshold), objects):
        used = [False] * len(dets)
        for cls, cy, cx in items:
            total += 1
            cell = (int(cy // STRIDE), int(cx // STRIDE))
            for j, (c, y, x) in enumerate(dets):
                if not used[j] and c == cls and abs(y - cell[0]) <= 1 and abs(x - cell[1]) <= 1:
                    used[j] = True
                    found += 1
                    break
        false += used.count(False)
    return found / max(total, 1), false
