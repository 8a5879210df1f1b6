"""Print the roofline figures of the bundled example's cuda launch plan (not a test: a benchmark).

    .venv/bin/python tests/backends/cuda/bench_roofline.py [ARTIFACT]

Builds examples/fashion_mnist for --target cuda unless an artifact directory is given, then prints
each launch's MACs, bytes, arithmetic intensity and roofline time bound on the GPUs of
qcomp/codegen/cuda/roofline.py, and the measured time of the CPU emulation for comparison of scale only.
"""
from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from qcomp.artifact import load
from qcomp.builder import BuildOptions, build
from qcomp.codegen.cuda.roofline import GPUS, format_table

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "fashion_mnist"


def main(argv: list[str]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        art = Path(argv[0]) if argv else build(EXAMPLE / "model.onnx", Path(tmp) / "cuda",
                                               BuildOptions(target="cuda", calib=str(EXAMPLE / "calib.npz")))
        manifest = json.loads((art / "manifest.json").read_text())
        for gpu in GPUS:
            print(format_table(manifest["launches"], gpu), end="\n\n")
        if not argv:
            runner = load(art, emulate=True)
            x = np.load(EXAMPLE / "input.npz")["input"]
            runner.run({"input": x})
            t = time.perf_counter()
            for _ in range(10):
                runner.run({"input": x})
            print(f"CPU emulation (one core, fibers): {1e3 * (time.perf_counter() - t) / 10:.1f} ms per image")


if __name__ == "__main__":
    main(sys.argv[1:])
