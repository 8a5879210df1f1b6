"""naive.py's one rescale, on Python ints (arbitrary precision: nothing can wrap), with total = 31 - shift:

    mbqm(acc, multiplier, shift) = (acc * multiplier + (1 << (total - 1))) >> total
    requantize(acc) = clamp(mbqm(acc, multiplier, shift) + zero_point, qmin, qmax)

Its own module so that every naive_*.py op family (naive_gemm.py, naive.py's elementwise and
pooling kernels) shares the one formula without importing naive.py, which imports them. Like
naive.py it shares no code with qcomp.ref or qcomp.fixedpoint.
"""
from __future__ import annotations

import numpy as np


# ---- the rescale, on Python ints -----------------------------------------------------------

def mbqm(acc: int, multiplier: int, shift: int) -> int:
    """round_half_up(acc * multiplier / 2^(31 - shift)) on Python ints."""
    total = 31 - shift
    return (acc * multiplier + (1 << (total - 1))) >> total


def requantize_int(acc: int, multiplier: int, shift: int, zero_point: int, qmin: int, qmax: int) -> int:
    return min(max(mbqm(acc, multiplier, shift) + zero_point, qmin), qmax)


def _int8(values, shape) -> np.ndarray:
    return np.array(values, dtype=np.int64).reshape(shape).astype(np.int8)


def requantize_array(acc: np.ndarray, multiplier, shift, zero_point: int, qmin: int, qmax: int) -> np.ndarray:
    """Elementwise requantize_int; per-channel multiplier/shift (sequences) index the last axis."""
    acc = np.asarray(acc, dtype=np.int64)
    channels = acc.shape[-1] if acc.ndim else 1
    ms = [int(m) for m in np.broadcast_to(np.asarray(multiplier), (channels,))]
    ss = [int(s) for s in np.broadcast_to(np.asarray(shift), (channels,))]
    out = [requantize_int(int(a), ms[i % channels], ss[i % channels], zero_point, qmin, qmax)
           for i, a in enumerate(acc.reshape(-1).tolist())]
    return _int8(out, acc.shape)
