"""Smooth a LayerNorm's outlier channels into the Dense layers that read it (SmoothQuant, where exact).

A post-LayerNorm encoder's LayerNorm output r = gamma * n(s) + beta (n: the normalized row) carries
the residual stream's outlier channels (all-MiniLM-L6-v2: channel 99 of the [CLS] row reaches 28
after the attention LayerNorms, while the median channel's max |r| is 1.3; passes/outlier16.py),
and r is the input of the next Dense layers (the query, key and value projections, or the
feed-forward's first GEMM). One per-tensor int8 grid for r spends most of its codes on those
channels. SmoothQuant (Xiao et al. 2023) moves the outliers into the weights: for every channel c
of the last axis, with sigma[c] > 0,

    Dense(r, W, b)[n] = b[n] + sum_c r[c] W[n, c] = b[n] + sum_c (r[c] / sigma[c]) (W[n, c] sigma[c])

and r / sigma is itself a LayerNorm of s: LayerNorm(s, gamma / sigma, beta / sigma) (n(s) does
not depend on gamma, beta; epsilon is unchanged). So the Dense readers read a second LayerNorm
node of the same input with gamma' = gamma / sigma, beta' = beta / sigma, their weights' columns
multiplied by sigma, exact in real arithmetic (float32 rounds each changed constant once); every
other reader (the residual Add) keeps the original LayerNorm, whose output is unchanged. With
a[c] = max |r[c]| over the calibration samples and w[c] = max |W[n, c]| over the readers' rows,

    sigma[c] = sqrt(a[c] / w[c])           (SmoothQuant's migration strength alpha = 0.5)

which gives the smoothed activation and the scaled weights the same per-channel maximum,
sqrt(a[c] w[c]): the activation's outlier channel shrinks, the weight columns it multiplies grow
(per-output-channel weight scales absorb part of that), the rest of the activation's grid gets
finer. A LayerNorm is smoothed when its output's outlier_ratio (passes/outlier16.py) is at least
OUTLIER_RATIO, it normalizes the last axis only, its gamma and beta are constants, and at least
one Dense reads it as input. The smoothed LayerNorm costs one more LayerNorm per smoothed one at
run time (where the original is int16, QLayerNorm16, it replaces that one's int16 -> int8
conversion for the Dense readers).

Driven by builder._calibrate, with the per-channel min, max and max |r| of the calibration
(calibrate's `channel_absmax_of`). Under minmax the smoothed output's range follows from them
exactly (`derived`: [min_c lo[c] / sigma[c], max_c hi[c] / sigma[c]]), so no second calibration
runs; other methods (and bias correction, which needs the new Dense inputs' channel means)
calibrate the rewritten graph again. Part of the residual outlier rule: `--residual-outliers int8` turns both off.
Measured on all-MiniLM-L6-v2 (benchmarks/RESULTS.md "static-int8-encoder-accuracy").
"""
from __future__ import annotations

import numpy as np

from .. import fixedpoint
from ..ir import Graph, Node, ops
from .observers import qparams_from_range
from .outlier16 import OUTLIER_RATIO, outlier_ratio

_TINY = 1e-12   # a channel never seen non-zero (or all-zero weights) keeps sigma finite


def smoothable(g: Graph) -> dict[str, tuple[Node, list[Node]]]:
    """LayerNorm output -> (the LayerNorm, the Dense nodes reading it as input): the candidates."""
    readers: dict[str, list[Node]] = {}
    for n in g.nodes:
        for v in n.inputs:
            readers.setdefault(v, []).append(n)
    out = {}
    for n in g.nodes:
        if not isinstance(n.op, ops.LayerNorm) or not all(g.is_constant(v) for v in n.inputs[1:3]):
            continue
        rank = len(g.types[n.inputs[0]].shape)
        if n.op.axis % rank != rank - 1:
            continue
        r = n.outputs[0]
        dense = [d for d in readers.get(r, []) if isinstance(d.op, ops.Dense) and d.inputs[0] == r
                 and r not in d.inputs[1:] and all(g.is_constant(v) for v in d.inputs[1:3])]
        if dense:
            out[r] = (n, dense)
    return out


def smoothing_factors(absmax: np.ndarray, weights: list[np.ndarray]) -> np.ndarray:
    """sigma[c] = sqrt(a[c] / w[c]) (module docstring), float64."""
    w = np.max([np.abs(x.astype(np.float64)).max(axis=0) for x in weights], axis=0)
    return np.sqrt(np.maximum(absmax.astype(np.float64), _TINY) / np.maximum(w, _TINY))


def smooth_layernorm(g: Graph, absmax: dict[str, np.ndarray], log: list | None = None,
                     extent: dict | None = None, derived: dict | None = None) -> Graph:
    """g with every candidate LayerNorm whose output has outlier channels smoothed into its Dense
    readers (module docstring); g itself when there is none. `log` receives one line. With the
    per-channel (min, max) `extent` of r, `derived` receives each smoothed output's minmax range
    and per-channel max |x|: (min_c lo[c] / sigma[c], max_c hi[c] / sigma[c]), no second calibration."""
    todo = {r: c for r, c in smoothable(g).items() if outlier_ratio(absmax.get(r)) >= OUTLIER_RATIO}
    if not todo:
        return g
    out = g.copy()
    by_name = {n.name: n for n in out.nodes}
    for r, (ln, dense) in todo.items():
        ln = by_name[ln.name]
        sigma = smoothing_factors(absmax[r], [out.constants[d.inputs[1]] for d in dense])
        gamma = out.add_constant(f"{ln.inputs[1]}_smooth", _scaled(out, ln.inputs[1], 1.0 / sigma))
        beta = out.add_constant(f"{ln.inputs[2]}_smooth", _scaled(out, ln.inputs[2], 1.0 / sigma))
        smooth = out.add_node(ln.op, [ln.inputs[0], gamma, beta], out.unique_node_name(f"{ln.name}_smooth"),
                              outputs=[out.unique_name(f"{r}_smooth")], out_types=[out.types[r]])
        if derived is not None and extent is not None and r in extent:
            lo, hi = extent[r][0] / sigma, extent[r][1] / sigma
            derived[smooth.outputs[0]] = (*minmax_of(lo, hi), np.maximum(-lo, hi))
        for d in dense:
            d = by_name[d.name]
            w = out.add_constant(f"{d.inputs[1]}_smooth", _scaled(out, d.inputs[1], sigma[None, :]))
            d.inputs = (smooth.outputs[0], w, *d.inputs[2:])
    out.toposort()
    out.prune()
    if log is not None:
        log.append(f"smooth_layernorm: {len(todo)} LayerNorm outputs with outlier channels smoothed into "
                   f"{sum(len(d) for _, d in todo.values())} Dense readers "
                   f"({', '.join(ln.name for ln, _ in list(todo.values())[:3])}{', ...' if len(todo) > 3 else ''})")
    return out


def _scaled(g: Graph, name: str, factor: np.ndarray) -> np.ndarray:
    a = g.constants[name]
    return (np.broadcast_to(a.astype(np.float64), np.broadcast_shapes(a.shape, factor.shape)) * factor).astype(a.dtype)


def smoothing_refused(g: Graph, ranges: dict[str, tuple[float, float]]) -> str | None:
    """Why the smoothed graph g must not be used (None: it may): a smoothed LayerNorm whose
    calibrated int8 params have no integer form (fixedpoint.layernorm_refusal) would become a float
    region, which the integer-only targets refuse, where the original had one."""
    for n in g.nodes:
        if not (isinstance(n.op, ops.LayerNorm) and n.outputs[0].endswith("_smooth")):
            continue
        x, y = n.inputs[0], n.outputs[0]
        if x not in ranges or y not in ranges:
            continue
        s_in, _ = qparams_from_range(*ranges[x])
        s_out, _ = qparams_from_range(*ranges[y])
        row = g.types[x].shape[-1]
        gamma = np.broadcast_to(g.constants[n.inputs[1]].astype(np.float32), (row,))
        why = fixedpoint.layernorm_refusal(row, n.op.epsilon, s_in, gamma, s_out)
        if why is not None:
            return f"LayerNorm {n.name!r} smoothed has no integer form: {why}"
    return None


def minmax_of(lo: np.ndarray, hi: np.ndarray) -> tuple[float, float]:
    """The minmax calibration range of a value from its per-channel extent: 0 included (observers.py)."""
    return min(float(np.min(lo)), 0.0), max(float(np.max(hi)), 0.0)
