"""The match and the rewrite shared by fold_dense_bias (float Dense, static builds) and
fold_dynamic_bias (DynamicDense, llvm builds): a constant bias Add after a dense node whose own bias
is +0.0, folded into that bias. Why the fold is exact in IEEE float32 (p + 0.0 + c against p + c,
no -0.0 in c) is in both passes' docstrings.
"""
from __future__ import annotations

from typing import Callable

import numpy as np

from ..ir import Graph, Node, ops
from .pipeline import each_node


def _zero_bias(g: Graph, dense: Node) -> bool:
    b = g.constants.get(dense.inputs[2])
    return b is not None and b.dtype == np.float32 and not np.any(b) and not np.signbit(b).any()


def bias_add(g: Graph, dense: Node, consumers: dict) -> tuple[Node, str] | str:
    """(the Add that adds a constant bias to `dense`'s output, the bias's name), or why there is none
    that folds: the node clamps, its own bias is not +0.0, its output has other readers or is a graph
    output, the addend is not a float32 constant of N values along the last axis, or holds -0.0."""
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
    return add, bias


def fold(g: Graph, why_not: Callable[[Node], tuple[Node, str] | str], fused: Callable[[Node, Node, str], Node]) -> Graph:
    """g with every pair why_not(node) accepts, (dense, Add), replaced by fused(dense, add, bias) at the
    Add's place (a [1, ..., 1, N] bias becomes its [N] row first); g itself if none."""
    plan: dict[int, tuple[Node, str]] = {}        # id(Add) -> (dense, bias)
    for n in each_node(g.nodes):
        found = why_not(n)
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
            n = fused(dense, old, bias)
        nodes.append(n)
    out.nodes = nodes
    out.prune()
    return out
