"""Absorb the layout Transpose in front of a Flatten -> Dense into the Dense weights.

A CNN's classifier flattens NCHW features; inside qcomp they are NHWC, so the frontend puts a
Transpose back to NCHW before the Flatten. Permuting the weight columns instead removes it:

  Dense(Reshape(Transpose(x, perm), (N, K)), W, b) == Dense(Reshape(x, (N, K)), W', b)
  W'[:, i] = W[:, j(i)],  j(i) = the position of x's flat element i after the Transpose

Needs perm[0] == 0 (the batch stays first), a constant W, and the Transpose and Reshape outputs
used only on this path.
"""
from __future__ import annotations

import numpy as np

from ..ir import Graph, Node, ops


def _match(g: Graph, dense: Node, producers: dict, consumers: dict) -> tuple[Node, Node] | None:
    if not isinstance(dense.op, ops.Dense) or not g.is_constant(dense.inputs[1]):
        return None
    reshape = producers.get(dense.inputs[0])
    if reshape is None or not isinstance(reshape.op, ops.Reshape) or len(reshape.op.shape) != 2:
        return None
    transpose = producers.get(reshape.inputs[0])
    if transpose is None or not isinstance(transpose.op, ops.Transpose) or transpose.op.perm[0] != 0:
        return None
    for value in (reshape.outputs[0], transpose.outputs[0]):
        if len(consumers.get(value, [])) != 1 or value in g.outputs:
            return None
    if g.types[transpose.inputs[0]].shape[0] != reshape.op.shape[0]:
        return None
    return transpose, reshape


def absorb_flatten_transpose(g: Graph) -> Graph:
    producers, consumers = g.producers(), g.consumers()
    matches = [(d, m) for d in g.nodes if (m := _match(g, d, producers, consumers)) is not None]
    if not matches:
        return g
    out = g.copy()
    for dense, (transpose, reshape) in matches:
        x = transpose.inputs[0]
        inner = g.types[x].shape[1:]
        perm = [p - 1 for p in transpose.op.perm[1:]]
        position = np.arange(int(np.prod(inner))).reshape(inner).transpose(perm).ravel()  # j -> i
        w = g.constants[dense.inputs[1]]
        w_new = np.empty_like(w)
        w_new[:, position] = w
        w_name = dense.inputs[1]
        if len(consumers[w_name]) == 1:  # keep the name: tables keyed by it (a pre-quantized model's
            w_new.flags.writeable = False  # per-row weight scales) stay valid, columns only moved
            out.constants[w_name] = w_new
        else:
            w_name = out.add_constant(f"{w_name}_nhwc", w_new)
        for n in out.nodes:
            if n.name == reshape.name:
                n.inputs = (x,)
            if n.name == dense.name:
                n.inputs = (n.inputs[0], w_name, n.inputs[2])
        out.nodes = [n for n in out.nodes if n.name != transpose.name]
    out.prune()
    return out
