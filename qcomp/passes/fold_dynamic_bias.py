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

import numpy as np

from ..ir import Graph, Node, ops, qops
from .pipeline import each_node


def _zero_bias(g: Graph, dense: Node) -> bool:
    b = g.constants.get(dense.inputs[2])
    return b is not None and b.dtype == np.float32 and not np.any(b) and not np.signbit(b).any()


def why_not_foldable(g: Graph, dense: Node, consumers: dict) -> tuple[Node, str] | str:
    """(the bias Add that folds into `dense`, its bias constant) or why it does not fold."""
    if type(dense.op) is not qops.DynamicDense:
        return f"{dense.name!r} is a {dense.kind}, not a DynamicDense"
    d = dense.outputs[0]
    if dense.op.act_min is not None or dense.op.act_max is not None:
        return f"{dense.name!r} clamps its output (between its bias and the Add's)"
    if not _zero_bias(g, dense):
        return f"{dense.name!r} has a bias {dense.inputs[2]!r} that is not a constant of +0.0 only"
    readers = consumers.get(d, [])
    if d in g.outputs or len(readers) != 1 or type(readers[0].op) is not ops.Add:
        return f"{d!r} is read by {[r.kind for r in readers]}{' and is a graph output' if d in g.outputs else ''}, " \
               f"not by one Add alone"
    add = readers[0]
    a, c = add.inputs
    bias = c if a == d else a if c == d else None
    n = g.types[d].shape[-1]
    value = g.constants.get(bias) if bias is not None and bias != d else None
    if (value is None or value.dtype != np.float32 or value.size != n or value.shape[-1:] != (n,)
            or value.ndim > g.types[d].rank):
        return f"the Add after {dense.name!r} adds {bias!r}, not a constant f32 bias of {n} values along the last axis"
    if np.signbit(value[value == 0]).any():
        return f"the bias {bias!r} holds -0.0 (the fold would turn a +0.0 result into -0.0)"
    if add.op.act_min is not None or add.op.act_max is not None:
        return f"the bias Add {add.name!r} has a fused clamp"
    return add, bias


def fold_dynamic_bias(g: Graph) -> Graph:
    consumers = g.consumers()
    plan: dict[int, tuple[Node, str]] = {}        # id(Add) -> (DynamicDense, bias)
    for n in each_node(g.nodes):
        found = why_not_foldable(g, n, consumers) if type(n.op) is qops.DynamicDense else None
        if isinstance(found, tuple):
            plan[id(found[0])] = (n, found[1])
    if not plan:
        return g
    out = g.copy()
    out.memory = None
    gone = {id(dense) for dense, _ in plan.values()}
    nodes = []
    for old, n in zip(g.nodes, out.nodes):
        if id(old) in gone:
            continue
        if id(old) in plan:
            dense, bias = plan[id(old)]
            if out.constants[bias].ndim != 1:         # [1, ..., 1, N] as exported: the same values as [N]
                bias = out.add_constant(f"{bias}/row", out.constants[bias].reshape(-1))
            x, w, _, w_scale = dense.inputs
            n = Node(dense.name, dense.op, (x, w, bias, w_scale), old.outputs)
        nodes.append(n)
    out.nodes = nodes
    out.prune()
    return out
