"""Index ops with indices computed at run time (ONNX GatherElements, GatherND, ScatterElements,
ScatterND), on a data tensor in ONNX layout. Type-generic: the same op moves float32 or int8
values (an int8 data tensor keeps its quant params; a scatter's updates share them, see
passes/quantize_index.py). Indices are int32 or int64; a negative index counts from the end of its
axis; an index outside [-d, d) is an input error at run time on every target (the reference raises
InputError, compiled code returns QCOMP_ERR_BAD_INPUT), never a read or write out of bounds.

  GatherElements(axis):   y[c] = data[c with c[axis] = idx[c]]                    y: idx.shape
  GatherND(batch_dims b): y[i..., j...] = data[i..., idx[i..., k...]..., j...]    (ONNX GatherND)
  ScatterElements(axis, reduction):  y = data; for each c of idx, in row-major order:
                          y[c with c[axis] = idx[c]] = f(y[...], updates[c])
  ScatterND(reduction):   y = data; for each row r of idx (K = idx.shape[-1]), in order:
                          y[idx[r, :K], ...] = f(y[...], updates[r, ...])
f: "none" replaces, "add", "mul", "max", "min" combine. Repeated indices apply in row-major order
(ONNX leaves the order open for "none"; qcomp fixes it, as onnxruntime's CPU kernels do).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from .ops_base import Op
from .types import DType, IRError, TensorType

REDUCTIONS = ("none", "add", "mul", "max", "min")
_INDEX = (DType.INT32, DType.INT64)


def _check_indices(kind: str, i: TensorType) -> None:
    if i.dtype not in _INDEX:
        raise IRError(f"{kind}: indices must be int32 or int64, got {i.dtype.value}")


def _elements(kind: str, axis: int, d: TensorType, i: TensorType) -> None:
    _check_indices(kind, i)
    if d.rank != i.rank or not 0 <= axis < d.rank:
        raise IRError(f"{kind}: indices {i.shape} and data {d.shape} must have one rank, axis {axis} inside it")
    if any(n > m for a, (n, m) in enumerate(zip(i.shape, d.shape)) if a != axis):
        raise IRError(f"{kind}: indices {i.shape} exceed data {d.shape} outside axis {axis}")


def nd_geometry(kind: str, d: TensorType, i: TensorType, batch_dims: int = 0) -> tuple[int, ...]:
    """The result shape of a GatherND (the updates shape of a ScatterND): idx.shape[:-1] + data.shape[b + K:]."""
    _check_indices(kind, i)
    if i.rank < 1 or not 0 <= batch_dims < min(d.rank, i.rank):
        raise IRError(f"{kind}: batch_dims {batch_dims} must be below the ranks of data {d.shape} and indices {i.shape}")
    k = i.shape[-1]
    if d.shape[:batch_dims] != i.shape[:batch_dims] or not 1 <= k <= d.rank - batch_dims:
        raise IRError(f"{kind}: indices {i.shape} (batch_dims {batch_dims}) do not address data {d.shape}")
    return i.shape[:-1] + d.shape[batch_dims + k:]


@dataclass(frozen=True)
class GatherElements(Op):
    axis: int = 0
    arity: ClassVar[int] = 2

    def infer(self, ins):
        d, i = ins
        _elements("GatherElements", self.axis, d, i)
        return [TensorType(i.shape, d.dtype)]


@dataclass(frozen=True)
class GatherND(Op):
    batch_dims: int = 0
    arity: ClassVar[int] = 2

    def infer(self, ins):
        d, i = ins
        return [TensorType(nd_geometry("GatherND", d, i, self.batch_dims), d.dtype)]


def _scatter_types(kind: str, reduction: str, d: TensorType, u: TensorType) -> None:
    if reduction not in REDUCTIONS:
        raise IRError(f"{kind}: reduction {reduction!r} is not one of {', '.join(REDUCTIONS)}")
    if u.dtype is not d.dtype:
        raise IRError(f"{kind}: updates are {u.dtype.value}, data {d.dtype.value}")


@dataclass(frozen=True)
class ScatterElements(Op):
    axis: int = 0
    reduction: str = "none"
    arity: ClassVar[int] = 3

    def infer(self, ins):
        d, i, u = ins
        _elements("ScatterElements", self.axis, d, i)
        _scatter_types("ScatterElements", self.reduction, d, u)
        if u.shape != i.shape:
            raise IRError(f"ScatterElements: updates {u.shape} must have the indices' shape {i.shape}")
        return [TensorType(d.shape, d.dtype)]


@dataclass(frozen=True)
class ScatterND(Op):
    reduction: str = "none"
    arity: ClassVar[int] = 3

    def infer(self, ins):
        d, i, u = ins
        _scatter_types("ScatterND", self.reduction, d, u)
        want = nd_geometry("ScatterND", d, i)
        if u.shape != want:
            raise IRError(f"ScatterND: updates {u.shape} must be {want} for data {d.shape} and indices {i.shape}")
        return [TensorType(d.shape, d.dtype)]


INDEX_OPS = (GatherElements, GatherND, ScatterElements, ScatterND)
