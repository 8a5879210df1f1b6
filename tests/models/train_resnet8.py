"""Train MLPerf Tiny's ResNet-8 on real labelled images available offline, and export it to ONNX.

  python tests/models/train_resnet8.py OUT.onnx [--epochs 3]

The architecture is export_mlperf_tiny.ResNet8 (32x32x3 input, 10 classes, Softmax at the end),
unchanged. CIFAR-10, the data it was designed for, exists offline only as 20 sample photos (foolbox's
test images, ../shared/DATA.md): too few to train on. The sanity accuracy figure the issue asks for
therefore comes from Fashion-MNIST (60k train / 10k test, 10 classes, the Debian package
dataset-fashion-mnist): each 28x28 grey image is padded by 2 pixels to 32x32 and repeated over the
3 input channels; x = (pixel / 255 - 0.5) / 0.5. Deterministic: torch.manual_seed(0), one thread,
a fixed shuffling order. Adam (lr 2e-3, cosine decay), batch 128, cross-entropy on the logits
(the exported model keeps its Softmax). Prints the float test accuracy; the export is TorchScript
at opset 13 with input "input" and output "probs", as export_mlperf_tiny.py writes.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "examples" / "fashion_mnist"))
from export_mlperf_tiny import ResNet8  # noqa: E402
from fmnist_data import DATA_DIR, read_idx  # noqa: E402


def images(split: str) -> tuple[np.ndarray, np.ndarray]:
    """(x float32 [N, 3, 32, 32], labels int64 [N]) of the Fashion-MNIST split 'train' or 't10k'."""
    pixels = read_idx(DATA_DIR / f"{split}-images-idx3-ubyte.gz").astype(np.float32)
    labels = read_idx(DATA_DIR / f"{split}-labels-idx1-ubyte.gz").astype(np.int64)
    x = (np.pad(pixels, ((0, 0), (2, 2), (2, 2))) / 255.0 - 0.5) / 0.5
    return np.repeat(x[:, None], 3, axis=1).astype(np.float32), labels


def accuracy(model: ResNet8, x: np.ndarray, y: np.ndarray) -> float:
    model.eval()
    with torch.no_grad():
        pred = np.concatenate([model(torch.from_numpy(x[i:i + 500])).argmax(1).numpy()
                               for i in range(0, len(x), 500)])
    return float((pred == y).mean())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--epochs", type=int, default=3)
    args = ap.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(1)
    x, y = images("train")
    xt, yt = images("t10k")
    model = ResNet8()
    steps = args.epochs * (len(x) // 128)
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    loss_fn = nn.CrossEntropyLoss()
    order_rng = np.random.default_rng(0)
    start = time.time()
    for epoch in range(args.epochs):
        model.train()
        order = order_rng.permutation(len(x))
        for i in range(0, len(x) - 127, 128):
            idx = order[i:i + 128]
            logits = model.fc(model.features(torch.from_numpy(x[idx])))
            loss = loss_fn(logits, torch.from_numpy(y[idx]))
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        print(f"epoch {epoch + 1}: loss {loss.item():.3f}, test accuracy {accuracy(model, xt, yt):.4f} "
              f"({time.time() - start:.0f} s)", file=sys.stderr)
    model.eval()
    with torch.no_grad():
        torch.onnx.export(model, (torch.zeros(1, 3, 32, 32),), str(args.out), dynamo=False, opset_version=13,
                          input_names=["input"], output_names=["probs"])
    print(f"wrote {args.out}: float test accuracy {accuracy(model, xt, yt):.4f}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
