"""Streaming range observers and calibration range selection (post-training quantization).

An observer sees one tensor's values batch after batch and keeps statistics whose memory does
not depend on how many samples it has seen. `choose_range` turns those statistics into a clip
range [lo, hi] with lo <= 0 <= hi (real 0 must be representable), and `qparams_from_range` turns
the range into int8 asymmetric (scale, zero_point).

Histogram (`HistogramObserver`): a fixed number B of bins over the *signed* range [min, max]
(not |x|: qcomp's activations are asymmetric int8, so each side keeps its own tail). The bins
sit on a power-of-two grid:

    bin width w = 2^k,  bin j covers [(base + j) * w, (base + j + 1) * w),   j = 0 .. B-1
    k    = the smallest k >= k_floor with floor(max / 2^k) - floor(min / 2^k) <= B - 1
    base = floor(min / 2^k),   k_floor = exponent(max|x|) - 24   (bins finer than float32 ulps
                                                                  are meaningless)

so the grid is a function of the running (min, max) alone, and a value's bin,
floor(x / 2^k) - base, is computed exactly (x / 2^k only changes the exponent). When a batch
widens the range, k grows; old bin (base + j) at level k lands in bin floor((base + j) / 2^d) at
level k + d (merging 2^d bins), which is exactly where its values would have been binned
directly. Hence streaming in any batching gives the same counts, bit for bit, as one batch, and
the data span always covers more than (B - 1) / 2 bins (unless the floor on k applies).

Range selection (`choose_range`), every result clamped to the observed [min, max], then widened
to include 0: minmax keeps [min, max]; percentile, entropy (TensorRT's KL-divergence threshold
search) and mse (least expected squared error of clip-then-quantize) search the histogram, as
qcomp/passes/observers_search.py describes with their formulas.

Zero-point convention (TFLite's GetAsymmetricQuantizationParams, onnxruntime's compute_scale_zp):
    lo = min(lo, 0), hi = max(hi, 0)
    scale = (hi - lo) / (qmax - qmin)                 in float64; returned as float32, not recomputed
    zero_point = clamp(rint(qmin - lo / scale), qmin, qmax)        (float64 scale, ties to even)
so q = zero_point is exactly real 0, and the result equals onnxruntime's for float32 lo, hi.
An all-zero tensor (lo == hi == 0) gets scale 0.0 (onnxruntime uses 1.0) and
zero point 0 (clamped into [qmin, qmax]): `QuantParams` reserves scale 0 for that case, and
consumers must treat it as "every value is 0", never dividing by it. A positive range too small
for a float32 scale gets the smallest normal float32 instead, so a non-zero tensor never has
scale 0.

Weights (`symmetric_weight_scales`): per output channel, scale[c] = max|w_c| / 127 (int8 range
[-127, 127], zero point 0), 0 for an all-zero channel.
"""
from __future__ import annotations

import math
from typing import Literal, get_args

import numpy as np

from ..errors import QcompError
from .observers_search import entropy_range, mse_range, percentile_range, without_exact_zeros

Method = Literal["minmax", "percentile", "entropy", "mse"]
METHODS: tuple[str, ...] = get_args(Method)
_TINY = float(np.finfo(np.float32).tiny)   # smallest normal float32
_FLOAT32_BITS = 24                          # mantissa bits: the finest bin worth keeping


class CalibrationError(QcompError, ValueError):
    """Statistics of a tensor cannot give a quantization range. The message names the tensor."""


def _extent(x: np.ndarray, name: str) -> tuple[float, float] | None:
    """(min, max) of a batch as floats, None when empty; NaN or Inf is an error naming `name`."""
    a = np.asarray(x)
    if a.size == 0:
        return None
    if not (np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.integer)):
        raise CalibrationError(f"tensor {name!r}: cannot observe values of dtype {a.dtype}")
    lo, hi = float(a.min()), float(a.max())   # min/max propagate NaN
    if not (math.isfinite(lo) and math.isfinite(hi)):
        bad = "NaN" if np.isnan(a).any() else "Inf"
        raise CalibrationError(f"tensor {name!r} has {bad} values during calibration: check the "
                               f"calibration data and the model (an overflow or a division by zero)")
    return lo, hi


class MinMaxObserver:
    """Running minimum and maximum of one tensor: O(1) memory."""

    def __init__(self, name: str = "tensor"):
        self.name = name
        self.min = math.inf
        self.max = -math.inf
        self.count = 0

    def update(self, x: np.ndarray) -> None:
        ext = _extent(x, self.name)
        if ext is None:
            return
        self.min, self.max = min(self.min, ext[0]), max(self.max, ext[1])
        self.count += int(np.asarray(x).size)


def _grid(mn: float, mx: float, num_bins: int) -> tuple[int, int] | None:
    """(k, base) of the histogram grid for the data range [mn, mx]; None when all values are 0."""
    mag = max(abs(mn), abs(mx))
    if mag == 0.0:
        return None
    k = math.frexp(mag)[1] - _FLOAT32_BITS
    span = mx - mn
    if span > 0:   # a lower bound on the fitting k: the span must cover fewer than B bins
        k = max(k, math.frexp(span)[1] - 2 - math.ceil(math.log2(num_bins)))
    # floor(mx/2^k) - floor(mn/2^k) does not increase with k, so the first fit is the smallest.
    while math.floor(math.ldexp(mx, -k)) - math.floor(math.ldexp(mn, -k)) > num_bins - 1:
        k += 1
    return k, math.floor(math.ldexp(mn, -k))


class HistogramObserver:
    """A histogram of `num_bins` bins over [min, max] on a power-of-two grid (module docstring):
    O(num_bins) memory, counts independent of how the data was split into batches."""

    def __init__(self, name: str = "tensor", num_bins: int = 2048):
        if num_bins < 2:
            raise CalibrationError(f"tensor {name!r}: a histogram needs at least 2 bins, got {num_bins}")
        self.name = name
        self.num_bins = num_bins
        self.min = math.inf
        self.max = -math.inf
        self.count = 0
        self._zeros = 0                       # values seen while every value so far was 0
        self.exact_zeros = 0                  # all values exactly 0.0 seen (ReLU's spike)
        self._k = 0
        self._base = 0
        self._counts: np.ndarray | None = None

    def update(self, x: np.ndarray) -> None:
        ext = _extent(x, self.name)
        if ext is None:
            return
        a = np.asarray(x)
        self.min, self.max = min(self.min, ext[0]), max(self.max, ext[1])
        self.count += int(a.size)
        self.exact_zeros += int(a.size - np.count_nonzero(a))
        grid = _grid(self.min, self.max, self.num_bins)
        if grid is None:
            self._zeros += int(a.size)
            return
        if self._counts is None:
            self._k, self._base = grid
            self._counts = np.zeros(self.num_bins, np.int64)
            if self._zeros:                            # then min <= 0 <= max: bin -base exists
                self._counts[-self._base] += self._zeros   # 0.0 lies in bin floor(0) - base
            self._zeros = 0
        elif grid != (self._k, self._base):
            self._regrid(*grid)
        idx = np.floor(np.ldexp(a.astype(np.float64).ravel(), -self._k)).astype(np.int64) - self._base
        self._counts += np.bincount(idx, minlength=self.num_bins)

    def _regrid(self, k: int, base: int) -> None:
        """Move the counts to a coarser grid: old absolute bin i lands in bin i >> (k - old k).
        Occupied bins hold values inside the new [min, max], so they land inside the new grid."""
        assert self._counts is not None and k >= self._k, "the grid only grows"
        occupied = np.flatnonzero(self._counts)
        merged = np.zeros(self.num_bins, np.int64)
        np.add.at(merged, ((occupied + self._base) >> (k - self._k)) - base, self._counts[occupied])
        self._k, self._base, self._counts = k, base, merged

    @property
    def counts(self) -> np.ndarray:
        """int64[num_bins] counts (a copy); all zero before any non-zero value was seen."""
        if self._counts is None:
            return np.zeros(self.num_bins, np.int64)
        return self._counts.copy()

    @property
    def edges(self) -> np.ndarray:
        """float64[num_bins + 1] bin edges, (base + j) * 2^k."""
        j = np.arange(self._base, self._base + self.num_bins + 1, dtype=np.float64)
        return np.ldexp(j, self._k)

    @property
    def nbytes(self) -> int:
        return 0 if self._counts is None else int(self._counts.nbytes)


Observer = MinMaxObserver | HistogramObserver


def observer_for(method: Method, name: str = "tensor", num_bins: int | None = None) -> Observer:
    """The cheapest observer that `choose_range(.., method)` accepts. Entropy gets 8192 bins by
    default (64 KB): its smallest candidate threshold is about 256 bins wide (observers_search.py)."""
    _check_method(method, name)
    if method == "minmax":
        return MinMaxObserver(name)
    return HistogramObserver(name, num_bins or (8192 if method == "entropy" else 2048))


def _check_method(method: str, name: str) -> None:
    if method not in METHODS:
        raise CalibrationError(f"tensor {name!r}: unknown calibration method {method!r}; "
                               f"choose one of {', '.join(METHODS)}")


def choose_range(observer: Observer, method: Method = "minmax", *, percentile: float = 99.99,
                 num_bins: int = 256) -> tuple[float, float]:
    """The clip range (lo, hi), lo <= 0 <= hi, that `method` picks from the observed statistics.

    `percentile` (in (50, 100]) is the share of the mass the percentile method keeps; `num_bins`
    is the number of quantization levels of the target grid (TensorRT's num_quantized_bins; 256
    for int8), used by entropy and mse."""
    name = observer.name
    _check_method(method, name)
    if observer.count == 0:
        raise CalibrationError(f"tensor {name!r}: no calibration data reached it; give at least "
                               f"one calibration sample")
    if not 50.0 < percentile <= 100.0:
        raise CalibrationError(f"tensor {name!r}: percentile must be in (50, 100], got {percentile}")
    if num_bins < 2:
        raise CalibrationError(f"tensor {name!r}: num_bins (quantization levels) must be >= 2")
    mn, mx = observer.min, observer.max
    lo, hi = mn, mx
    if method != "minmax":
        if not isinstance(observer, HistogramObserver):
            raise CalibrationError(f"tensor {name!r}: method {method!r} needs a HistogramObserver, "
                                   f"got {type(observer).__name__}")
        counts = observer.counts
        if mn < mx:
            edges = observer.edges
            if method == "percentile":
                lo, hi = percentile_range(counts, edges, percentile)
            elif method == "entropy":
                lo, hi = entropy_range(without_exact_zeros(observer.exact_zeros, counts, edges), edges, mn, mx,
                                       num_bins)
            else:
                lo, hi = mse_range(counts, edges, mn, mx, num_bins)
    lo, hi = min(max(lo, mn), mx), max(min(hi, mx), mn)
    return min(lo, 0.0), max(hi, 0.0)


__all__ = ["Method", "METHODS", "CalibrationError", "MinMaxObserver", "HistogramObserver", "Observer",
           "observer_for", "choose_range", "qparams_from_range", "symmetric_weight_scales"]


def qparams_from_range(lo: float, hi: float, qmin: int = -128, qmax: int = 127) -> tuple[float, int]:
    """Asymmetric (scale, zero_point) for the range [lo, hi] (module docstring: TFLite/onnxruntime
    convention, real 0 exact, scale 0.0 for an all-zero range). Never divides by zero."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise CalibrationError(f"range [{lo}, {hi}] is not finite")
    if lo > hi:
        raise CalibrationError(f"range [{lo}, {hi}] is empty (lo > hi)")
    if not qmin < qmax:
        raise CalibrationError(f"integer range [{qmin}, {qmax}] is empty")
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    if lo == hi:
        return 0.0, int(min(max(0, qmin), qmax))
    scale = (hi - lo) / (qmax - qmin)                  # float64, as onnxruntime
    if scale < _TINY:
        scale = _TINY
    zero_point = int(np.clip(np.rint(qmin - lo / scale), qmin, qmax))
    return float(np.float32(scale)), zero_point


def symmetric_weight_scales(w: np.ndarray, axis: int = 0, *, name: str = "weight") -> np.ndarray:
    """float32[C] scales for int8 weights in [-127, 127]: scale[c] = max|w_c| / 127 over the
    channels along `axis`; 0 for an all-zero channel, at least the smallest normal float32 else."""
    a = np.asarray(w)
    if a.ndim == 0 or not -a.ndim <= axis < a.ndim:
        raise CalibrationError(f"weight {name!r} of shape {a.shape} has no axis {axis}")
    if a.size == 0:
        raise CalibrationError(f"weight {name!r} of shape {a.shape} is empty")
    a = np.abs(a.astype(np.float64))
    if not np.isfinite(a).all():
        raise CalibrationError(f"weight {name!r} has NaN or Inf values; fix the model's weights")
    axis = axis % a.ndim
    amax = a.max(axis=tuple(d for d in range(a.ndim) if d != axis)) if a.ndim > 1 else a
    scale = (amax / 127.0).astype(np.float32)
    scale[(amax > 0) & (scale < _TINY)] = _TINY
    return scale
