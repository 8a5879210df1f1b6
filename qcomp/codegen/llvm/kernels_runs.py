"""Gathers that move whole runs: a movement op whose gather map reads consecutive inputs in runs.

tables.gather_map gives, per output element i, the input element idx[i] it copies. Where the
output splits into runs of L elements (L the product of some trailing output extents) and each
run reads L consecutive inputs,

  idx[r * L + j] == idx[r * L] + j        for every run r and j < L    (no -1: no padding)

the gather is n / L copies of L * itemsize bytes from a table of n / L run starts, instead of n
loads of an index, a compare and an element copy. This is the case of every Transpose that keeps
its innermost axes in place (attention's head split and merge, perm (0, 2, 1, 3): runs of the
head size), of a Slice or Split of outer axes and of a constant Gather of rows. The bytes moved
are the same, so the result is identical; a map with any -1 (Pad) or runs of one element keeps
the element loop of kernels_elem.emit_movement.
"""
from __future__ import annotations

import numpy as np

from .irgen import I32, c64, load_i64, loop, memcpy
from .kernels_depthwise import _ptr


def run_length(m: np.ndarray, out_shape: tuple[int, ...]) -> int:
    """The largest run length L >= 2 (a product of trailing extents of out_shape) for which the
    map m (flat, C order) reads each run of L outputs from L consecutive inputs; 1 when none."""
    if m.size == 0 or int(m.min()) < 0:
        return 1
    for axis in range(len(out_shape)):
        length = int(np.prod(out_shape[axis:], dtype=np.int64))
        if length < 2 or m.size % length:
            continue
        runs = m.reshape(-1, length).astype(np.int64)
        if np.array_equal(runs, runs[:, :1] + np.arange(length, dtype=np.int64)):
            return length
    return 1


def emit_runs(k, out, src, m: np.ndarray, out_shape: tuple[int, ...], itemsize: int) -> bool:
    """Copy `out` from `src` run by run when the map allows it (module docstring); False otherwise."""
    length = run_length(m, out_shape)
    if length == 1:
        return False
    b = k.b
    starts = m.reshape(-1, length)[:, 0].astype(np.int32)
    nbytes = length * itemsize
    if starts.size == 1:
        memcpy(k.mod, b, out, _ptr(b, src, int(starts[0]) * itemsize), nbytes)
        return True
    starts_g = k.mod.table(starts, "runs")
    with loop(b, starts.size, "run") as r:
        at = b.mul(load_i64(b, starts_g, r, I32), c64(itemsize))
        memcpy(k.mod, b, _ptr(b, out, b.mul(r, c64(nbytes))), _ptr(b, src, at), nbytes)
    return True
