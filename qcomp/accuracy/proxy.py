"""A cheap proxy for sensitivity: the output error each tensor's int8 grid adds alone, in float.

A trial (accuracy/trials.py) quantizes, lowers and runs the integer reference on every held-back
sample; on a real model that is seconds per sample, and measuring every candidate tensor that way
is one trial each (~100 on EfficientNet-Lite0). The proxy ranks the candidates first, so that
`--accuracy` measures the real gain only for the most promising ones (accuracy/autopilot.py):

    for each proxy sample s (the first PROXY_SAMPLES evaluation samples):
        v        = every value of the FLOAT graph on s                 (one float pass, kept)
        for each candidate T, with its int8 grid (scale, zero point) from the default build q:
            v_T  = v with T replaced by  dq(q(T)) = (clamp(rint(T / scale) + zp, lo, hi) - zp) * scale
                   and only the nodes downstream of T run again        (the rest is read from v)
    error(T)     = 1 - min over float outputs o of cosine(o(v), o(v_T)), outputs concatenated over s

i.e. the output error T's own grid causes when every other tensor is exact: what raising T alone
removes, to first order (int16 and float both take T off its int8 grid). Unlike T's own SNR it
sees through long-tailed tensors (a few large values that stretch the grid leave the many small
values that matter downstream a handful of codes: T's SNR stays high, the output error does not).
A candidate made by an op that keeps its input's grid (quantize's "same" mode: MaxPool, Reshape,
Transpose, Slice, ...) is on its source's grid in the int8 graph, not on a grid of its own, and
raising it raises that source (quantize16.int16_values): its error is measured by putting the
source S on S's grid and running everything downstream of S. Rounding the op's output alone would
be a graph qcomp never builds, and can be far worse than any real one: `Equal(MaxPool(h), h)`
(a detector's peak test) breaks everywhere when only MaxPool(h) is rounded, while with both on h's
grid the equality holds exactly as in float.
A candidate whose grid cannot be laid on its float value (a shape the quantized graph changed)
gets error +inf, so it is always measured. The order is error (largest first), then graph order:
deterministic. Cost: one float pass per proxy sample plus, per candidate, the float work
downstream of it (about half a float pass on average), no quantize, no lowering, no integer run.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..ir import DType, Graph
from ..passes.quantize import QuantOptions, int8_mode
from ..ref.interpreter import call_kernel, float_kernel
from .trials import output_cosine

PROXY_SAMPLES = 2       # float passes the proxy runs (the first evaluation samples)


def grids(gf: Graph, q: Graph, tensors: Sequence[str]) -> dict[str, tuple[np.ndarray, np.ndarray, int, int, int | None]]:
    """tensor -> (scale, zero point, qmin, qmax, axis) of its int8 grid in the default build `q`:
    the quant params of the output of the q node named as T's producer (quantize keeps the node
    names), or of the Quantize node reading T for a graph input."""
    producer = {n.outputs[0]: n.name for n in gf.nodes if n.outputs}
    by_name = {n.name: n for n in q.nodes}
    quantize_of = {n.inputs[0]: n for n in q.nodes if n.kind == "Quantize"}
    out = {}
    for t in tensors:
        node = quantize_of.get(t) if t in gf.inputs else by_name.get(producer.get(t, ""))
        if node is None or not node.outputs:
            continue
        ty = q.types[node.outputs[0]]
        if ty.quant is None or ty.dtype is not DType.INT8:
            continue
        lo, hi = ty.dtype.qrange
        qp = ty.quant
        out[t] = (np.asarray(qp.scale, np.float64), np.asarray(qp.zero_point, np.float64), lo, hi, qp.axis)
    return out


def fake_quantize(x: np.ndarray, grid) -> np.ndarray | None:
    """x put on `grid` and back (module docstring); None where the grid does not fit x's shape."""
    scale, zp, lo, hi, axis = grid
    if scale.size != 1:
        if axis is None or axis >= x.ndim or x.shape[axis] != scale.size:
            return None
        shape = [1] * x.ndim
        shape[axis] = scale.size
        scale, zp = scale.reshape(shape), zp.reshape(shape)
    safe = np.where(scale > 0, scale, 1.0)
    codes = np.clip(np.rint(x.astype(np.float64) / safe) + zp, lo, hi)
    return np.where(scale > 0, (codes - zp) * scale, 0.0).astype(x.dtype)


def grid_source(gf: Graph, tensor: str) -> str:
    """The value whose grid `tensor` carries in the int8 graph: `tensor` itself, or, through the ops
    that keep their input's grid (quantize's "same" mode), the first value up the chain that is
    quantized on a grid of its own (module docstring)."""
    producer = {v: n for n in gf.nodes for v in n.outputs}
    options = QuantOptions()
    seen = {tensor}
    while (n := producer.get(tensor)) is not None and n.inputs and int8_mode(gf, n, options) == "same":
        tensor = n.inputs[0]
        if tensor in seen or gf.is_constant(tensor):
            break
        seen.add(tensor)
    return tensor


def downstream(gf: Graph, tensor: str) -> list[int]:
    """Indices of the nodes that read `tensor`, directly or through other nodes, in graph order."""
    dirty, out = {tensor}, []
    for i, n in enumerate(gf.nodes):
        if any(v in dirty for v in n.inputs):
            out.append(i)
            dirty.update(n.outputs)
    return out


def _values(gf: Graph, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    env = dict(feeds)
    with np.errstate(all="ignore"):
        for n in gf.nodes:
            args = [gf.constants[i] if i in gf.constants else env[i] for i in n.inputs]
            env.update(zip(n.outputs, call_kernel(gf, n, args, float_kernel(n, args))))
    return env


def _rerun(gf: Graph, env: dict[str, np.ndarray], tensor: str, value: np.ndarray, nodes: list[int],
           outputs: Sequence[str]) -> dict[str, np.ndarray]:
    changed = {tensor: value}
    with np.errstate(all="ignore"):
        for i in nodes:
            n = gf.nodes[i]
            args = [gf.constants[v] if v in gf.constants else changed.get(v, env.get(v)) for v in n.inputs]
            changed.update(zip(n.outputs, call_kernel(gf, n, args, float_kernel(n, args))))
    return {o: changed.get(o, env[o]) for o in outputs}


def grid_errors(gf: Graph, q: Graph, tensors: Sequence[str], samples: Sequence[dict[str, np.ndarray]],
                count: int = PROXY_SAMPLES) -> dict[str, float]:
    """tensor -> the output error its int8 grid adds alone (module docstring), on the first `count` samples."""
    outputs = [o for o in gf.outputs if gf.types[o].dtype.is_float]
    envs = [_values(gf, dict(s)) for s in samples[:count]]
    reference = [{o: e[o] for o in outputs} for e in envs]
    sources = {t: grid_source(gf, t) for t in tensors}
    found = grids(gf, q, list(dict.fromkeys(sources.values())))
    errors: dict[str, float] = {}
    for t in tensors:
        s = sources[t]
        grid = found.get(s)
        nodes = downstream(gf, s)
        results = []
        for env in envs:
            fq = None if grid is None else fake_quantize(env[s], grid)
            if fq is None:
                break
            results.append(_rerun(gf, env, s, fq, nodes, outputs))
        errors[t] = float("inf") if len(results) < len(envs) else 1.0 - output_cosine(reference, results)
    return errors


def rank(tensors: Sequence[str], errors: dict[str, float]) -> tuple[str, ...]:
    """`tensors` by proxy error, largest first, then graph order (their order in `tensors`)."""
    order = {t: i for i, t in enumerate(tensors)}
    return tuple(sorted(tensors, key=lambda t: (-errors.get(t, float("inf")), order[t])))


def preselect(gf: Graph, q: Graph, tensors: Sequence[str], samples: Sequence[dict[str, np.ndarray]],
              top: int | None) -> tuple[tuple[str, ...], dict[str, float]]:
    """(the `top` candidates of the proxy ranking, in graph order; the proxy errors). Every candidate,
    with no proxy run, when `top` is None or covers them all: a small model is measured in full."""
    if top is None or top >= len(tensors):
        return tuple(tensors), {}
    errors = grid_errors(gf, q, tensors, samples)
    keep = set(rank(tensors, errors)[:top])
    return tuple(t for t in tensors if t in keep), errors
