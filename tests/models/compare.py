"""Run one ONNX model through qcomp (frontend + float reference) and onnxruntime, and compare.

Two figures per output, with a = qcomp's result and b = onnxruntime's (the trusted one):

  cosine   = <a, b> / (|a| |b|)                    in float64 over all elements; >= 0.9999
  max_rel  = max |a - b| / max |b|                 relative to the output's range;  <= 1e-3

Cosine catches a wrong direction (a permuted layout, a wrong op) even when magnitudes are small;
max_rel catches a localised error (one channel, one border pixel) that cosine averages away.
Every comparison is printed (visible with -s) and recorded in FIGURES for the session summary.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort

COSINE_MIN = 0.9999
MAX_REL_MAX = 1e-3


@dataclass(frozen=True)
class Figure:
    case: str
    output: str
    shape: tuple[int, ...]
    cosine: float
    max_rel: float

    @property
    def ok(self) -> bool:
        return self.cosine >= COSINE_MIN and self.max_rel <= MAX_REL_MAX

    def __str__(self) -> str:
        return (f"{self.case:<44} {self.output:<22} {str(self.shape):<18} cosine {self.cosine:.10f}  "
                f"max_rel {self.max_rel:.2e}  {'ok' if self.ok else 'MISMATCH'}")


FIGURES: list[Figure] = []


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    a64, b64 = a.astype(np.float64).ravel(), b.astype(np.float64).ravel()
    na, nb = np.linalg.norm(a64), np.linalg.norm(b64)
    if na == 0.0 or nb == 0.0:
        return 1.0 if na == nb else 0.0
    return float(a64 @ b64 / (na * nb))


def max_rel(a: np.ndarray, b: np.ndarray) -> float:
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    scale = np.abs(b64).max()
    err = np.abs(a64 - b64).max()
    return float(err / scale) if scale > 0 else float(err)


def run_onnxruntime(model: onnx.ModelProto | Path, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.intra_op_num_threads = 2
    src = model.SerializeToString() if isinstance(model, onnx.ModelProto) else str(model)
    sess = ort.InferenceSession(src, opts, providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    return dict(zip(names, sess.run(names, feeds)))


def run_qcomp(model: onnx.ModelProto | Path, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    from qcomp.frontend import import_onnx
    from qcomp.ref import run_float

    graph = import_onnx(model if isinstance(model, onnx.ModelProto) else str(model))
    return run_float(graph, feeds)


def measure(case: str, got: dict[str, np.ndarray], want: dict[str, np.ndarray]) -> list[Figure]:
    """Figures for every output of `want`; `got` must have exactly the same names and shapes."""
    assert sorted(got) == sorted(want), f"{case}: qcomp outputs {sorted(got)}, onnxruntime {sorted(want)}"
    figures = []
    for name, b in want.items():
        a = got[name]
        assert a.shape == b.shape, f"{case}: output {name!r} has shape {a.shape}, onnxruntime {b.shape}"
        assert np.isfinite(a).all(), f"{case}: output {name!r} of qcomp has non-finite values"
        figures.append(Figure(case, name, b.shape, cosine(a, b), max_rel(a, b)))
    return figures


def check_against_onnxruntime(case: str, model: onnx.ModelProto | Path,
                              feeds: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Run both, print and record the figures, assert the bounds; returns (qcomp's, onnxruntime's)."""
    want = run_onnxruntime(model, feeds)
    got = run_qcomp(model, feeds)
    figures = measure(case, got, want)
    for f in figures:
        print(f"\n[qcomp vs onnxruntime] {f}", end="")
    FIGURES.extend(figures)
    bad = [f for f in figures if not f.ok]
    assert not bad, (f"{case}: qcomp's float reference differs from onnxruntime (need cosine >= "
                     f"{COSINE_MIN}, max_rel <= {MAX_REL_MAX}):\n" + "\n".join(map(str, bad)))
    return got, want


def random_feeds(model: onnx.ModelProto, seed: int = 0) -> dict[str, np.ndarray]:
    """Standard-normal float32 inputs for every (float, static-shaped) graph input."""
    rng = np.random.default_rng(seed)
    feeds = {}
    for inp in model.graph.input:
        shape = tuple(d.dim_value for d in inp.type.tensor_type.shape.dim)
        assert inp.type.tensor_type.elem_type == onnx.TensorProto.FLOAT and all(shape), inp
        feeds[inp.name] = rng.standard_normal(shape).astype(np.float32)
    return feeds
