"""Train the bundled example model (a small CNN on Fashion-MNIST) and write its fixtures.

    Conv(1->16, 3x3, pad 1) + BatchNorm + Relu      28x28x16
    MaxPool 2x2                                      14x14x16
    Conv(16->32, 3x3, pad 1) + BatchNorm + Relu      14x14x32
    MaxPool 2x2                                      7x7x32
    Flatten                                          1568
    Gemm(1568 -> 64) + Relu
    Gemm(64 -> 10)                                   logits

Training: the 60k official training images, x = pixel / 255, Adam (lr 2e-3, cosine decay to 0 over
all steps), batch 128, cross-entropy, 3 epochs (about a minute on 2 cores). Everything is seeded
(torch.manual_seed(0), np.random.default_rng(0)), deterministic algorithms, 2 threads, so a rerun on
the same torch build gives the same weights.

Export: `torch.onnx.export(dynamo=False, opset_version=13)` in eval mode with
`training=TrainingMode.PRESERVE` and `do_constant_folding=False`: the TorchScript exporter's EVAL
peephole would fold BatchNorm into the Conv before it, and qcomp must see (and fold) the
BatchNormalization nodes itself. Input `input` (1, 1, 28, 28) float32 NCHW, output `logits` (1, 10).

Fixtures written next to this file (see README.md):
    model.onnx    the exported model
    samples.npz   input (500, 1, 28, 28) float32, label (500,) int64: the first 500 official TEST images
    input.npz     input (1, 1, 28, 28) float32: samples[0], for `qcomp run model.onnx --input input.npz`
    calib.npz     input (256, 1, 28, 28) float32: 256 TRAINING images chosen with default_rng(0)
                  (calibration data for the quantizer; the test images stay unseen)

Usage: python examples/fashion_mnist/train.py [--epochs N] [--out DIR]
"""
from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import fmnist_data  # noqa: E402  (sibling module; this file is run as a script)

SEED = 0
NUM_SAMPLES = 500
NUM_CALIB = 256
BATCH = 128
LR = 2e-3


class SmallCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(16)
        self.conv2 = nn.Conv2d(16, 32, 3, padding=1)
        self.bn2 = nn.BatchNorm2d(32)
        self.pool = nn.MaxPool2d(2)
        self.flatten = nn.Flatten()
        self.fc1 = nn.Linear(32 * 7 * 7, 64)
        self.fc2 = nn.Linear(64, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(torch.relu(self.bn1(self.conv1(x))))
        x = self.pool(torch.relu(self.bn2(self.conv2(x))))
        return self.fc2(torch.relu(self.fc1(self.flatten(x))))


def seed_everything() -> np.random.Generator:
    torch.manual_seed(SEED)
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(2)
    return np.random.default_rng(SEED)


def train(model: SmallCNN, x: torch.Tensor, y: torch.Tensor, epochs: int, rng: np.random.Generator) -> None:
    steps_per_epoch = -(-len(x) // BATCH)
    opt = torch.optim.Adam(model.parameters(), lr=LR)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs * steps_per_epoch)
    loss_fn = nn.CrossEntropyLoss()
    for epoch in range(epochs):
        model.train()
        t0, total, correct, loss_sum = time.perf_counter(), 0, 0, 0.0
        order = torch.from_numpy(rng.permutation(len(x)))
        for i in range(steps_per_epoch):
            idx = order[i * BATCH:(i + 1) * BATCH]
            xb, yb = x[idx], y[idx]
            logits = model(xb)
            loss = loss_fn(logits, yb)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            loss_sum += float(loss.detach()) * len(idx)
            correct += int((logits.argmax(1) == yb).sum())
            total += len(idx)
        print(f"epoch {epoch + 1}/{epochs}: loss {loss_sum / total:.4f}, train acc {correct / total:.4f}, "
              f"{time.perf_counter() - t0:.1f} s", flush=True)


def export_onnx(model: SmallCNN, path: Path) -> None:
    model.eval()
    dummy = torch.zeros(1, 1, 28, 28)
    with warnings.catch_warnings():  # the legacy exporter is chosen on purpose (it keeps BatchNorm)
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(model, (dummy,), str(path), dynamo=False, opset_version=13,
                          input_names=["input"], output_names=["logits"],
                          training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=False)


def pick_calibration(num_train: int) -> np.ndarray:
    """Sorted indices of NUM_CALIB training images, drawn with their own generator so the choice does
    not depend on how long training ran. (No training image is byte-identical to a test image, which
    tests/examples checks on the written fixtures.)"""
    rng = np.random.default_rng(SEED)
    return np.sort(rng.choice(num_train, size=NUM_CALIB, replace=False)).astype(np.int64)


def onnxruntime_predictions(model_path: Path, x: np.ndarray) -> np.ndarray:
    """Predicted classes of the exported file, one batch-1 run per image (evaluate.py does the same
    through qcomp; training stays independent of the compiler under development)."""
    import onnxruntime as ort
    sess = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
    return np.array([int(np.argmax(sess.run(["logits"], {"input": x[i:i + 1]})[0])) for i in range(len(x))])


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--epochs", type=int, default=3)
    ap.add_argument("--out", type=Path, default=HERE, help="where to write model.onnx and the .npz fixtures")
    args = ap.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)

    rng = seed_everything()
    train_images, train_labels = fmnist_data.load_split("train")
    test_images, test_labels = fmnist_data.load_split("t10k")
    x_train = torch.from_numpy(fmnist_data.preprocess(train_images))
    y_train = torch.from_numpy(train_labels)

    model = SmallCNN()
    t0 = time.perf_counter()
    train(model, x_train, y_train, args.epochs, rng)
    print(f"trained {args.epochs} epochs in {time.perf_counter() - t0:.0f} s")

    model_path = args.out / "model.onnx"
    export_onnx(model, model_path)
    x_test = fmnist_data.preprocess(test_images)
    np.savez_compressed(args.out / "samples.npz", input=x_test[:NUM_SAMPLES], label=test_labels[:NUM_SAMPLES])
    np.savez_compressed(args.out / "input.npz", input=x_test[:1])
    calib_idx = pick_calibration(len(train_images))
    np.savez_compressed(args.out / "calib.npz", input=fmnist_data.preprocess(train_images[calib_idx]))

    with torch.no_grad():
        torch_acc = float((model(torch.from_numpy(x_test)).argmax(1).numpy() == test_labels).mean())
    correct = onnxruntime_predictions(model_path, x_test) == test_labels
    full, head = float(correct.mean()), float(correct[:NUM_SAMPLES].mean())
    print(f"wrote {model_path} ({model_path.stat().st_size} bytes)")
    print(f"FP32 (torch): {100 * torch_acc:.2f}% top-1 on {len(x_test)} Fashion-MNIST test images")
    print(f"FP32 (onnxruntime): {100 * full:.2f}% top-1 on {len(x_test)} Fashion-MNIST test images")
    print(f"FP32 (onnxruntime): {100 * head:.2f}% top-1 on the first {NUM_SAMPLES} test images (samples.npz)")


if __name__ == "__main__":
    main()
