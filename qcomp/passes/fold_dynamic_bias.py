"""Fold the bias Add after a DynamicDense into the DynamicDense's own bias, where that is exact.

  %d = DynamicDense(%x, %w, %b, %w_scale) {no clamp}          b: a constant f32[N] of +0.0 only
  %h = Add(%bias, %d)                 (or Add(%d, %bias))     bias: a constant f32 of N values along
                                                              the last axis, no -0.0 among them
    ->
  %h = DynamicDense(%x, %w, %bias, %w_scale) {no clamp}

A MatMul with constant weights followed by an Add of a constant (attention's Q, K and V projections
as torch exports them) becomes a DynamicDense whose bias b is zero and a separate float Add node.
Per element, with p = float32(acc) * (s_x * w_scale[n]) (qops.DynamicDense),

  unfused:  h = (p + b[n]) + bias[n] = (p + 0.0) + bias[n]      folded:  h = p + bias[n]

and these are equal in IEEE float32 for every p (finite, infinite or NaN): p + 0.0 is p, except
p = -0.0 which becomes +0.0; then (+0.0) + c and (-0.0) + c differ only for c = -0.0 (+0.0 against
-0.0), which a bias without -0.0 rules out. b must be +0.0 (a -0.0 in b: (+0.0) + (-0.0) is +0.0, but
p + (-0.0) keeps p = -0.0; simpler to require +0.0), and the DynamicDense must not clamp (its clamp
sits between the two additions) nor the Add (its clamp would have to move into the node; not done).
What the fold saves: a float pass over [M, N] (a load, an add, a store per element) and a node (on
two threads, a fork-join); the bias costs nothing in the GEMM's epilogue, which adds b anyway.

Where it runs: llvm builds (builder.BACKEND_FUSIONS), after fuse_dynamic, so the bias Adds of the
GELU and residual LayerNorm chains fuse there first. The result is the same DynamicDense on every
backend and on the reference (tests/passes/test_fold_dynamic_bias.py compares both graphs exactly).
why_not_foldable gives the reason for every DynamicDense that does not fold.
"""
from __future__ import annotations

from ..ir import Graph, Node, qops
from .bias_fold import bias_add, fold


def why_not_foldable(g: Graph, dense: Node, consumers: dict) -> tuple[Node, str] | str:
    """(the bias Add that folds into `dense`, its bias constant) or why it does not fold."""
    if type(dense.op) is not qops.DynamicDense:
        return f"{dense.name!r} is a {dense.kind}, not a DynamicDense"
    found = bias_add(g, dense, consumers)
    if isinstance(found, str):
        return found
    add = found[0]
    if add.op.act_min is not None or add.op.act_max is not None:
        return f"the bias Add {add.name!r} has a fused clamp"
    return found


def fold_dynamic_bias(g: Graph) -> Graph:
    consumers = g.consumers()

    def fused(dense: Node, add: Node, bias: str) -> Node:
        x, w, _, w_scale = dense.inputs
        return Node(dense.name, dense.op, (x, w, bias, w_scale), add.outputs)
    return fold(g, lambda n: why_not_foldable(g, n, consumers) if type(n.op) is qops.DynamicDense else None, fused)
