"""MLPerf Tiny ResNet-8, trained on real images (tests/models/train_resnet8.py), float vs qcomp int8.

  .venv/bin/python benchmarks/resnet8_accuracy.py [--images 10000] [--target x86-vnni]

The model (tests/models/data/ic_resnet8_fmnist.onnx) is MLPerf Tiny's ResNet-8 architecture trained
on Fashion-MNIST padded to 32x32x3 (CIFAR-10 exists offline only as 20 photos). qcomp builds it
for the target (default x86-vnni, bit-exact to the integer reference and to the cortex-m targets,
which the op-case table and the MLPerf Tiny tests check), calibrated on 128 training images
(default minmax); FP32 is onnxruntime. Prints top-1 of both, the argmax agreement and the cosine
of the probabilities, as a Markdown table row for benchmarks/RESULTS.md.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
MODEL = REPO / "tests" / "models" / "data" / "ic_resnet8_fmnist.onnx"
sys.path.insert(0, str(REPO / "examples" / "fashion_mnist"))
from fmnist_data import DATA_DIR, read_idx  # noqa: E402


def images(split: str, n: int) -> tuple[np.ndarray, np.ndarray]:
    """The first n images of a Fashion-MNIST split as ResNet-8 inputs [n, 3, 32, 32] (train_resnet8.py)."""
    pixels = read_idx(DATA_DIR / f"{split}-images-idx3-ubyte.gz")[:n].astype(np.float32)
    labels = read_idx(DATA_DIR / f"{split}-labels-idx1-ubyte.gz")[:n].astype(np.int64)
    x = (np.pad(pixels, ((0, 0), (2, 2), (2, 2))) / 255.0 - 0.5) / 0.5
    return np.repeat(x[:, None], 3, axis=1).astype(np.float32), labels


def evaluate(n: int, target: str, calib_method: str = "minmax") -> dict:
    import onnxruntime as ort

    import qcomp.api
    x, y = images("t10k", n)
    calib, _ = images("train", 128)
    sess = ort.InferenceSession(str(MODEL), providers=["CPUExecutionProvider"])
    fp32 = np.concatenate([sess.run(None, {"input": x[i:i + 1]})[0] for i in range(n)])
    with tempfile.TemporaryDirectory() as tmp:
        np.savez(Path(tmp) / "calib.npz", input=calib)
        artifact = qcomp.api.build(MODEL, target=target, calib=Path(tmp) / "calib.npz", out=Path(tmp) / "art",
                                   calib_method=calib_method)
        loaded = qcomp.api.load(artifact)
        q = np.concatenate([np.asarray(loaded.run({"input": x[i:i + 1]})["probs"]) for i in range(n)])
    cos = np.sum(fp32 * q, 1) / (np.linalg.norm(fp32, axis=1) * np.linalg.norm(q, axis=1) + 1e-12)
    return {"n": n, "fp32_top1": float((fp32.argmax(1) == y).mean()), "int8_top1": float((q.argmax(1) == y).mean()),
            "agreement": float((fp32.argmax(1) == q.argmax(1)).mean()), "cos_mean": float(cos.mean()),
            "cos_min": float(cos.min())}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=10000)
    ap.add_argument("--target", default="x86-vnni")
    args = ap.parse_args()
    r = evaluate(args.images, args.target)
    print("| images | FP32 top-1 | qcomp int8 top-1 | argmax agreement | cosine mean / min |")
    print("|---|---|---|---|---|")
    print(f"| {r['n']} | {100 * r['fp32_top1']:.2f} % | {100 * r['int8_top1']:.2f} % | {100 * r['agreement']:.2f} % "
          f"| {r['cos_mean']:.5f} / {r['cos_min']:.4f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
