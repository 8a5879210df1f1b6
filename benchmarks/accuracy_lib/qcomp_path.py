"""qcomp's int8 path, through its public API only (what a user runs):

    artifact = qcomp.api.build(model, target="ref", calib=CALIB.npz, out=DIR, **options)
    outputs  = qcomp.api.load(artifact).run(feeds)          one batch-1 sample at a time

`--target ref` is the integer reference interpreter packaged as an artifact: the numeric ground
truth every backend is bit-exact to (ARCHITECTURE.md section 3), so these figures hold for every
target. Calibration arrays are written to an .npz keyed by input name, samples on axis 0, the
format `qcomp build --calib` reads.
"""
from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .peers import Runner


# name -> options of qcomp.api.build (fields of BuildOptions); the report labels a row "qcomp int8 (name)"
CONFIGS: dict[str, dict[str, object]] = {
    "minmax": {"calib_method": "minmax"},
    "percentile": {"calib_method": "percentile"},             # 99.99, qcomp's default percentile
    "entropy": {"calib_method": "entropy"},
    "mse": {"calib_method": "mse"},
    "minmax + bias correction": {"calib_method": "minmax", "bias_correction": True},
    # accuracy controls (benchmarks/accuracy_autopilot.py)
    "auto": {"calib_method": "auto"},
    "minmax + equalize": {"calib_method": "minmax", "equalize": True},
    "minmax, per-tensor weights": {"calib_method": "minmax", "per_channel": False},
    "minmax, per-tensor weights + equalize": {"calib_method": "minmax", "per_channel": False, "equalize": True},
}


def label(config: str) -> str:
    return f"qcomp int8 ({config})"


def save_calibration(samples: Sequence[Mapping[str, np.ndarray]], path: str | Path) -> Path:
    """Stack batch-1 feed dicts into one .npz: name -> (N, *shape without the batch 1)."""
    if not samples:
        raise ValueError("no calibration samples to save")
    names = list(samples[0])
    stacked = {n: np.concatenate([np.asarray(s[n]) for s in samples], axis=0) for n in names}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **stacked)
    return path


@dataclass(frozen=True)
class Built:
    runner: Runner
    seconds: float          # build time (import, calibration, quantization, artifact)
    path: Path


def build_runner(model: str | Path, out_dir: str | Path, calib: str | Path | None, **options) -> Built:
    """Build a `ref` artifact of `model` with `options` (fields of BuildOptions) and open it."""
    import qcomp.api

    t0 = time.perf_counter()
    artifact = qcomp.api.build(model, target="ref", calib=calib, out=out_dir, **options)
    seconds = time.perf_counter() - t0
    loaded = qcomp.api.load(artifact)

    def run(feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        return loaded.run(dict(feeds))
    return Built(run, seconds, Path(artifact))


def run_all(runner: Runner, samples: Sequence[Mapping[str, np.ndarray]], output: str) -> tuple[np.ndarray, float]:
    """Run every batch-1 sample; return the stacked `output` (N, ...) and the seconds per sample."""
    t0 = time.perf_counter()
    rows = [np.asarray(runner(s)[output])[0] for s in samples]
    return np.stack(rows), (time.perf_counter() - t0) / max(len(samples), 1)
