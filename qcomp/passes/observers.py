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
to include 0:
- minmax:     [min, max].
- percentile: drops (100 - p) / 2 percent of the mass on each side (linear interpolation inside
              the bin where the cumulative count crosses the target).
- entropy:    TensorRT's KL-divergence threshold search, on the grid qcomp will use, over the
              histogram less its exact zeros (ReLU's spike is exact on every grid). For a
              candidate threshold t (a bin edge) the clip range is [max(min, -t), min(max, t)]
              widened to 0 (a symmetric threshold on |x| intersected with the data range), and
              it holds all L = `num_bins` levels. P is the histogram over that range (empty bins
              up to 0) with the clipped mass added to its edge bins; Q is the same histogram
              without the clipped mass, merged into L groups and spread back evenly over the bins
              where P > 0; t minimizes KL(P || Q). For symmetric data this is TensorRT's search
              (128 levels a side); for ReLU outputs it searches 256 levels over [0, t]. A range
              needs at least L bins (TensorRT's rule): with B bins the smallest threshold is
              span * 128 / B .. span * 256 / B, so `observer_for` gives entropy 8192 bins (as
              fine as TensorRT's 2048 bins of |x|). A range keeping a single occupied bin while
              clipping is skipped (P == Q there by construction, KL carries no signal).
- mse:        minimizes the expected squared error of clip-then-quantize under the histogram
              (merged to <= 1024 bins, density uniform inside each bin, integrated exactly) over
              candidates (lo, hi) = (f_lo * min, f_hi * max) on a 32 x 32 grid of f, then a finer
              grid around the best. Each candidate is scored on the grid `qparams_from_range`
              really produces (zero point rounded), with L = `num_bins` levels.

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
    default (64 KB): its smallest candidate threshold is about 256 bins wide (module docstring)."""
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
                lo, hi = _percentile_range(counts, edges, percentile)
            elif method == "entropy":
                lo, hi = _entropy_range(_without_exact_zeros(observer, counts, edges), edges, mn, mx, num_bins)
            else:
                lo, hi = _mse_range(counts, edges, mn, mx, num_bins)
    lo, hi = min(max(lo, mn), mx), max(min(hi, mx), mn)
    return min(lo, 0.0), max(hi, 0.0)


def _quantile(counts: np.ndarray, edges: np.ndarray, cdf: np.ndarray, q: float) -> float:
    j = int(np.searchsorted(cdf, q, side="left"))
    j = min(j, counts.size - 1)
    before = float(cdf[j - 1]) if j > 0 else 0.0
    frac = (q - before) / counts[j] if counts[j] > 0 else 0.0
    return float(edges[j] + frac * (edges[j + 1] - edges[j]))


def _percentile_range(counts: np.ndarray, edges: np.ndarray, p: float) -> tuple[float, float]:
    cdf = np.cumsum(counts)
    tail = (100.0 - p) / 200.0 * float(cdf[-1])
    return _quantile(counts, edges, cdf, tail), _quantile(counts, edges, cdf, float(cdf[-1]) - tail)


def _kl_divergence(ref: np.ndarray, window: np.ndarray, levels: int) -> float:
    """KL(P || Q) of TensorRT's calibrator: P = `ref` (the window with the clipped mass in its edge
    bins), Q = `window` merged into `levels` groups, each group's mass spread evenly over the bins
    where P > 0. Bins where P > 0 but Q = 0 get a small mass (MXNet's _smooth_distribution)."""
    bounds = np.round(np.linspace(0, ref.size, levels + 1)).astype(np.int64)
    group = np.repeat(np.arange(levels), np.diff(bounds))
    nonzero = ref > 0
    mass = np.bincount(group, weights=window, minlength=levels)
    support = np.bincount(group, weights=nonzero, minlength=levels)
    q = np.where(nonzero, mass[group] / np.maximum(support[group], 1), 0.0)
    if q.sum() == 0:
        return math.inf
    q = np.where(nonzero & (q == 0), 1e-4 * q.sum() / ref.size, q)
    p, q = ref[nonzero] / ref.sum(), q[nonzero] / q.sum()
    return float(np.sum(p * np.log(p / q)))


def _with_zero(counts: np.ndarray, base: int, max_bins: int) -> tuple[np.ndarray, int, int]:
    """The histogram extended with empty bins to reach 0 (the clip range always holds 0), merged
    2^d bins at a time (as `_regrid`) until at most `max_bins` bins: (counts, base, d)."""
    lo, hi = min(base, 0), max(base + counts.size, 0)
    d = max(0, math.ceil(math.log2((hi - lo) / max_bins)))
    occupied = np.flatnonzero(counts)
    lo, hi = lo >> d, ((hi - 1) >> d) + 1
    out = np.zeros(hi - lo, np.float64)
    np.add.at(out, ((occupied + base) >> d) - lo, counts[occupied])
    return out, lo, d


def _without_exact_zeros(observer: "HistogramObserver", counts: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """The counts less the values that are exactly 0 (ReLU outputs): 0 is exact on every grid,
    so those values say nothing about the threshold, and a spike of them in one bin would make
    every narrow window look best to the KL search."""
    width = float(edges[1] - edges[0])
    zero_bin = -int(round(edges[0] / width))
    if observer.exact_zeros and 0 <= zero_bin < counts.size:
        counts = counts.copy()
        counts[zero_bin] -= min(observer.exact_zeros, int(counts[zero_bin]))
    return counts


def _entropy_range(counts: np.ndarray, edges: np.ndarray, mn: float, mx: float,
                   levels: int) -> tuple[float, float]:
    """TensorRT's threshold search on qcomp's asymmetric grid (module docstring). Thresholds are
    bin edges t = j * w; the window [max(e0, -j), min(e1, j)] (absolute bin indices, [e0, e1] the
    histogram extended to 0) is the clip range, holding all `levels` levels."""
    width = float(edges[1] - edges[0])
    hist, e0, d = _with_zero(counts, int(round(edges[0] / width)), 2 * counts.size)
    width *= 2.0 ** d
    e1 = e0 + hist.size
    j = np.arange(1, max(-e0, e1) + 1)
    w0, w1 = np.maximum(e0, -j) - e0, np.minimum(e1, j) - e0     # window, as indices into hist
    j, w0, w1 = j[w1 - w0 >= levels], w0[w1 - w0 >= levels], w1[w1 - w0 >= levels]
    if j.size == 0:                    # fewer bins than levels: nothing to merge, keep everything
        return mn, mx
    total = np.concatenate([[0.0], np.cumsum(hist)])

    def kl(i: int) -> float:
        window = hist[w0[i]:w1[i]]
        ref = window.copy()
        below, above = total[w0[i]], total[-1] - total[w1[i]]
        ref[0] += below
        ref[-1] += above
        if below + above > 0 and np.count_nonzero(window) < 2:
            return math.inf            # all but one bin clipped: P == Q by construction, no signal
        return _kl_divergence(ref, window, levels)

    stride = max(1, math.ceil(j.size / 256))          # coarse pass, then every edge near the best
    coarse = sorted({*range(0, j.size, stride), j.size - 1})
    best = min(coarse, key=kl)
    fine = range(max(0, best - stride), min(j.size, best + stride + 1))
    best = min(fine, key=lambda i: (kl(i), i))
    t = float(j[best]) * width
    return max(mn, -t), min(mx, t)


def _sawtooth_integral(y: np.ndarray) -> np.ndarray:
    """An antiderivative of r(y)^2, r(y) = y - floor(y + 1/2) (the rounding error in steps)."""
    n = np.floor(y + 0.5)
    return n / 12.0 + ((y - n) ** 3 + 0.125) / 3.0


def _expected_sq_error(u: np.ndarray, v: np.ndarray, density: np.ndarray, lo: np.ndarray,
                       hi: np.ndarray, steps: int) -> np.ndarray:
    """E[(x - dequant(quant(x)))^2] for mass `density` uniform on bins [u, v], for each candidate
    range (lo[m], hi[m]) snapped as qparams_from_range snaps it (zero point rounded)."""
    s = ((hi - lo) / steps)[:, None]
    glo = -np.clip(np.rint(-lo[:, None] / s), 0, steps) * s     # lowest grid point, 0 on the grid
    ghi = glo + steps * s
    below = ((glo - np.minimum(u, glo)) ** 3 - (glo - np.minimum(v, glo)) ** 3) / 3.0
    above = ((np.maximum(v, ghi) - ghi) ** 3 - (np.maximum(u, ghi) - ghi) ** 3) / 3.0
    inside = s ** 3 * (_sawtooth_integral((np.clip(v, glo, ghi) - glo) / s)
                       - _sawtooth_integral((np.clip(u, glo, ghi) - glo) / s))
    return ((below + above + inside) * density).sum(axis=1)


def _mse_range(counts: np.ndarray, edges: np.ndarray, mn: float, mx: float,
               levels: int) -> tuple[float, float]:
    """Grid search of (f_lo * min, f_hi * max) minimizing the expected squared error."""
    width = float(edges[1] - edges[0])              # at most 1024 bins: the error integral is
    hist, base, d = _with_zero(counts, int(round(edges[0] / width)), 1024)   # exact per bin anyway
    used = np.flatnonzero(hist)
    u = np.ldexp((used + base).astype(np.float64), int(round(math.log2(width))) + d)
    v = u + width * 2.0 ** d
    density = hist[used] / (hist.sum() * (v - u))
    lo_max, hi_max = min(mn, 0.0), max(mx, 0.0)

    def search(f_lo: np.ndarray, f_hi: np.ndarray) -> tuple[float, float, float]:
        f_lo = f_lo if lo_max < 0 else np.ones(1)
        f_hi = f_hi if hi_max > 0 else np.ones(1)
        best = (math.inf, 1.0, 1.0)
        for fl in f_lo:                              # one row of candidates at a time: O(F * bins)
            err = _expected_sq_error(u, v, density, np.full(f_hi.size, fl * lo_max), f_hi * hi_max,
                                     levels - 1)
            i = int(np.argmin(err))
            best = min(best, (float(err[i]), float(fl), float(f_hi[i])))
        return best

    steps = 32
    coarse = np.linspace(1.0 / steps, 1.0, steps)
    _, fl, fh = search(coarse, coarse)
    _, fl, fh = search(*(np.clip(np.linspace(f - 1.0 / steps, f + 1.0 / steps, 17), 1e-3, 1.0)
                         for f in (fl, fh)))
    return fl * lo_max, fh * hi_max


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
