"""Split a residual Dense's outlier output channels off its int8 GEMM (the same function).

The residual outlier rule (passes/outlier16.py) puts the whole feed-forward output Dense of a
BERT-style encoder on int16 (QDense16, about twice an int8 QDense) because a few of its output
channels carry outliers. Only those channels need the finer grid. With O the outlier channels of
y = Dense(h, W, b) (k of them), s = y + r the residual sum:

    y_main = Dense(h, W with the rows of O zeroed, b with O zeroed)     [..., C]  int8 GEMM
    y_out  = Dense(h, W[O], b[O])                                       [..., k]  int16, K x k
    y_put  = Dense(y_out, P, 0),  P[c, j] = 1 if c = O[j] else 0        [..., C]  int16, k x C
    s      = (y_main + r) + y_put

The same function: y_main[c] = 0 for c in O and y_put[c] = 0 elsewhere (one-hot rows, a zero
bias), so each channel of s is the same sum of h W[c] + b[c] and r[c] as y + r (in float32 up to
the order in which a GEMM sums its K products).
O = the channels with max |y[c]| >= OUTLIER_RATIO * median_c max |y[c]| over calibration, at most
MAX_SPLIT of them (the largest); y_main's grid then spans its ordinary channels only, and its GEMM,
the costly one, stays int8 (as does its input h: no Lut16 for GELU). The values that carry the outliers (y_out, y_put, y_main + r and s) are
recorded in graph.meta[META_KEY]: outlier16_values makes them int16 (y_out's Dense converts h to
int16 for its K x k GEMM; y_put's one-hot weights are exact in int8: 1.0 = 127 at scale 1/127).

Applied by builder._calibrate with the per-channel extents of the calibration (minmax ranges of
the new values derived from them, as smooth_layernorm.py does), where the
rule applies (a residual sum of outlier_ratio >= OUTLIER_RATIO whose Dense operand has
outlier_ratio >= DENSE_RATIO), the Dense's bias is +0.0 or the chain is the Dense alone (so a bias
Add folds into the split biases exactly), and the Dense is h's only GEMM reader of y.
"""
from __future__ import annotations

import json

import numpy as np

from ..ir import Graph, ops
from .outlier16 import DENSE_RATIO, META_KEY, OUTLIER_RATIO, dense_chain, outlier_ratio, recorded, residual_sums
from .smooth_layernorm import minmax_of

MAX_SPLIT = 8


def outlier_channels(absmax: np.ndarray) -> np.ndarray:
    """The channels at OUTLIER_RATIO times the median max |y| or more, at most MAX_SPLIT (the largest), ascending."""
    mid = float(np.median(absmax))
    big = np.flatnonzero(absmax >= OUTLIER_RATIO * mid)
    big = big[np.argsort(-absmax[big], kind="stable")][:MAX_SPLIT]
    return np.sort(big)


def _plan(g: Graph, absmax: dict[str, np.ndarray]):
    """(residual Add, operand index, chain, Dense, bias) for each split the rule allows."""
    producers = {v: n for n in g.nodes for v in n.outputs}
    readers: dict[str, int] = {}
    for n in g.nodes:
        for v in n.inputs:
            readers[v] = readers.get(v, 0) + 1
    plans = []
    for s, add in residual_sums(g):
        if outlier_ratio(absmax.get(s)) < OUTLIER_RATIO or s in g.outputs:
            continue
        for i, operand in enumerate(add.inputs):
            chain, dense = dense_chain(g, operand, producers)
            if dense is None or len(chain) > 2 or outlier_ratio(absmax.get(operand)) < DENSE_RATIO:
                continue
            if any(readers.get(v, 0) != 1 or v in g.outputs for v in chain) or dense.op.act_max is not None \
                    or dense.op.act_min is not None:
                continue
            bias = g.constants[dense.inputs[2]].astype(np.float32)
            if len(chain) == 2:   # Dense then one bias Add: exact only when the Dense's bias is +0.0
                if np.any(bias != 0) or np.any(np.signbit(bias)):
                    continue
                badd = producers[chain[0]]
                c = next(v for v in badd.inputs if g.is_constant(v))
                cb = g.constants[c].astype(np.float32).reshape(-1)
                if cb.size not in (1, bias.size) or g.types[c].shape[:-1] and g.types[c].rank > len(g.types[operand].shape):
                    continue   # a constant that broadcasts over more than the channels
                bias = np.broadcast_to(cb, bias.shape).copy()
            plans.append((add, i, chain, dense, bias))
            break
    return plans


def split_outliers(g: Graph, absmax: dict[str, np.ndarray], log: list | None = None,
                   extent: dict | None = None, derived: dict | None = None) -> Graph:
    """g with each allowed residual Dense split (module docstring); g itself when there is none.
    With the per-channel (min, max) `extent` of y, r and s, `derived` receives each new value's minmax
    range and per-channel max |x| (y_main: y's channels but O, and 0; y_out, y_put: O's; y_main + r:
    s's channels but O, r's on O), so the graph needs no second calibration."""
    plans = [p for p in _plan(g, absmax) if outlier_channels(absmax[p[2][0]]).size]
    if not plans:
        return g
    out = g.copy()
    marks = recorded(g)
    for add, i, chain, dense, bias in plans:
        operand = chain[0]
        o = outlier_channels(absmax[operand])
        w = out.constants[dense.inputs[1]].astype(np.float32)
        n_out, k = w.shape[0], o.size
        w_main, b_main = w.copy(), bias.copy()
        w_main[o], b_main[o] = 0.0, 0.0
        place = np.zeros((n_out, k), np.float32)
        place[o, np.arange(k)] = 1.0
        h, other = dense.inputs[0], add.inputs[1 - i]
        c = {name: out.add_constant(f"{dense.name}/{name}", arr) for name, arr in (
            ("w_main", w_main), ("b_main", b_main), ("w_out", w[o]), ("b_out", bias[o]),
            ("place", place), ("b_place", np.zeros(n_out, np.float32)))}
        drop = {dense.name, add.name, *(n.name for n in out.nodes if n.outputs and n.outputs[0] in chain)}
        out.nodes = [n for n in out.nodes if n.name not in drop]
        y_main = out.add_node(ops.Dense(), [h, c["w_main"], c["b_main"]], f"{dense.name}/main").outputs[0]
        y_out = out.add_node(ops.Dense(), [h, c["w_out"], c["b_out"]], f"{dense.name}/outliers").outputs[0]
        y_put = out.add_node(ops.Dense(), [y_out, c["place"], c["b_place"]], f"{dense.name}/place").outputs[0]
        t = out.add_node(ops.Add(), [y_main, other] if i == 0 else [other, y_main], f"{add.name}/main").outputs[0]
        for v in add.outputs:   # s keeps its name: the LayerNorm reads it
            del out.types[v]
        out.add_node(ops.Add(), [t, y_put], add.name, outputs=list(add.outputs))
        marks += [y_out, y_put, t]
        if derived is not None and extent is not None and all(v in extent for v in (operand, other, *add.outputs)):
            (ylo, yhi), (rlo, rhi), (slo, shi) = extent[operand], extent[other], extent[add.outputs[0]]
            keep = np.ones(n_out, bool)
            keep[o] = False
            zero = np.zeros(n_out)
            derived[y_main] = (*minmax_of(ylo[keep], yhi[keep]), np.where(keep, np.maximum(-ylo, yhi), 0.0))
            derived[y_out] = (*minmax_of(ylo[o], yhi[o]), np.maximum(-ylo[o], yhi[o]))
            derived[y_put] = (*minmax_of(ylo[o], yhi[o]), np.where(keep, zero, np.maximum(-ylo, yhi)))
            tlo, thi = np.where(keep, slo, rlo), np.where(keep, shi, rhi)
            derived[t] = (*minmax_of(tlo, thi), np.maximum(-tlo, thi))
    out.meta[META_KEY] = json.dumps(marks)
    out.toposort()
    out.prune()
    if log is not None:
        log.append(f"split_outliers: {len(plans)} residual Dense layers keep their outlier output channels "
                   f"off the int8 GEMM ({', '.join(p[3].name for p in plans[:3])}{', ...' if len(plans) > 3 else ''})")
    return out
