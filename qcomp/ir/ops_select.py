"""Selection ops: TopK.

TopK(x) along `axis`: the k largest (largest=True) or smallest elements of each row and their
positions, in order, as ONNX and onnxruntime define it: the order is by value (descending for
largest, ascending otherwise) and, between equal values, by position (the lower index first).
Outputs: values (x's dtype and, on int8, x's quant params: selection moves values, so int8 is exact
and keeps them) and indices (int64). `k` is static (a constant K input in ONNX).

Every backend computes row by row by the same rule, with no scratch memory: pick j is the first
element, in that order, strictly after pick j-1 (O(k * n) comparisons per row).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from .ops_base import Op
from .types import DType, IRError, TensorType


@dataclass(frozen=True)
class TopK(Op):
    axis: int = 0
    k: int = 1
    largest: bool = True
    num_outputs: ClassVar[int] = 2

    def infer(self, ins):
        x = ins[0]
        if not 0 <= self.axis < x.rank:
            raise IRError(f"TopK: axis {self.axis} out of range for shape {x.shape}")
        if not 1 <= self.k <= x.shape[self.axis]:
            raise IRError(f"TopK: k {self.k} must be in 1..{x.shape[self.axis]} (axis {self.axis} of {x.shape})")
        shape = x.shape[:self.axis] + (self.k,) + x.shape[self.axis + 1:]
        return [TensorType(shape, x.dtype), TensorType(shape, DType.INT64)]
