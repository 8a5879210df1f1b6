"""The model's own integer codes at the artifact ABI (QCOMP_MODEL_CODES, runtime/qcomp.h version 3):
the one definition every backend emits from.

A model states integer codes for a graph input read by DequantizeLinear (or a Cast to float) and for
a graph output written by QuantizeLinear; the frontend records them in graph.meta["int_io"]
(qcomp/frontend/int_io.py: dtype, scale s, zero point z as the model states them). qcomp's IR keeps
such a tensor as the float it encodes, and its int8 form (qcomp.ir.io_quant) has the model's params
with the zero point moved into int8:

    uint8 code q  <->  int8 form c = q - 128 = q ^ 0x80   (zero point z - 128, scale s)
    int8 code q   <->  int8 form c = q                     (zero point z, scale s)

so under QCOMP_MODEL_CODES an artifact exchanges codes by replacing the node on the int8 side with
a copy that xors every byte with `mask` (0x80 or 0): integer operations only, exact.

    input v:   every node reading v is a Quantize to int8 whose params are (s, z - shift) per tensor,
               and whose output is no graph output: each is replaced by  y[i] = v[i] ^ mask
    output v:  written by a Dequantize of an int8 value c with params (s, z - shift) per tensor, read
               by no node and listed once: the Dequantize is replaced by  v[i] = c[i] ^ mask

Per-channel (axis) and int16 codes (a table row with "axis") have no int8 form with the model's
params: such a tensor crosses the ABI as its reals (has_codes 0), as without the flag.
A tensor the model states as codes but that fails these conditions (computed in float under
--quant dynamic / weight, other params) has `nodes` empty: QCOMP_MODEL_CODES then returns
QCOMP_ERR_NO_RAW_FORM before running anything.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from . import ops
from .graph import Graph, Node
from .types import DType

SHIFT = {DType.UINT8: 128, DType.INT8: 0}   # int8 form = code - SHIFT (mod 256: code ^ mask)
MASK = {DType.UINT8: 0x80, DType.INT8: 0x00}


@dataclass(frozen=True)
class ModelTensor:
    """One graph input or output as the model states it (qcomp_model_tensor_info)."""
    dtype: DType                 # the model's dtype (the IR's own for a tensor without codes)
    has_codes: bool              # the model states integer codes (uint8 / int8) for it
    scale: float = 0.0           # the model's params; 0 / 0 without codes
    zero_point: int = 0
    nodes: tuple[Node, ...] = ()  # the Quantizes / the Dequantize the codes replace; () = no exact form

    @property
    def mask(self) -> int:
        return MASK[self.dtype] if self.has_codes else 0

    @property
    def exact(self) -> bool:
        return not self.has_codes or bool(self.nodes)


def _table(g: Graph) -> dict[str, dict]:
    """The per-tensor 8-bit rows of qcomp.frontend.int_io's table (META_KEY; the IR stays frontend-free)."""
    return {k: t for k, t in json.loads(g.meta.get("int_io", "{}")).items() if "axis" not in t}


def _matches(q, dtype: DType, scale: float, zero_point: int) -> bool:
    """Per-tensor int8 params equal to the model's, zero point moved into int8."""
    return (q is not None and not q.per_channel and np.float32(q.scale[0]) == np.float32(scale)
            and int(q.zero_point[0]) == zero_point - SHIFT[dtype])


def model_inputs(g: Graph) -> list[ModelTensor]:
    """Every graph input, in order, as the model states it."""
    table, consumers = _table(g), g.consumers()
    out = []
    for v in g.inputs:
        t = table.get(v)
        if t is None:
            out.append(ModelTensor(g.types[v].dtype, False))
            continue
        dtype = DType.from_numpy(np.dtype(t["dtype"]))
        readers = consumers.get(v, [])
        ok = bool(readers) and all(isinstance(n.op, ops.Quantize) and n.inputs[0] == v
                                   and g.types[n.outputs[0]].dtype is DType.INT8
                                   and n.outputs[0] not in g.outputs
                                   and _matches(g.types[n.outputs[0]].quant, dtype, t["scale"], t["zero_point"])
                                   for n in readers)
        out.append(ModelTensor(dtype, True, float(t["scale"]), int(t["zero_point"]), tuple(readers) if ok else ()))
    return out


def model_outputs(g: Graph) -> list[ModelTensor]:
    """Every graph output, in order, as the model states it."""
    table, consumers, producers = _table(g), g.consumers(), g.producers()
    out = []
    for v in g.outputs:
        t = table.get(v)
        if t is None:
            out.append(ModelTensor(g.types[v].dtype, False))
            continue
        dtype = DType.from_numpy(np.dtype(t["dtype"]))
        n = producers.get(v)
        ok = (n is not None and isinstance(n.op, ops.Dequantize) and g.types[n.inputs[0]].dtype is DType.INT8
              and not consumers.get(v) and g.outputs.count(v) == 1
              and _matches(g.types[n.inputs[0]].quant, dtype, t["scale"], t["zero_point"]))
        out.append(ModelTensor(dtype, True, float(t["scale"]), int(t["zero_point"]), (n,) if ok else ()))
    return out


def all_exact(g: Graph) -> bool:
    """Every tensor the model states as codes has an exact codes form (QCOMP_MODEL_CODES runs)."""
    return all(m.exact for m in model_inputs(g) + model_outputs(g))


def code_nodes(g: Graph) -> tuple[dict[int, tuple[str, int]], dict[int, tuple[str, int]], bool]:
    """What a backend replaces under QCOMP_MODEL_CODES: (id(Quantize) -> (codes input, mask),
    id(Dequantize) -> (codes output, mask), every codes tensor has an exact form)."""
    ins: dict[int, tuple[str, int]] = {}
    outs: dict[int, tuple[str, int]] = {}
    for v, m in zip(g.inputs, model_inputs(g)):
        ins.update({id(n): (v, m.mask) for n in m.nodes})
    for v, m in zip(g.outputs, model_outputs(g)):
        outs.update({id(n): (v, m.mask) for n in m.nodes})
    return ins, outs, all_exact(g)
