"""The int8 form of a graph's inputs and outputs: the one definition behind the manifest's quant
params, every backend's I/O tables and the `--raw` contract.

    graph input v:   v itself when its type carries quant params (an int8 input);
                     else the Quantize that reads v (all Quantizes reading v, when they agree)
    graph output v:  v itself when its type carries quant params;
                     else the Dequantize that writes v
    anything else:   no int8 form (None): an output computed in float (a float-fallback region or a
                     `--skip`ped last node), an input that only float ops read, int32/int64 values

`--raw` exchanges exactly these forms: a raw output is the int8 value the Dequantize reads (its
`quant` dequantizes it); an output with no int8 form comes back unchanged, in its own dtype.
Backends whose raw I/O replaces the Quantize / Dequantize node by a copy use `IntForm.node`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import ops
from .graph import Graph, Node
from .types import QuantParams


@dataclass(frozen=True)
class IntForm:
    """Quant params of the int8 form, and the node whose int8 side it is (None: the value itself)."""
    quant: QuantParams
    node: Node | None


def _same(a: QuantParams, b: QuantParams) -> bool:
    return (a.axis == b.axis and np.array_equal(a.scale, b.scale) and np.array_equal(a.zero_point, b.zero_point))


def input_forms(g: Graph) -> dict[str, IntForm | None]:
    """Graph input -> its int8 form, or None."""
    consumers = g.consumers()
    forms: dict[str, IntForm | None] = {}
    for v in g.inputs:
        if g.types[v].quant is not None:
            forms[v] = IntForm(g.types[v].quant, None)
            continue
        quantizes = [n for n in consumers.get(v, []) if isinstance(n.op, ops.Quantize) and n.inputs[0] == v]
        params = [g.types[n.outputs[0]].quant for n in quantizes]
        agreed = bool(quantizes) and all(_same(params[0], p) for p in params[1:])
        forms[v] = IntForm(params[0], quantizes[0]) if agreed else None
    return forms


def output_forms(g: Graph) -> dict[str, IntForm | None]:
    """Graph output -> its int8 form, or None."""
    producers = g.producers()
    forms: dict[str, IntForm | None] = {}
    for v in g.outputs:
        n = producers.get(v)
        if g.types[v].quant is not None:
            forms[v] = IntForm(g.types[v].quant, None)
        elif n is not None and isinstance(n.op, ops.Dequantize):
            forms[v] = IntForm(g.types[n.inputs[0]].quant, n)
        else:
            forms[v] = None
    return forms


def io_quant(g: Graph) -> dict[str, QuantParams | None]:
    """Every graph input and output -> the quant params of its int8 form, or None."""
    both = input_forms(g) | output_forms(g)
    return {v: None if f is None else f.quant for v, f in both.items()}
