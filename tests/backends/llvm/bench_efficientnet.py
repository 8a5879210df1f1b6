"""Benchmark (prints figures, asserts nothing): EfficientNet-Lite0, batch 1, N threads (default 1):
x86-vnni model.so vs onnxruntime FP32 and onnxruntime int8 (quantize_static, QDQ, per-channel,
u8 activations x s8 weights: its VNNI path), the same thread count for all three.

    .venv/bin/python tests/backends/llvm/bench_efficientnet.py MODEL.onnx ARTIFACT_DIR [THREADS]
"""
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

import qcomp


def best_of(fn, repeat=30) -> float:
    fn()
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return float(np.min(times))


class Reader(CalibrationDataReader):
    def __init__(self, xs):
        self.it = iter([{"input": x} for x in xs])

    def get_next(self):
        return next(self.it, None)


def main(model: str, artifact: str, threads: int = 1) -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, 3, 224, 224)).astype(np.float32)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads, opts.inter_op_num_threads = threads, 1
    fp32 = ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])
    with tempfile.TemporaryDirectory() as d:
        q = str(Path(d) / "int8.onnx")
        quantize_static(model, q, Reader([rng.standard_normal((1, 3, 224, 224)).astype(np.float32) for _ in range(4)]),
                        quant_format=QuantFormat.QDQ, per_channel=True, activation_type=QuantType.QUInt8,
                        weight_type=QuantType.QInt8)
        int8 = ort.InferenceSession(q, opts, providers=["CPUExecutionProvider"])
        art = qcomp.load(artifact, num_threads=threads)
        figures = {"onnxruntime fp32": best_of(lambda: fp32.run(None, {"input": x})),
                   "onnxruntime int8 (QDQ)": best_of(lambda: int8.run(None, {"input": x})),
                   "qcomp x86-vnni": best_of(lambda: art.run({"input": x}))}
    for name, t in figures.items():
        print(f"{name:26s} {t * 1e3:8.2f} ms / image (best of 30, {threads} thread(s); the host is shared)")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 1)
