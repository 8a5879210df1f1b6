"""`--calib-method auto`: per tensor, the range of least quantization error, and the clip warning.

Helper module of qcomp/passes/calibrate.py. For one tensor's `HistogramObserver` (8192 bins, as
entropy needs), every candidate method proposes a range with `choose_range`:

    minmax, percentile (at --percentile), mse, and entropy where it is admissible (below)

and each candidate (lo, hi) is scored by the error of quantize-dequantize over the calibration
values, the objective the mse search minimizes (observers_search.expected_sq_error):

    err(lo, hi) = E[(x - dequant(quant(x)))^2]   with quant on the grid qparams_from_range(lo, hi)
                                                 gives (zero point rounded), L = 256 levels,
                  x distributed as the histogram (merged to <= 1024 bins, uniform inside a bin).

Every candidate is scored by this one integral, on the same merged histogram, so the scores are
comparable. The chosen method is the first of (minmax, percentile, mse, entropy) whose error is
within a relative 1e-9 of the least: ties go to the simpler range, and the order is fixed, so the
choice is a function of the histogram alone (which is independent of batching:
observers.py) and hence deterministic.

Entropy is admissible only where it does not clip the distribution's mass: where the share of
calibration values outside its range is at most what percentile drops by definition,
(100 - P) / 100. Its KL search ignores how much mass it clips (a narrow window with its mass in
the edge bins can have a small divergence), so a range that clips more than that is not offered.

Clipped share (the warning): the values outside [lo, hi], counted on the histogram with linear
interpolation inside the bins lo and hi fall in (exact to within those two bins' counts):

    clipped(lo, hi) = F(lo) + (N - F(hi)),   F the interpolated cumulative count,

with a side that reaches the observed minimum (maximum) counted as clipping nothing: a spike of
equal values (an attention mask's -10000) sits inside one bin, where interpolation would count
part of it as clipped.

`calibrate` warns, one line per tensor naming it, where the range it keeps (any histogram method)
clips more than CLIP_WARN_SHARE = 1 % of that tensor's calibration values.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from .observers import METHODS, HistogramObserver, choose_range
from .observers_search import _with_zero, expected_sq_error

CALIB_METHODS: tuple[str, ...] = (*METHODS, "auto")
AUTO_ORDER = ("minmax", "percentile", "mse", "entropy")   # the tie order: simplest range first
AUTO_BINS = 8192                                          # entropy's histogram (observer_for)
CLIP_WARN_SHARE = 0.01
_LEVELS = 256                                             # int8


@dataclass(frozen=True)
class AutoChoice:
    method: str                          # the method whose range was kept
    range: tuple[float, float]
    errors: dict[str, float]             # method -> expected squared error of its range
    clipped: dict[str, float]            # method -> share of calibration values outside its range


def clipped_share(obs: HistogramObserver, lo: float, hi: float) -> float:
    """Share of the observed values outside [lo, hi] (module docstring), in [0, 1]."""
    if obs.count == 0 or (lo <= obs.min and hi >= obs.max):
        return 0.0
    counts = obs.counts.astype(np.float64)
    total = float(obs.count)
    if counts.sum() == 0:      # every value was 0, and 0 is inside every range
        return 0.0
    cdf = np.interp([lo, hi], obs.edges, np.concatenate([[0.0], np.cumsum(counts)]))
    below = 0.0 if lo <= obs.min else cdf[0]            # a side holding the extreme value clips
    above = 0.0 if hi >= obs.max else total - cdf[1]    # nothing there, whatever bin it lies in
    return float(min(1.0, max(0.0, (below + above) / total)))


def range_errors(obs: HistogramObserver, ranges: dict[str, tuple[float, float]],
                 levels: int = _LEVELS) -> dict[str, float]:
    """The expected squared quantize-dequantize error of each range under `obs`'s histogram."""
    counts = obs.counts
    if obs.min >= obs.max or counts.sum() == 0:       # a constant tensor: every range is exact
        return {m: 0.0 for m in ranges}
    edges = obs.edges
    width = float(edges[1] - edges[0])
    hist, base, d = _with_zero(counts, int(round(edges[0] / width)), 1024)
    used = np.flatnonzero(hist)
    u = np.ldexp((used + base).astype(np.float64), int(round(math.log2(width))) + d)
    v = u + width * 2.0 ** d
    density = hist[used] / (hist.sum() * (v - u))
    names = list(ranges)
    lo = np.array([ranges[m][0] for m in names], np.float64)
    hi = np.array([ranges[m][1] for m in names], np.float64)
    err = np.zeros(len(names))
    live = hi > lo                                     # lo == hi == 0: nothing representable
    if live.any():
        err[live] = expected_sq_error(u, v, density, lo[live], hi[live], levels - 1)
    if not live.all():
        err[~live] = float(np.sum(hist[used] / hist.sum() * ((u + v) / 2) ** 2))
    return dict(zip(names, (float(e) for e in err)))


def choose_auto(obs: HistogramObserver, *, percentile: float = 99.99) -> AutoChoice:
    """The candidate range of least error (module docstring) and the scores that chose it."""
    ranges = {m: choose_range(obs, m, percentile=percentile) for m in AUTO_ORDER}
    clipped = {m: clipped_share(obs, *r) for m, r in ranges.items()}
    if clipped["entropy"] > (100.0 - percentile) / 100.0 + 1e-12:
        del ranges["entropy"]
    errors = range_errors(obs, ranges)
    least = min(errors.values())
    method = next(m for m in AUTO_ORDER if m in errors and errors[m] <= least * (1 + 1e-9))
    return AutoChoice(method, ranges[method], errors, clipped)


def clip_warning(name: str, method: str, lo: float, hi: float, share: float) -> str:
    """The one-line warning for a range that clips more than CLIP_WARN_SHARE of a tensor's values."""
    return (f"tensor {name!r}: the {method} range [{lo:.6g}, {hi:.6g}] clips {100 * share:.2f} % of its "
            f"calibration values (more than {100 * CLIP_WARN_SHARE:g} %); if the output suffers, use "
            f"--calib-method minmax, or keep its producer in float with --precision NODE=float")
