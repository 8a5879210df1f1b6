"""Calibrate: run the float graph on sample inputs and choose a clip range for every float value.

  for each sample: run_float(g, sample, on_value = observer[value].update)
  range[value] = choose_range(observer[value], method)        (lo <= 0 <= hi)

`method="auto"` chooses per value among minmax, percentile, mse and entropy (the range of least
quantization error, observers_auto.py) and records the choice in `methods`. Every histogram
method's range is checked for clipping: a value whose kept range clips more than 1 % of its
calibration values gets one line in `warnings`, naming it.

Statistics stream: each observer has a fixed size (a running min/max, or a histogram of fixed
bins), so memory does not grow with the number of samples, and the float interpreter frees each
intermediate after its last use. For bias correction it also streams the per-channel mean of
the inputs of weighted layers. `progress(done, total)` is called after each sample.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np

from ..errors import InputError
from ..ir import Graph
from ..ref import run_float
from .observers import HistogramObserver, Method, choose_range, observer_for
from .observers_auto import AUTO_BINS, CLIP_WARN_SHARE, choose_auto, clip_warning, clipped_share

Range = tuple[float, float]


@dataclass(frozen=True)
class CalibrationResult:
    ranges: dict[str, Range]
    samples: int
    method: str
    channel_means: dict[str, np.ndarray]   # value -> float64[C] mean over all but the last axis
    methods: dict[str, str] = field(default_factory=dict)     # value -> the method whose range it got
    clipped: dict[str, float] = field(default_factory=dict)   # value -> share of values outside its range
    warnings: tuple[str, ...] = ()                            # one line per value clipped > 1 %


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
        observers[v] = HistogramObserver(v, AUTO_BINS) if method == "auto" else observer_for(method, v)

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
    ranges, methods, clipped, warnings = {}, {}, {}, []
    for v, obs in observers.items():
        if obs.count == 0:
            continue
        if method == "auto":
            choice = choose_auto(obs, percentile=percentile)
            ranges[v], methods[v] = choice.range, choice.method
        else:
            ranges[v], methods[v] = choose_range(obs, method, percentile=percentile), method
        if isinstance(obs, HistogramObserver):
            clipped[v] = clipped_share(obs, *ranges[v])
            if clipped[v] > CLIP_WARN_SHARE:
                warnings.append(clip_warning(v, methods[v], *ranges[v], clipped[v]))
    channel_means = {v: m.sum / m.count for v, m in means.items() if m.count}
    return CalibrationResult(ranges, count, method, channel_means, methods, clipped, tuple(warnings))
