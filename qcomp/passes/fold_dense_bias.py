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
from .pipeline import each_node


def _zero_bias(g: Graph, dense: Node) -> bool:
    b = g.constants.get(dense.inputs[2])
    return b is not None and b.dtype == np.float32 and not np.any(b) and not np.signbit(b).any()


def why_not_foldable(g: Graph, dense: Node, consumers: dict, keep=frozenset()) -> tuple[Node, str] | str:
    """(the bias Add that folds into `dense`, its bias constant) or why it does not fold."""
    if type(dense.op) is not ops.Dense:
        return f"{dense.name!r} is a {dense.kind}, not a Dense"
    d = dense.outputs[0]
    if g.types[d].dtype.np != np.float32:
        return f"{dense.name!r} computes in {g.types[d].dtype.value}, not float32"
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
    named = {add.name, d} & set(keep)   # what the fold removes
    if named:
        return f"{sorted(named)[0]!r} is named by --skip or --precision"
    return add, bias


def fold_dense_bias(g: Graph, keep=frozenset()) -> Graph:
    consumers = g.consumers()
    plan: dict[int, tuple[Node, str]] = {}        # id(Add) -> (Dense, bias)
    for n in each_node(g.nodes):
        found = why_not_foldable(g, n, consumers, keep) if type(n.op) is ops.Dense else None
        if isinstance(found, tuple):
            plan[id(found[0])] = (n, found[1])
    if not plan:
        return g
    out = g.copy()
    gone = {id(dense) for dense, _ in plan.values()}
    nodes = []
    for old, n in zip(g.nodes, out.nodes):
        if id(old) in gone:
            continue
        if id(old) in plan:
            dense, bias = plan[id(old)]
            if out.constants[bias].ndim != 1:         # [1, ..., 1, N] as exported: the same values as [N]
                bias = out.add_constant(f"{bias}/row", out.constants[bias].reshape(-1))
            x, w, _ = dense.inputs
            op = ops.Dense(act_min=old.op.act_min, act_max=old.op.act_max)
            n = Node(dense.name, op, (x, w, bias), old.outputs)
        nodes.append(n)
    out.nodes = nodes
    out.prune()
    return out
