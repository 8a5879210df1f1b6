"""Fold a scalar Mul (or Div) after a MatMul into the Dense that makes one of its operands (static int8).

  %q = Dense(%x, %w, %b)                   no clamp; read only by the chain below
  %t = Reshape / Transpose ... (%q)        zero or more, each read only by the next
  %s = MatMul(%t, %k)                      (or MatMul(%k, %t)), read only by the Mul
  %y = Mul(%s, c)                          (or Mul(c, %s), or Div(%s, d) with c = 1/d), c a scalar constant
    ->
  %q' = Dense(%x, c * w, c * b)   ...   %y = MatMul(%t', %k)

Attention's scores are softmax(Q K^T * 1/sqrt(d) + mask), and Q is a Dense (a Linear) moved into
heads by Reshape and Transpose. Since matmul, reshape and transpose are linear,
c * (T(x W^T + b) K) = T(x (c W)^T + c b) K exactly in real arithmetic; in float32 the scaled
weights are rounded once (float32(c * w), as fold_batchnorm rounds its folded weights), so the
FLOAT graph differs from the model's by rounding only.

What it changes in the int8 graph: calibration sees Q' = c Q, whose grid is c times Q's (the
same codes), and the QMatMul's requantize multiplier M = s_q' s_k / s_y = c s_q s_k / s_y carries
c: the scores are requantized once to the grid of c Q K^T, where the unfused graph requantized
Q K^T to its own grid and then mapped those codes through a Lut (a second rounding, and a node over
the whole [heads, S, S] scores). Every backend runs the same Dense and QMatMul kernels.

The operand searched first is the MatMul's A (Q), then B (K^T). Where it runs: `builder.float_graph`
for `--quant full` (STATIC_FLOAT_PASSES), after fold_dense_bias (so the Dense carries its bias) and
before calibration; `--quant dynamic` keeps the Mul for fuse_dynamic_attention. The MatMul keeps its
name and writes the Mul's output; where `--skip` or `--precision` (`keep`) names what the fold removes
(the Mul node, the MatMul's output value), the chain is left alone. `why_not_foldable` gives the reason
for every scalar Mul after a MatMul that stays.
"""
from __future__ import annotations

import numpy as np

from ..ir import Graph, Node, ops
from .pipeline import each_node

_MOVES = (ops.Reshape, ops.Transpose)


def _factor(g: Graph, n: Node) -> tuple[str, float] | None:
    """(the other operand, c as float64) when n is x * c, c * x or x / d with a scalar constant."""
    if type(n.op) not in (ops.Mul, ops.Div) or len(n.inputs) != 2:
        return None
    a, b = n.inputs
    for var, const in ((a, b), (b, a) if type(n.op) is ops.Mul else (None, None)):
        c = g.constants.get(const) if const is not None else None
        if var is not None and var not in g.constants and c is not None and c.size == 1 and c.dtype == np.float32:
            v = float(c.reshape(()))
            if type(n.op) is ops.Div:
                return (var, 1.0 / v) if v != 0 and np.isfinite(v) else None
            return (var, v) if np.isfinite(v) else None
    return None


def _root_dense(g: Graph, v: str, producers: dict, consumers: dict) -> list[Node] | str:
    """[Dense, moves...] making v through single-reader Reshape/Transpose nodes, or why not."""
    chain: list[Node] = []
    while True:
        n = producers.get(v)
        if n is None:
            return f"{v!r} is not made by a Dense (a graph input or constant)"
        if v in g.outputs or len(consumers[v]) != 1:
            return f"{v!r} is read by {len(consumers[v])} nodes{' and is a graph output' if v in g.outputs else ''}"
        chain.insert(0, n)
        if type(n.op) is ops.Dense:
            if n.op.act_min is not None or n.op.act_max is not None:
                return f"{n.name!r} clamps its output"
            return chain
        if not isinstance(n.op, _MOVES):
            return f"{v!r} is made by a {n.kind}, not a Dense, Reshape or Transpose"
        v = n.inputs[0]


def why_not_foldable(g: Graph, mul: Node, producers: dict, consumers: dict, keep=frozenset()):
    """(MatMul, chain [Dense, moves...], c) for a foldable scalar Mul, else why it does not fold."""
    found = _factor(g, mul)
    if found is None:
        return f"{mul.name!r} is not a Mul or Div by a finite scalar constant"
    s, c = found
    mm = producers.get(s)
    if mm is None or type(mm.op) is not ops.MatMul:
        return f"{s!r} is not made by a MatMul"
    if mm.op.act_min is not None or mm.op.act_max is not None:
        return f"{mm.name!r} clamps its output"
    if s in g.outputs or len(consumers[s]) != 1:
        return f"{s!r} is read by more than the {mul.kind}"
    if g.types[mul.outputs[0]].shape != g.types[s].shape:
        return f"the constant of {mul.name!r} broadcasts {s!r} to a larger shape"
    reasons = []
    for operand in mm.inputs:
        chain = _root_dense(g, operand, producers, consumers)
        if isinstance(chain, str):
            reasons.append(chain)
            continue
        named = {mul.name, mm.outputs[0]} & set(keep)   # what the fold removes
        if named:
            return f"{sorted(named)[0]!r} is named by --skip or --precision"
        return mm, chain, c
    return "neither MatMul operand comes from a Dense: " + "; ".join(reasons)


def fold_matmul_scale(g: Graph, keep=frozenset()) -> Graph:
    producers, consumers = g.producers(), g.consumers()
    plan = []
    for n in each_node(g.nodes):
        if type(n.op) in (ops.Mul, ops.Div):
            found = why_not_foldable(g, n, producers, consumers, keep)
            if isinstance(found, tuple):
                plan.append((n, *found))
    if not plan:
        return g
    out = g.copy()
    replace: dict[int, Node] = {}
    drop: set[int] = set()
    for mul, mm, chain, c in plan:
        dense = chain[0]
        x, w, b = dense.inputs
        w2 = out.add_constant(f"{w}/scaled", (g.constants[w].astype(np.float64) * c).astype(np.float32))
        b2 = out.add_constant(f"{b}/scaled", (g.constants[b].astype(np.float64) * c).astype(np.float32))
        replace[id(dense)] = Node(dense.name, dense.op, (x, w2, b2), dense.outputs)
        replace[id(mm)] = Node(mm.name, mm.op, mm.inputs, mul.outputs)   # writes the Mul's output
        drop.add(id(mul))
    out.nodes = [replace.get(id(old), n) for old, n in zip(g.nodes, out.nodes) if id(old) not in drop]
    out.prune()
    return out
