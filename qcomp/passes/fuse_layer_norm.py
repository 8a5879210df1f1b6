"""Recognize the exporters' LayerNorm decomposition and fuse it into one LayerNorm.

torch.onnx (opset < 17), Keras/tf2onnx and hand-written graphs spell LayerNorm over the trailing axes
[axis, rank) as (after import: Pow(d, 2) is Mul(d, d), Pow(., 0.5) is Sqrt, Reciprocal(s) is Div(1, s))

    m = ReduceMean(x, axes=[axis, rank), keepdims)      d = Sub(x, m)
    v = ReduceMean(Mul(d, d), the same axes, keepdims)  s = Sqrt(Add(v, eps))
    n = Div(d, s)  or  Mul(d, Div(1, s))
    y = Add(Mul(n, gamma), beta)    (gamma and beta constants broadcasting to x.shape[axis:]; either
                                     may be missing, either operand order)

which is exactly y = (x - mean) / sqrt(var + eps) * gamma + beta with the biased variance:
LayerNorm(axis, eps)(x, gamma, beta), gamma = 1 and beta = 0 where absent. The fused op runs in float
as the decomposition did (float64 statistics in the reference) and, quantized, as the integer LayerNorm
(fixedpoint/layernorm.py) instead of nine int8 ops, of which Div and Sqrt of activations have no
integer form (dsp-c refused them). Every intermediate value must have no reader outside the pattern
and must not be a graph output; `why_not_layer_norm` gives the reason for every non-match.
"""
from __future__ import annotations

import numpy as np

from ..ir import Graph, Node, ops


def _single(consumers, v: str, g: Graph) -> Node | None:
    readers = list({id(n): n for n in consumers.get(v, [])}.values())
    return readers[0] if len(readers) == 1 and v not in g.outputs else None


def _other(n: Node, v: str) -> str:
    a, b = n.inputs
    return b if a == v else a


def _scalar(g: Graph, v: str) -> float | None:
    return float(g.constants[v].reshape(())) if g.is_constant(v) and g.constants[v].size == 1 else None


def _affine_ok(g: Graph, v: str, norm: tuple[int, ...]) -> bool:
    """A constant that broadcasts to the normalized axes only (never over the leading ones)."""
    if not g.is_constant(v):
        return False
    shape = g.constants[v].shape
    lead = shape[:max(0, len(shape) - len(norm))]
    tail = shape[len(lead):]
    return all(d == 1 for d in lead) and all(t in (1, n) for t, n in zip(tail[::-1], norm[::-1]))


def match(g: Graph, mean: Node, consumers) -> tuple[dict, list[Node]] | str:
    """(fields of the fused op, the matched nodes) for the pattern starting at ReduceMean `mean`,
    or the reason it does not match."""
    x = mean.inputs[0]
    rank = g.types[x].rank
    axes = tuple(sorted(a % rank for a in mean.op.axes))
    if not mean.op.keepdims or not axes or axes != tuple(range(axes[0], rank)):
        return "its ReduceMean does not keep the trailing axes [axis, rank)"
    axis, norm = axes[0], g.types[x].shape[axes[0]:]
    sub = _single(consumers, mean.outputs[0], g)
    if sub is None or not isinstance(sub.op, ops.Sub) or sub.inputs != (x, mean.outputs[0]):
        return "the mean is not read by one Sub(x, mean)"
    d = sub.outputs[0]
    readers = list({id(n): n for n in consumers.get(d, [])}.values())   # Mul(d, d) reads d twice
    sq = [n for n in readers if isinstance(n.op, ops.Mul) and n.inputs == (d, d)]
    rest = [n for n in readers if n not in sq]
    if len(sq) != 1 or len(rest) != 1 or d in g.outputs:
        return "x - mean is not read by exactly Mul(d, d) and one normalizing op"
    var = _single(consumers, sq[0].outputs[0], g)
    if var is None or not isinstance(var.op, ops.ReduceMean) or not var.op.keepdims or \
            tuple(sorted(a % rank for a in var.op.axes)) != axes:
        return "the squares are not averaged over the same axes"
    add_eps = _single(consumers, var.outputs[0], g)
    eps = _scalar(g, _other(add_eps, var.outputs[0])) if add_eps is not None and isinstance(add_eps.op, ops.Add) \
        and add_eps.op.act_min is None and add_eps.op.act_max is None else None
    if eps is None or eps < 0:
        return "the variance is not followed by Add of a scalar epsilon >= 0"
    sqrt = _single(consumers, add_eps.outputs[0], g)
    if sqrt is None or not isinstance(sqrt.op, ops.Sqrt):
        return "var + eps is not followed by Sqrt"
    s, norm_node = sqrt.outputs[0], rest[0]
    matched = [mean, sub, sq[0], var, add_eps, sqrt]
    if isinstance(norm_node.op, ops.Div) and norm_node.inputs == (d, s) and _single(consumers, s, g) is norm_node:
        matched.append(norm_node)
    else:
        recip = _single(consumers, s, g)
        if recip is None or not isinstance(recip.op, ops.Div) or recip.inputs[1] != s or \
                _scalar(g, recip.inputs[0]) != 1.0 or _single(consumers, recip.outputs[0], g) is not norm_node or \
                not isinstance(norm_node.op, ops.Mul) or _other(norm_node, d) != recip.outputs[0]:
            return "x - mean is not divided by the standard deviation (Div, or Mul by Div(1, .))"
        matched += [recip, norm_node]
    out, gamma, beta = norm_node.outputs[0], None, None
    nxt = _single(consumers, out, g)
    if nxt is not None and isinstance(nxt.op, ops.Mul) and _affine_ok(g, _other(nxt, out), norm):
        gamma, out = _other(nxt, out), nxt.outputs[0]
        matched.append(nxt)
        nxt = _single(consumers, out, g)
    if nxt is not None and isinstance(nxt.op, ops.Add) and nxt.op.act_min is None and nxt.op.act_max is None \
            and _affine_ok(g, _other(nxt, out), norm):
        beta, out = _other(nxt, out), nxt.outputs[0]
        matched.append(nxt)
    if g.types[out].shape != g.types[x].shape:
        return "gamma or beta broadcasts the result to another shape"
    return dict(x=x, axis=axis, eps=eps, gamma=gamma, beta=beta, out=out, norm=norm), matched


def why_not_layer_norm(g: Graph, mean: Node) -> str | None:
    """None when the pattern starting at ReduceMean `mean` fuses, else the reason it does not."""
    found = match(g, mean, g.consumers())
    return found if isinstance(found, str) else None


def fuse_layer_norm(g: Graph) -> Graph:
    if not any(isinstance(n.op, ops.ReduceMean) for n in g.nodes):
        return g
    out = g.copy()
    fused = False
    for mean in [n for n in out.nodes if isinstance(n.op, ops.ReduceMean)]:
        if mean not in out.nodes:
            continue
        found = match(out, mean, out.consumers())
        if isinstance(found, str):
            continue
        f, matched = found
        dtype = out.types[f["x"]].dtype.np
        shape = f["norm"]
        gamma = f["gamma"] or out.add_constant(f"{mean.name}_ln_ones", np.ones(shape, dtype))
        beta = f["beta"] or out.add_constant(f"{mean.name}_ln_zeros", np.zeros(shape, dtype))
        params = []
        for v, what in ((gamma, "gamma"), (beta, "beta")):   # exactly the normalized axes' shape
            c = out.constants[v]
            tail = c.reshape(c.shape[max(0, c.ndim - len(shape)):])    # the leading axes are all 1
            arr = np.ascontiguousarray(np.broadcast_to(tail, shape)).astype(dtype)
            params.append(out.add_constant(f"{mean.name}_ln_{what}", arr))
        ln = Node(out.unique_name(f"{mean.name}_layer_norm"), ops.LayerNorm(f["axis"], f["eps"]),
                  (f["x"], *params), (f["out"],))
        last = max(out.nodes.index(n) for n in matched)
        out.nodes.insert(last + 1, ln)
        drop = {id(n) for n in matched}
        out.nodes = [n for n in out.nodes if id(n) not in drop]
        for n in matched:
            for o in n.outputs:
                if o != f["out"]:
                    out.types.pop(o, None)
        fused = True
    if not fused:
        return g
    out.prune()
    return out
