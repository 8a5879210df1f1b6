"""Range search of the histogram calibration methods: percentile, entropy (KL divergence) and mse.

Helper module of qcomp/passes/observers.py: `choose_range` there calls these on the counts and
bin edges of a `HistogramObserver` (the power-of-two grid its docstring describes). Each returns
a clip range (lo, hi); `choose_range` clamps it to the observed [min, max] and widens it to 0.

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
"""
from __future__ import annotations

import math

import numpy as np


def _quantile(counts: np.ndarray, edges: np.ndarray, cdf: np.ndarray, q: float) -> float:
    j = int(np.searchsorted(cdf, q, side="left"))
    j = min(j, counts.size - 1)
    before = float(cdf[j - 1]) if j > 0 else 0.0
    frac = (q - before) / counts[j] if counts[j] > 0 else 0.0
    return float(edges[j] + frac * (edges[j + 1] - edges[j]))


def percentile_range(counts: np.ndarray, edges: np.ndarray, p: float) -> tuple[float, float]:
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
    2^d bins at a time (as HistogramObserver._regrid) until at most `max_bins` bins: (counts, base, d)."""
    lo, hi = min(base, 0), max(base + counts.size, 0)
    d = max(0, math.ceil(math.log2((hi - lo) / max_bins)))
    occupied = np.flatnonzero(counts)
    lo, hi = lo >> d, ((hi - 1) >> d) + 1
    out = np.zeros(hi - lo, np.float64)
    np.add.at(out, ((occupied + base) >> d) - lo, counts[occupied])
    return out, lo, d


def without_exact_zeros(exact_zeros: int, counts: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """The counts less the `exact_zeros` values that are exactly 0 (ReLU outputs): 0 is exact on every grid,
    so those values say nothing about the threshold, and a spike of them in one bin would make
    every narrow window look best to the KL search."""
    width = float(edges[1] - edges[0])
    zero_bin = -int(round(edges[0] / width))
    if exact_zeros and 0 <= zero_bin < counts.size:
        counts = counts.copy()
        counts[zero_bin] -= min(exact_zeros, int(counts[zero_bin]))
    return counts


def entropy_range(counts: np.ndarray, edges: np.ndarray, mn: float, mx: float,
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


def expected_sq_error(u: np.ndarray, v: np.ndarray, density: np.ndarray, lo: np.ndarray,
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


def mse_range(counts: np.ndarray, edges: np.ndarray, mn: float, mx: float,
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
            err = expected_sq_error(u, v, density, np.full(f_hi.size, fl * lo_max), f_hi * hi_max,
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
