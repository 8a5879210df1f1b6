"""Calibrate: run the float graph on sample inputs and choose a clip range for every float value.

  for each sample: run_float(g, sample, on_value = observer[value].update)
  range[value] = choose_range(observer[value], method)        (lo <= 0 <= hi)

`method="auto"` chooses per value among minmax, percentile, mse and entropy (the range of least
quantization error, observers_auto.py) and records the choice in `methods`. Every histogram
method's range is checked for clipping: a value whose kept range clips more than 1 % of its
calibration values gets one line in `warnings`, naming it.

Softmax inputs: softmax(x)_i = exp(x_i - max_j x_j) / sum_j exp(x_j - max_j x_j) depends only on how
far each x_i lies below its row's maximum, and an entry more than SOFTMAX_SPAN = 32 below it weighs
exp(-32) ~ 1.3e-14 of the maximum's weight: nothing at float32's precision. For a value read only by
Softmax nodes (one axis), calibration also records m = the smallest row maximum along that axis over
all samples; where that at least halves the range (SPAN_GAIN), its range becomes
[min(0, m - SOFTMAX_SPAN), hi]: every entry within the span of its row's maximum stays inside the
range, only entries that weigh nothing are clipped.
This matters where a mask is added before the Softmax (attention's `scores + (1 - mask) * -10000`):
the masked entries would otherwise stretch the int8 grid to [-10000, hi], about 40 per step, and
every real score would fall into one or two codes; with the span they saturate at the range's low
end, which the integer Softmax maps to ~0, as float does. Such a value's method is recorded as
"<method>+softmax-span" and is not warned about (its clipping is deliberate).

Statistics stream: each observer has a fixed size (a running min/max, or a histogram of fixed
bins), so memory does not grow with the number of samples, and the float interpreter frees each
intermediate after its last use. For bias correction it also streams the per-channel mean of
the inputs of weighted layers, and for the residual outlier rule (passes/outlier16.py) the
per-channel maximum of |x| of the residual values it names. `progress(done, total)` is called
after each sample.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

import numpy as np

from ..errors import InputError
from ..ir import Graph, ops
from ..ref import run_float
from .observers import HistogramObserver, Method, choose_range, observer_for
from .observers_auto import AUTO_BINS, CLIP_WARN_SHARE, choose_auto, clip_warning, clipped_share

Range = tuple[float, float]
SOFTMAX_SPAN = 32.0   # exp(-32) ~ 1.3e-14: entries further below their row's maximum weigh nothing
SPAN_GAIN = 2.0       # the span applies only where it makes the int8 step at least this much finer


@dataclass(frozen=True)
class CalibrationResult:
    ranges: dict[str, Range]
    samples: int
    method: str
    channel_means: dict[str, np.ndarray]   # value -> float64[C] mean over all but the last axis
    methods: dict[str, str] = field(default_factory=dict)     # value -> the method whose range it got
    clipped: dict[str, float] = field(default_factory=dict)   # value -> share of values outside its range
    warnings: tuple[str, ...] = ()                            # one line per value clipped > 1 %
    channel_absmax: dict[str, np.ndarray] = field(default_factory=dict)   # value -> float64[C] max |x| per last-axis channel
    channel_extent: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)   # value -> (min[C], max[C])


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


class _ChannelExtent:
    """Streaming minimum and maximum per last-axis channel: O(C) memory."""

    def __init__(self):
        self.min: np.ndarray | None = None
        self.max: np.ndarray | None = None

    def update(self, x: np.ndarray) -> None:
        if x.size == 0:
            return
        flat = x.reshape(-1, x.shape[-1]).astype(np.float64)
        lo, hi = flat.min(axis=0), flat.max(axis=0)
        self.min = lo if self.min is None else np.minimum(self.min, lo)
        self.max = hi if self.max is None else np.maximum(self.max, hi)


def calibrate(g: Graph, samples: Iterable[Mapping[str, np.ndarray]], method: Method = "minmax", *,
              percentile: float = 99.99, total: int | None = None,
              progress: Callable[[int, int | None], None] | None = None,
              channel_means_of: frozenset[str] = frozenset(),
              channel_absmax_of: frozenset[str] = frozenset()) -> CalibrationResult:
    """`channel_means_of`: values whose per-channel mean to collect as well (bias correction);
    `channel_absmax_of`: values whose per-channel min, max and max |x| to collect (passes/outlier16.py)."""
    observers = {}
    means = {v: _ChannelMean() for v in channel_means_of}
    absmax = {v: _ChannelExtent() for v in channel_absmax_of}
    float_values = [v for v, t in g.types.items() if t.dtype.is_float and v not in g.constants]
    for v in float_values:
        observers[v] = HistogramObserver(v, AUTO_BINS) if method == "auto" else observer_for(method, v)

    softmax_axis = _read_only_by_softmax(g)
    row_max_floor: dict[str, float] = {}   # value -> the smallest row maximum seen along its Softmax axis

    def on_value(name: str, array: np.ndarray) -> None:
        if name in softmax_axis and array.size:
            floor = float(np.max(array, axis=softmax_axis[name]).min())
            row_max_floor[name] = min(row_max_floor.get(name, floor), floor)
        obs = observers.get(name)
        if obs is not None:
            obs.update(array)
        if name in means:
            means[name].update(array)
        if name in absmax:
            absmax[name].update(array)

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
        lo, hi = ranges[v]
        floor = min(0.0, row_max_floor.get(v, -np.inf) - SOFTMAX_SPAN)
        spanned = bool(hi - lo >= SPAN_GAIN * (hi - floor))   # only where it at least halves the step
        if spanned:
            ranges[v], methods[v] = (floor, hi), f"{methods[v]}+softmax-span"
        if isinstance(obs, HistogramObserver):
            clipped[v] = clipped_share(obs, *ranges[v])
            if clipped[v] > CLIP_WARN_SHARE and not spanned:
                warnings.append(clip_warning(v, methods[v], *ranges[v], clipped[v]))
    channel_means = {v: m.sum / m.count for v, m in means.items() if m.count}
    extent = {v: (m.min, m.max) for v, m in absmax.items() if m.max is not None}
    channel_absmax = {v: np.maximum(-lo, hi) for v, (lo, hi) in extent.items()}
    return CalibrationResult(ranges, count, method, channel_means, methods, clipped, tuple(warnings),
                             channel_absmax, extent)


def _read_only_by_softmax(g: Graph) -> dict[str, int]:
    """value -> Softmax axis, for the values (no graph output) whose every reader is a Softmax node
    along one same axis."""
    axes: dict[str, set] = {}
    for n in g.nodes:
        for v in n.inputs:
            axes.setdefault(v, set()).add(n.op.axis if isinstance(n.op, ops.Softmax) else None)
    return {v: next(iter(a)) for v, a in axes.items() if len(a) == 1 and None not in a and v not in g.outputs}
