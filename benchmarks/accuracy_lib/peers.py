"""The peer qcomp is measured against: onnxruntime's FP32 session and its own quantizers.

Static (CNNs), onnxruntime's documented workflow with the settings the benchmark fixes:

    quant_pre_process(model)                     shape inference + graph optimization (folds
                                                 BatchNormalization into Conv, as qcomp does)
    quantize_static(pre, out, reader,            reader yields the SAME calibration arrays qcomp gets
                    quant_format=QDQ, per_channel=True,
                    activation_type=QInt8, weight_type=QInt8,
                    calibrate_method=MinMax | Percentile)

so both sides use asymmetric per-tensor int8 activations and symmetric per-channel int8 weights.
onnxruntime's CPU provider then fuses the Q/DQ pairs into its integer kernels (QLinearConv, ...),
so the figures are those of its int8 execution, not of a float simulation.

Dynamic (transformers): quantize_dynamic(model, out, per_channel=True, weight_type=QInt8), with
onnxruntime's default op types or restricted to MatMul (the ops qcomp's dynamic mode quantizes).

Every session runs with one intra-op thread and ORT_ENABLE_ALL, so results do not depend on how
many cores the machine has.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

import numpy as np

Runner = Callable[[Mapping[str, np.ndarray]], dict[str, np.ndarray]]


def session_runner(model: str | Path) -> Runner:
    """A runner of one onnxruntime CPU session: feeds by input name -> outputs by output name."""
    import onnxruntime as ort
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(str(model), opts, providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]

    def run(feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        return dict(zip(names, sess.run(names, dict(feeds))))
    return run


class _Reader:
    """onnxruntime's CalibrationDataReader protocol over a list of feed dicts."""

    def __init__(self, samples: Iterable[Mapping[str, np.ndarray]]):
        self._samples = [dict(s) for s in samples]
        self._it = iter(self._samples)

    def get_next(self):
        return next(self._it, None)

    def rewind(self) -> None:
        self._it = iter(self._samples)


def quantize_static(model: str | Path, samples: Iterable[Mapping[str, np.ndarray]], out_dir: str | Path,
                    method: str = "minmax", percentile: float = 99.99) -> Path:
    """onnxruntime's static int8 QDQ model of `model`, calibrated on `samples`; returns its path."""
    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                          quant_pre_process)
    from onnxruntime.quantization import quantize_static as ort_quantize_static

    methods = {"minmax": CalibrationMethod.MinMax, "percentile": CalibrationMethod.Percentile,
               "entropy": CalibrationMethod.Entropy}
    if method not in methods:
        raise ValueError(f"onnxruntime calibration method {method!r}: choose one of {', '.join(methods)}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    pre = out_dir / "preprocessed.onnx"
    quant_pre_process(str(model), str(pre))
    reader = type("Reader", (_Reader, CalibrationDataReader), {})(samples)
    out = out_dir / f"int8_{method}.onnx"
    extra = {"CalibPercentile": percentile} if method == "percentile" else {}
    ort_quantize_static(str(pre), str(out), reader, quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QInt8, weight_type=QuantType.QInt8,
                        calibrate_method=methods[method], extra_options=extra)
    return out


def quantize_dynamic(model: str | Path, out_dir: str | Path, matmul_only: bool) -> Path:
    """onnxruntime's dynamic int8 model of `model` (per-channel int8 weights)."""
    from onnxruntime.quantization import QuantType
    from onnxruntime.quantization import quantize_dynamic as ort_quantize_dynamic

    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / ("dynamic_matmul.onnx" if matmul_only else "dynamic_default.onnx")
    ort_quantize_dynamic(str(model), str(out), per_channel=True, weight_type=QuantType.QInt8,
                         op_types_to_quantize=["MatMul"] if matmul_only else None)
    return out
