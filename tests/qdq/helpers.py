"""Shared steps of the QDQ tests: quantize with qcomp or onnxruntime, run both, compare int8 codes."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
from onnxruntime.quantization.shape_inference import quant_pre_process

from qcomp.builder import BuildOptions, quantize_model
from qcomp.frontend import import_onnx
from qcomp.ir import Graph, QuantParams, ops
from qcomp.passes.lower_integer import lower_integer
from qcomp.ref.integer import run_integer

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "fashion_mnist"
OPT_LEVELS = {"ort_unfused": ort.GraphOptimizationLevel.ORT_DISABLE_ALL,
              "ort_fused": ort.GraphOptimizationLevel.ORT_ENABLE_ALL}


def session(model: onnx.ModelProto | str | Path, level: str = "ort_fused") -> ort.InferenceSession:
    so = ort.SessionOptions()
    so.graph_optimization_level = OPT_LEVELS[level]
    so.intra_op_num_threads = 1
    data = model.SerializeToString() if isinstance(model, onnx.ModelProto) else str(model)
    return ort.InferenceSession(data, so, providers=["CPUExecutionProvider"])


def output_params(q: Graph, output: str) -> QuantParams:
    """The int8 params of a graph output (the input of its Dequantize)."""
    prod = q.producers()[output]
    assert isinstance(prod.op, ops.Dequantize), f"output {output!r} is not dequantized: {prod}"
    return q.types[prod.inputs[0]].quant


def codes(y: np.ndarray, qp: QuantParams) -> np.ndarray:
    """int8 codes of dequantized float outputs: rint(y / scale) + zero_point (exact for DQ outputs)."""
    return (np.rint(y.astype(np.float64) / float(qp.scale[0])) + int(qp.zero_point[0])).astype(np.int64)


def compare(q: Graph, sess: ort.InferenceSession, samples: list[dict[str, np.ndarray]], output: str):
    """|ort - qcomp| in LSB of `output` for every element of every sample, and top-1 agreement."""
    target = lower_integer(q)
    qp = output_params(q, output)
    diffs, agree = [], 0
    for feeds in samples:
        theirs = codes(sess.run([output], feeds)[0], qp)
        ours = run_integer(target, feeds, raw=True)[output].astype(np.int64)
        diffs.append(np.abs(theirs - ours).reshape(-1))
        agree += int(np.argmax(theirs) == np.argmax(ours))
    return np.concatenate(diffs), agree / len(samples)


def example_samples(count: int) -> list[dict[str, np.ndarray]]:
    x = np.load(EXAMPLE / "samples.npz")["input"][:count]
    return [{"input": x[i:i + 1]} for i in range(count)]


class Reader(CalibrationDataReader):
    def __init__(self, samples: list[dict[str, np.ndarray]]):
        self._it = iter(samples)

    def get_next(self):
        return next(self._it, None)


def ort_quantize(model: onnx.ModelProto | Path, tmp: Path, samples: list[dict[str, np.ndarray]],
                 fmt: str = "QDQ", activation: str = "QInt8", weight: str = "QInt8") -> Path:
    """onnxruntime's quantize_static (after quant_pre_process, which folds BatchNorm), per channel."""
    src = tmp / "float.onnx"
    onnx.save(model if isinstance(model, onnx.ModelProto) else onnx.load(model), src)
    pre = tmp / "pre.onnx"
    quant_pre_process(str(src), str(pre))
    out = tmp / f"{fmt}_{activation}_{weight}.onnx"
    quantize_static(str(pre), str(out), Reader(samples), quant_format=getattr(QuantFormat, fmt), per_channel=True,
                    activation_type=getattr(QuantType, activation), weight_type=getattr(QuantType, weight))
    return out


def import_and_quantize(path, **options) -> Graph:
    q, _ = quantize_model(import_onnx(path), BuildOptions(**options))
    return q


def int8_reference(q: Graph, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Every value of the integer reference run (TARGET graph values keep the QUANTIZED names)."""
    seen: dict[str, np.ndarray] = {}
    run_integer(lower_integer(q), feeds, on_value=lambda name, a: seen.__setitem__(name, a))
    return seen
