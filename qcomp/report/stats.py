"""Streaming error statistics of one tensor: a float reference x and its int8 approximation x_hat.

Over every element of every sample seen (sums in float64, so the order of the samples does not
matter beyond float64 rounding):

    cosine        = sum(x * x_hat) / sqrt(sum(x^2) * sum(x_hat^2))    (1 when both are all zero,
                                                                        0 when only one is)
    SNR (dB)      = 10 log10(sum(x^2) / sum((x - x_hat)^2))            (+inf when x_hat == x)
    max abs error = max |x - x_hat|
    clip rate     = share of the x that quantizing with (scale, zero_point) would saturate:
                    rint(x / scale) + zero_point outside [qmin, qmax], that is
                    x < (qmin - zero_point - 1/2) * scale  or  x > (qmax - zero_point + 1/2) * scale

The clip bounds include half a quantization step beyond the first and last levels: a value within
rounding distance of the last level loses no more than any other value, so calibrating with minmax
and evaluating on the same data reports 0, not the extreme values that the rounding of the zero
point left a fraction of a step outside [(qmin - zp) * scale, (qmax - zp) * scale].

Distribution of x: exact min and max, and q1/median/q3 interpolated inside a 2048-bin histogram
(`HistogramObserver` of qcomp.passes.observers: fixed memory, the same counts however the data is
split into batches), so each quartile is within one bin width (at most span / 1024) of the exact
order statistic.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..passes.observers import HistogramObserver

HISTOGRAM_BINS = 2048


@dataclass(frozen=True)
class ErrorSummary:
    """The error of one tensor over all samples (module docstring)."""
    cosine: float
    snr_db: float                 # +inf: exact; -inf: the reference is all zero but x_hat is not
    max_abs_error: float
    clip_rate: float | None       # None where no quantization grid applies (model outputs)
    count: int                    # elements compared


@dataclass(frozen=True)
class Distribution:
    """Five-number summary of a tensor's float values over all samples."""
    min: float
    q1: float
    median: float
    q3: float
    max: float


def snr_db(signal: float, noise: float) -> float:
    """10 log10(signal / noise) for sums of squares, with the limits +inf (no noise) and -inf."""
    if noise == 0.0:
        return math.inf
    if signal == 0.0:
        return -math.inf
    return 10.0 * math.log10(signal / noise)


def cosine(dot: float, norm2_a: float, norm2_b: float) -> float:
    if norm2_a == 0.0 and norm2_b == 0.0:
        return 1.0
    if norm2_a == 0.0 or norm2_b == 0.0:
        return 0.0
    return float(np.clip(dot / math.sqrt(norm2_a * norm2_b), -1.0, 1.0))


def clip_bounds(scale: float, zero_point: int, qmin: int = -128, qmax: int = 127) -> tuple[float, float]:
    """The float interval [lo, hi] that (scale, zero_point) quantizes without saturating."""
    return (qmin - zero_point - 0.5) * scale, (qmax - zero_point + 0.5) * scale


class ErrorStats:
    """Accumulates the sums of the module docstring; `summary()` gives an ErrorSummary."""

    def __init__(self, bounds: tuple[float, float] | None = None):
        self.bounds = bounds
        self.sum_ref2 = 0.0
        self.sum_test2 = 0.0
        self.sum_dot = 0.0
        self.sum_err2 = 0.0
        self.max_abs_error = 0.0
        self.clipped = 0
        self.count = 0

    def update(self, ref: np.ndarray, test: np.ndarray) -> None:
        x = np.asarray(ref, dtype=np.float64).reshape(-1)
        y = np.asarray(test, dtype=np.float64).reshape(-1)
        if x.shape != y.shape:
            raise ValueError(f"cannot compare {x.size} reference values with {y.size} values")
        if x.size == 0:
            return
        e = y - x
        self.sum_ref2 += _dot(x, x)
        self.sum_test2 += _dot(y, y)
        self.sum_dot += _dot(x, y)
        self.sum_err2 += _dot(e, e)
        self.max_abs_error = max(self.max_abs_error, float(np.abs(e).max()))
        if self.bounds is not None:
            lo, hi = self.bounds
            self.clipped += int(np.count_nonzero((x < lo) | (x > hi)))
        self.count += x.size

    def summary(self) -> ErrorSummary:
        clip = None if self.bounds is None else (self.clipped / self.count if self.count else 0.0)
        return ErrorSummary(cosine(self.sum_dot, self.sum_ref2, self.sum_test2),
                            snr_db(self.sum_ref2, self.sum_err2), self.max_abs_error, clip, self.count)


def _dot(a: np.ndarray, b: np.ndarray) -> float:
    """sum(a * b) with numpy's pairwise summation. Not np.dot: a multithreaded BLAS dot of a few
    thousand elements can be 100x slower on a loaded machine, and it sums no more accurately."""
    return float(np.sum(a * b))


def new_histogram(name: str) -> HistogramObserver:
    return HistogramObserver(name, HISTOGRAM_BINS)


def distribution(h: HistogramObserver) -> Distribution:
    """min, quartiles and max of the values a histogram observer has seen."""
    if h.count == 0:
        return Distribution(math.nan, math.nan, math.nan, math.nan, math.nan)
    if h.min == h.max:
        v = float(h.min)
        return Distribution(v, v, v, v, v)
    counts, edges = h.counts, h.edges
    cdf = np.cumsum(counts)
    q1, med, q3 = (_quantile(counts, edges, cdf, p, h.min, h.max) for p in (0.25, 0.5, 0.75))
    return Distribution(float(h.min), q1, med, q3, float(h.max))


def _quantile(counts: np.ndarray, edges: np.ndarray, cdf: np.ndarray, p: float, lo: float, hi: float) -> float:
    """The p-quantile, linear inside the bin where the cumulative count reaches p * total."""
    target = p * float(cdf[-1])
    j = min(int(np.searchsorted(cdf, target, side="left")), counts.size - 1)
    before = float(cdf[j - 1]) if j > 0 else 0.0
    frac = (target - before) / float(counts[j]) if counts[j] > 0 else 0.0
    value = float(edges[j] + frac * (edges[j + 1] - edges[j]))
    return min(max(value, lo), hi)
