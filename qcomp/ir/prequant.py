"""Quantization parameters a pre-quantized model brings along (QDQ or QOperator ONNX models).

The frontend imports such a model as a FLOAT graph (every QuantizeLinear/DequantizeLinear pair is
an identity on the real values it encodes) and records the model's own parameters here, keyed by
IR value name:
  activations[v] = QuantParams(scale, zero_point) per tensor, int8 (a uint8 zero point z is
                   stored as z - 128: q_u8 - z == (q_u8 - 128) - (z - 128), the same reals);
  weights[w]     = QuantParams(scale[O], 0, axis=0) of weight constant w of a Conv2D,
                   ConvTranspose2D or Dense (OHWI / [N, K] layout, symmetric int8 in [-127, 127]):
                   w == float32(q * scale[o]) exactly for integers q in [-127, 127].
The quantize pass uses them instead of calibrated ranges and weight statistics, so the QUANTIZED
graph keeps the model's scales and zero points.

The table rides in `Graph.meta[META_KEY]` as JSON (floats written with repr round-trip float32
exactly), so every pass that copies a graph carries it along; a pass that renames a value drops
that value's entry (fold_batchnorm's new weights, for example, are quantized from their values).
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

import numpy as np

from .graph import Graph
from .types import IRError, QuantParams

META_KEY = "prequant"


@dataclass(frozen=True)
class PreQuant:
    activations: dict[str, QuantParams] = field(default_factory=dict)
    weights: dict[str, QuantParams] = field(default_factory=dict)
    source: str = ""   # "QDQ", "QOperator" or both, for reports

    def __bool__(self) -> bool:
        return bool(self.activations or self.weights)

    def to_json(self) -> str:
        return json.dumps({
            "source": self.source,
            "activations": {k: [float(q.scale[0]), int(q.zero_point[0])] for k, q in self.activations.items()},
            "weights": {k: [float(s) for s in q.scale] for k, q in self.weights.items()},
        }, sort_keys=True, separators=(",", ":"))

    @staticmethod
    def from_json(text: str) -> "PreQuant":
        try:
            d = json.loads(text)
            acts = {k: QuantParams(np.float32(s), zp) for k, (s, zp) in d["activations"].items()}
            weights = {k: QuantParams(np.asarray(s, np.float32), 0, axis=0) for k, s in d["weights"].items()}
        except (ValueError, KeyError, TypeError) as e:
            raise IRError(f"graph meta {META_KEY!r} is not a valid pre-quantization table ({e})") from None
        return PreQuant(acts, weights, str(d.get("source", "")))


def prequant_of(g: Graph) -> PreQuant:
    """The pre-quantization table of a graph (empty when the model was a float model)."""
    text = g.meta.get(META_KEY)
    return PreQuant() if not text else PreQuant.from_json(text)


def set_prequant(g: Graph, table: PreQuant) -> None:
    if table:
        g.meta[META_KEY] = table.to_json()
    else:
        g.meta.pop(META_KEY, None)


__all__ = ["PreQuant", "META_KEY", "prequant_of", "set_prequant"]
