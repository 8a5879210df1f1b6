"""Which float value each int8 value of a QUANTIZED graph approximates.

quantize (qcomp/passes/quantize.py) keeps the float graph's node names and, where it can, its value
names; it renames an int8 value when the float name is taken: graph outputs (`logits` -> `logits_q`,
the float `logits` is the Dequantize after it), graph inputs (`input` -> `input_q`) and values that
also exist in float (`x_q`, `x_rq` for a Requantize in front of a Concat, `x_q_1`, ...). So the
match is made structurally, not by parsing names:

  - a graph input is itself;
  - Quantize, Dequantize and Requantize approximate what their input approximates;
  - any other node (a Lut included: it replaces the float node of the same name) matches the node
    of the same name in the float graph, output by output;
  - only if that node is missing (a name the builder had to change) does the value's own name,
    or that name without a `_q`/`_rq`/`_dq` suffix, decide.

A match is kept only when both values have the same shape and the float one is float: a probe
never compares unrelated tensors. `upstream` of a probe names the nearest int8 probes its node
reads, looking through float-fallback nodes (whose inputs come from Dequantize): the error of a
probe is the error its upstream probes bring plus what its own node adds.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from ..ir import DType, Graph, Node, ops
from ..ir.qops import Lut

_QDQ = (ops.Quantize, ops.Dequantize, ops.Requantize)
_WEIGHTED = (ops.Conv2D, ops.ConvTranspose2D, ops.Dense)
_SUFFIX = re.compile(r"^(?P<base>.+)_(?:q|rq|dq)(?:_\d+)?$")


@dataclass(frozen=True)
class Probe:
    """One int8 value of the quantized graph and the float value it approximates."""
    value: str                       # the int8 value (same name in the QUANTIZED and TARGET graphs)
    float_value: str                 # the value of the float graph it approximates
    node: str                        # the node that produces `value`
    op: str                          # that node's op: Conv2D, Lut(Sigmoid), Quantize, ...
    shape: tuple[int, ...]
    scale: float
    zero_point: int
    qrange: tuple[int, int]          # [qmin, qmax] of its integer dtype
    upstream: tuple[str, ...]        # the probes (int8 values) whose error flows into this one


@dataclass(frozen=True)
class WeightPair:
    """The int8 weights of one weighted node and the float weights they quantize."""
    node: str
    op: str
    value: str                       # int8 constant of the quantized graph
    float_value: str                 # float constant of the float graph


def op_label(op) -> str:
    if isinstance(op, Lut) and op.source is not None:
        return f"Lut({op.source.kind})"
    return op.kind


def _source_kind(op) -> str:
    return op.source.kind if isinstance(op, Lut) and op.source is not None else op.kind


def float_counterparts(gf: Graph, q: Graph) -> dict[str, str]:
    """Non-constant value of q -> the value of the float graph gf it approximates (module docstring)."""
    by_name = {n.name: n for n in gf.nodes}
    match: dict[str, str] = {i: i for i in q.inputs if i in gf.types}

    def fits(qv: str, fv: str | None) -> bool:
        return (fv is not None and fv in gf.types and fv not in gf.constants and gf.types[fv].dtype.is_float
                and gf.types[fv].shape == q.types[qv].shape)

    def by_value_name(qv: str) -> str | None:
        if fits(qv, qv):
            return qv
        m = _SUFFIX.match(qv)
        return m.group("base") if m and fits(qv, m.group("base")) else None

    for n in q.nodes:
        if isinstance(n.op, _QDQ):
            candidates = [match.get(n.inputs[0])]
        else:
            f = by_name.get(n.name)
            same = f is not None and len(f.outputs) == len(n.outputs) and f.kind == _source_kind(n.op)
            candidates = list(f.outputs) if same else [None] * len(n.outputs)
        for qv, fv in zip(n.outputs, candidates):
            fv = fv if fits(qv, fv) else by_value_name(qv)
            if fv is not None:
                match[qv] = fv
    return match


def probes(gf: Graph, q: Graph) -> tuple[list[Probe], list[str]]:
    """The probes of q in graph order, and notes on int8 values that have no float counterpart."""
    match = float_counterparts(gf, q)
    found: list[Probe] = []
    notes: list[str] = []
    int8 = {v for n in q.nodes for v in n.outputs if _is_activation(q, v)}
    # the nearest int8 values behind every value, computed forward in graph order
    behind: dict[str, tuple[str, ...]] = {i: () for i in q.inputs}

    def node_upstream(n: Node) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for i in n.inputs:
            if i not in q.constants:
                seen.update(dict.fromkeys(behind.get(i, ())))
        return tuple(seen)

    for n in q.nodes:
        up = node_upstream(n)
        for v in n.outputs:
            behind[v] = (v,) if v in int8 else up
            if v not in int8:
                continue
            if v not in match:
                notes.append(f"int8 value {v!r} of node {n.name!r} ({op_label(n.op)}) has no float value of "
                             f"the same shape to compare with; it is left out of the report")
                continue
            qp = q.types[v].quant
            found.append(Probe(v, match[v], n.name, op_label(n.op), q.types[v].shape, float(qp.scale[0]),
                               int(qp.zero_point[0]), q.types[v].dtype.qrange, up))
    return found, notes


def _is_activation(q: Graph, v: str) -> bool:
    t = q.types[v]
    return (v not in q.constants and t.dtype in (DType.INT8, DType.UINT8) and t.quant is not None
            and t.quant.axis is None)


def weight_pairs(gf: Graph, q: Graph) -> list[WeightPair]:
    """The int8 weights of every Conv2D / ConvTranspose2D / Dense of the float graph with its float
    weights: the node of the same name in q reads them as a quantized constant, or through a
    Dequantize of one (--quant weight); its op may differ (DynamicDense for --quant dynamic)."""
    producers = q.producers()
    by_name = {n.name: n for n in q.nodes}
    pairs = []
    for f in gf.nodes:
        n = by_name.get(f.name)
        if not isinstance(f.op, _WEIGHTED) or n is None or len(n.inputs) < 2 or f.inputs[1] not in gf.constants:
            continue
        w = n.inputs[1]
        src = producers.get(w)
        if src is not None and isinstance(src.op, ops.Dequantize):
            w = src.inputs[0]
        if (w in q.constants and q.types[w].quant is not None
                and q.types[w].shape == gf.types[f.inputs[1]].shape):
            pairs.append(WeightPair(n.name, op_label(n.op), w, f.inputs[1]))
    return pairs
