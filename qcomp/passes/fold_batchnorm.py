"""Fold BatchNormalization into the Conv2D, ConvTranspose2D or Dense before it.

With k = gamma / sqrt(var + eps), per output channel c (computed in float64, stored as float32):

  W'[c] = W[c] * k[c]                       (axis 0 of OHWI conv weights and of Dense's [N, K])
  b'[c] = (b[c] - mean[c]) * k[c] + beta[c]

A BatchNorm that cannot be folded (its producer is another op, has other consumers, or has
non-constant weights) becomes a per-channel affine pair, Mul by k then Add of (beta - mean * k),
which the quantizer handles as ordinary elementwise ops.
"""
from __future__ import annotations

import numpy as np

from ..ir import Graph, Node, ops

_FOLDABLE = (ops.Conv2D, ops.ConvTranspose2D, ops.Dense)


def _bn_factors(g: Graph, bn: Node) -> tuple[np.ndarray, np.ndarray] | None:
    """(k, shift) with y = x * k + shift, or None when a BN parameter is not constant."""
    _, gamma, beta, mean, var = bn.inputs
    if not all(g.is_constant(v) for v in (gamma, beta, mean, var)):
        return None
    c = {v: g.constants[v].astype(np.float64) for v in (gamma, beta, mean, var)}
    k = c[gamma] / np.sqrt(c[var] + bn.op.epsilon)
    return k, c[beta] - c[mean] * k


def why_not_foldable(g: Graph, bn: Node, producers: dict, consumers: dict) -> str | None:
    """None when `bn` folds into its producer, else the reason it does not."""
    x = bn.inputs[0]
    prod = producers.get(x)
    if prod is None:
        return "its input is a graph input or constant"
    if not isinstance(prod.op, _FOLDABLE):
        return f"its producer {prod.name!r} is a {prod.kind}"
    if len(consumers[x]) != 1 or x in g.outputs:
        return f"the output of {prod.name!r} has other uses"
    if not (g.is_constant(prod.inputs[1]) and g.is_constant(prod.inputs[2])):
        return f"{prod.name!r} has non-constant weights"
    if any(getattr(prod.op, a, None) is not None for a in ("act_min", "act_max")):
        return f"{prod.name!r} already has a fused activation"
    return None


def fold_batchnorm(g: Graph) -> Graph:
    bns = [n for n in g.nodes if isinstance(n.op, ops.BatchNorm)]
    if not bns:
        return g
    out = g.copy()
    producers, consumers = out.producers(), out.consumers()
    drop: set[int] = set()
    for bn in [n for n in out.nodes if isinstance(n.op, ops.BatchNorm)]:
        factors = _bn_factors(out, bn)
        if factors is None:
            continue
        k, shift = factors
        if why_not_foldable(out, bn, producers, consumers) is None:
            prod = producers[bn.inputs[0]]
            w = out.constants[prod.inputs[1]].astype(np.float64)
            b = out.constants[prod.inputs[2]].astype(np.float64)
            w_new = (w * k.reshape((-1,) + (1,) * (w.ndim - 1))).astype(np.float32)
            b_new = (b * k + shift).astype(np.float32)
            w_name = out.add_constant(f"{prod.inputs[1]}_bnfold", w_new)
            b_name = out.add_constant(f"{prod.inputs[2]}_bnfold", b_new)
            prod.inputs = (prod.inputs[0], w_name, b_name)
            # the producer now computes BN's output directly: give it BN's output name
            old = prod.outputs[0]
            prod.outputs = (bn.outputs[0],)
            del out.types[old]
            drop.add(id(bn))
        else:
            dtype = out.types[bn.inputs[0]].dtype.np
            k_name = out.add_constant(f"{bn.name}_scale", k.astype(dtype))
            s_name = out.add_constant(f"{bn.name}_shift", shift.astype(dtype))
            mul = out.unique_name(f"{bn.name}_mul")
            idx = out.nodes.index(bn)
            mul_node = Node(mul, ops.Mul(), (bn.inputs[0], k_name), (mul,))
            out.types[mul] = out.types[bn.outputs[0]]
            out.nodes[idx] = Node(bn.name, ops.Add(), (mul, s_name), bn.outputs)
            out.nodes.insert(idx, mul_node)
    out.nodes = [n for n in out.nodes if id(n) not in drop]
    out.prune()
    return out
