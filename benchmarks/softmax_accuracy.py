"""Integer Softmax against the float region it replaces, on the small CNN classifier of
tests/backends/c/test_c_softmax_model.py (seeded random weights, 16 seeded calibration samples).

    python benchmarks/softmax_accuracy.py [--samples 256]

Builds the model twice for the ref target, once as qcomp quantizes it (the integer Softmax, output
scale 1/256, zero point -128) and once with --skip softmax (Dequantize -> float Softmax, a float
output), runs both and the float model on the same seeded inputs, and prints per build: the largest
|p - p_float_model| per sample (its maximum and mean over the samples), the top-1 agreement with the
float model, and the largest difference between the two builds. Prints only (no RESULTS.md row).
"""
from __future__ import annotations

import argparse
import importlib.util
import tempfile
from pathlib import Path

import numpy as np

import qcomp

ROOT = Path(__file__).resolve().parents[1]


def _classifier():
    path = ROOT / "tests" / "backends" / "c" / "test_c_softmax_model.py"
    spec = importlib.util.spec_from_file_location("test_c_softmax_model", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.classifier


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=256)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="qcomp-softmax-") as tmp:
        base = Path(tmp)
        model = _classifier()(base / "classifier.onnx")
        rng = np.random.default_rng(1)
        np.save(base / "calib.npy", rng.standard_normal((16, 1, 1, 16, 16)).astype(np.float32))
        feeds = [{"x": rng.standard_normal((1, 1, 16, 16)).astype(np.float32)} for _ in range(args.samples)]
        float_model = qcomp.load_model(model)
        builds = {"integer Softmax": qcomp.load(qcomp.build(model, target="ref", calib=base / "calib.npy",
                                                            out=base / "int")),
                  "float region": qcomp.load(qcomp.build(model, target="ref", calib=base / "calib.npy",
                                                         out=base / "flt", skip=("softmax",)))}
        errors = {k: [] for k in builds}
        top1 = dict.fromkeys(builds, 0)
        between = 0.0
        for f in feeds:
            want = qcomp.run_float(float_model, f)["probs"]
            got = {k: a.run(f)["probs"] for k, a in builds.items()}
            for k, p in got.items():
                errors[k].append(float(np.abs(p - want).max()))
                top1[k] += int(np.argmax(p) == np.argmax(want))
            between = max(between, float(np.abs(got["integer Softmax"] - got["float region"]).max()))
    for k in builds:
        print(f"{k:16s} vs float model: max {max(errors[k]):.4f}, mean of per-sample max {np.mean(errors[k]):.4f}, "
              f"top-1 {top1[k]}/{len(feeds)}")
    print(f"integer Softmax vs float region: max |difference| {between:.4f} (1 LSB = {1 / 256:.4f})")


if __name__ == "__main__":
    main()
