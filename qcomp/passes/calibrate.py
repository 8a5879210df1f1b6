"""Calibrate: run the float graph on sample inputs and choose a clip range for every float value.

  for each sample: run_float(g, sample, on_value = observer[value].update)
  range[value] = choose_range(observer[value], method)        (lo <= 0 <= hi)

Statistics stream: each observer has a fixed size (a running min/max, or a histogram of fixed
bins), so memory does not grow with the number of samples, and the float interpreter frees each
intermediate after its last use. For bias correction it also streams the per-channel mean of
the inputs of weighted layers. `progress(done, total)` is called after each sample.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from ..errors import InputError
from ..ir import Graph
from ..ref import run_float
from .observers import Method, choose_range, observer_for

Range = tuple[float, float]


@dataclass(frozen=True)
class CalibrationResult:
    ranges: dict[str, Range]
    samples: int
    method: str
    channel_means: dict[str, np.ndarray]   # value -> float64[C] mean over all but the last axis


class _ChannelMean:
    """Streaming mean per last-axis channel: O(C) memory."""

    def __init__(self):
        self.sum: np.ndarray | None = None
        self.count = 0

    def update(self, x: np.ndarray) -> None:
        flat = x.reshape(-1, x.shape[-1]).astype(np.float64)
        s = flat.sum(axis=0)
        self.sum = s if self.sum is None else self.sum + s
        self.count += flat.shape[0]


def calibrate(g: Graph, samples: Iterable[Mapping[str, np.ndarray]], method: Method = "minmax", *,
              percentile: float = 99.99, total: int | None = None,
              progress: Callable[[int, int | None], None] | None = None,
              channel_means_of: frozenset[str] = frozenset()) -> CalibrationResult:
    """`channel_means_of`: values whose per-channel mean to collect as well (bias correction)."""
    observers = {}
    means = {v: _ChannelMean() for v in channel_means_of}
    float_values = [v for v, t in g.types.items() if t.dtype.is_float and v not in g.constants]
    for v in float_values:
        observers[v] = observer_for(method, v)

    def on_value(name: str, array: np.ndarray) -> None:
        obs = observers.get(name)
        if obs is not None:
            obs.update(array)
        if name in means:
            means[name].update(array)

    count = 0
    for feeds in samples:
        bad = [k for k, a in feeds.items() if np.asarray(a).dtype.kind == "f" and not np.isfinite(a).all()]
        if bad:
            raise InputError(f"calibration sample {count} of input {bad[0]!r} contains NaN or Inf; "
                             f"remove or fix that sample")
        run_float(g, feeds, on_value=on_value)
        count += 1
        if progress is not None:
            progress(count, total)
    if count == 0:
        raise InputError("the calibration set is empty: give at least one sample with --calib")
    ranges = {v: choose_range(obs, method, percentile=percentile) for v, obs in observers.items()
              if obs.count > 0}
    channel_means = {v: m.sum / m.count for v, m in means.items() if m.count}
    return CalibrationResult(ranges, count, method, channel_means)
