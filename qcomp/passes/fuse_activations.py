"""Fuse Relu, Relu6 and Clip into the Conv2D, ConvTranspose2D, Dense, MatMul or Add before them.

  Relu(P(x))            -> P(x) {act_min=0}
  Clip(P(x), lo, hi)    -> P(x) {act_min=max(lo, act_min), act_max=min(hi, act_max)}

In the quantized graph the fused range becomes the requantize clamp bounds, so the activation
costs nothing. Fusion needs the producer's result to have no other use (and not be a graph output).
"""
from __future__ import annotations

import dataclasses

from ..ir import Graph, Node, ops

_PRODUCERS = (ops.Conv2D, ops.ConvTranspose2D, ops.Dense, ops.MatMul, ops.Add)


def activation_range(op: ops.Op) -> tuple[float | None, float | None] | None:
    """The clamp an activation op applies, or None when it is not a clamp."""
    if isinstance(op, ops.Relu):
        return 0.0, None
    if isinstance(op, ops.Clip):
        return op.min, op.max
    return None


def _tighten(a: float | None, b: float | None, pick) -> float | None:
    return b if a is None else a if b is None else pick(a, b)


def why_not_fusable(g: Graph, act: Node, producers: dict, consumers: dict) -> str | None:
    x = act.inputs[0]
    prod = producers.get(x)
    if prod is None:
        return "its input is not produced by a node"
    if not isinstance(prod.op, _PRODUCERS):
        return f"its producer {prod.name!r} is a {prod.kind}"
    if len(consumers[x]) != 1 or x in g.outputs:
        return f"the output of {prod.name!r} has other uses"
    return None


def fuse_activations(g: Graph) -> Graph:
    if not any(activation_range(n.op) for n in g.nodes):
        return g
    out = g.copy()
    producers, consumers = out.producers(), out.consumers()
    drop: set[int] = set()
    for act in out.nodes:
        rng = activation_range(act.op)
        if rng is None or why_not_fusable(out, act, producers, consumers) is not None:
            continue
        prod = producers[act.inputs[0]]
        lo = _tighten(prod.op.act_min, rng[0], max)
        hi = _tighten(prod.op.act_max, rng[1], min)
        prod.op = dataclasses.replace(prod.op, act_min=lo, act_max=hi)
        old = prod.outputs[0]
        prod.outputs = (act.outputs[0],)
        del out.types[old]
        producers[act.outputs[0]] = prod
        consumers[act.outputs[0]] = consumers.get(act.outputs[0], [])
        drop.add(id(act))
    if not drop:
        return g
    out.nodes = [n for n in out.nodes if id(n) not in drop]
    return out
