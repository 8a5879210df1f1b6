"""What the importer learns of a pre-quantized model while it reads it (Context.quant); see
ops_quant.py for how the records are made and used."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..ir import QuantParams


@dataclass(frozen=True)
class WeightRecord:
    """One dequantized constant (a folded DequantizeLinear, a QOperator weight):
    real = float32(n) * scale along its axis (scale of size 1: per tensor)."""
    name: str                # the ONNX value of the dequantized tensor
    node: str                # the node that dequantized it
    n: np.ndarray            # int64: q - zero_point
    scale: np.ndarray        # float32
    zero_point: np.ndarray   # int64


@dataclass
class QuantTable:
    activations: dict[str, QuantParams] = field(default_factory=dict)   # IR value -> int8 params
    weights: list[WeightRecord] = field(default_factory=list)
    formats: set[str] = field(default_factory=set)                      # "QDQ", "QOperator"

    def rename(self, old: str, new: str) -> None:
        if old in self.activations:
            self.activations[new] = self.activations.pop(old)
