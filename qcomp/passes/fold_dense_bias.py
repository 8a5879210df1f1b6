"""Fold the constant bias Add after a float Dense into the Dense's own bias (static int8 builds).

  %d = Dense(%x, %w, %b)                 b: a constant f32[N] of +0.0 only, no clamp
  %h = Add(%bias, %d) {clamp?}           (or Add(%d, %bias)); bias: a constant f32 of N values along
                                         the last axis ([N], [1, N], [1, 1, N] ...), no -0.0 among them
    ->
  %h = Dense(%x, %w, %bias) {clamp?}

The exporters write every torch Linear as MatMul then Add; the frontend imports the MatMul with
constant weights as a Dense whose bias is zero. Per element, with p = sum_k x[k] * w[n, k]:

  unfused:  h = (p + b[n]) + bias[n] = (p + 0.0) + bias[n]        folded:  h = p + bias[n]

which are equal in IEEE float32 for every p: p + 0.0 is p except p = -0.0 (it becomes +0.0), and
(+0.0) + c, (-0.0) + c differ only for c = -0.0, which a bias without -0.0 rules out. So the FLOAT
graph computes the same numbers, and calibration, run after this pass, sees the same ranges.

What it changes in the int8 graph: the unfused pair is a QDense requantizing p to its own int8
grid, then a QAdd rescaling that and the int8 bias to the Add's grid (two roundings, a node, a
pass over [M, N]); folded, the bias is the Dense's int32 bias (scale s_x * s_w[n]) added in the
GEMM's accumulator and p + bias is requantized once to the Add's grid (what Conv2D and Gemm biases
already do). Every backend runs the folded Dense with its usual kernels.

The Add's fused clamp (a Relu after it, fused by fuse_activations) moves into the Dense, whose
clamp applies after its bias: min(max(p + bias, lo), hi) on both sides. The Dense must not clamp
itself (its clamp sits between the two additions).

Where it runs: `builder.float_graph` for `--quant full` (STATIC_FLOAT_PASSES), after FLOAT_PASSES
and before calibration; `--quant dynamic` keeps the pair for its own fusions (fuse_dynamic,
fold_dynamic_bias). The fused node keeps the Dense's name and writes the Add's output; where
`--skip` or `--precision` (`keep`) names what the fold removes (the Add node, the Dense's output
value), the pair is left as it is, so every name given still resolves (the names of the fused graph,
which `--accuracy` and `qcomp report` print, survive a rebuild). `why_not_foldable` gives the reason for every Dense that stays.
"""
from __future__ import annotations

import numpy as np

from ..ir import Graph, Node, ops
from .bias_fold import bias_add, fold


def why_not_foldable(g: Graph, dense: Node, consumers: dict, keep=frozenset()) -> tuple[Node, str] | str:
    """(the bias Add that folds into `dense`, its bias constant) or why it does not fold."""
    if type(dense.op) is not ops.Dense:
        return f"{dense.name!r} is a {dense.kind}, not a Dense"
    d = dense.outputs[0]
    if g.types[d].dtype.np != np.float32:
        return f"{dense.name!r} computes in {g.types[d].dtype.value}, not float32"
    found = bias_add(g, dense, consumers)
    if isinstance(found, str):
        return found
    named = {found[0].name, d} & set(keep)   # what the fold removes
    if named:
        return f"{sorted(named)[0]!r} is named by --skip or --precision"
    return found


def fold_dense_bias(g: Graph, keep=frozenset()) -> Graph:
    consumers = g.consumers()

    def fused(dense: Node, add: Node, bias: str) -> Node:
        x, w, _ = dense.inputs
        return Node(dense.name, ops.Dense(act_min=add.op.act_min, act_max=add.op.act_max), (x, w, bias), add.outputs)
    return fold(g, lambda n: why_not_foldable(g, n, consumers, keep) if type(n.op) is ops.Dense else None, fused)
