"""Comparison, logic and selection ops of the IR, and the reductions beyond ReduceMean / ReduceMax.

Comparisons and logic produce bool tensors (DType.BOOL, one byte per element, 0 or 1), which flow
through the graph as bool, model outputs included:

    Compare(mode)       eq, gt, ge, lt, le: a OP b elementwise, numpy broadcasting, operands of one
                        dtype (float: IEEE, every comparison with NaN false; integers: exact)
    Not                 !a                        (bool)
    Logical(mode)       and, or, xor of two bools (broadcasting)
    Where               cond ? x : y              (cond bool; x and y of one dtype; all three broadcast)
    IsNaN               x != x                    (float in, bool out)
    IsInf(pos, neg)     x == +inf (pos) or x == -inf (neg)

Reductions over `axes` (non-negative, sorted; keepdims as ONNX), accumulated in the input's dtype:

    ReduceSum           sum                       ReduceProd     product
    ReduceMin           minimum (selects a value: int8 keeps its input's quant params)
    ArgMax, ArgMin      the index (int64) of the first (select_last_index: last) extreme along `axis`
    CumSum(axis, exclusive, reverse)
                        y[i] = sum of x[j] for j <= i (exclusive: j < i; reverse: j >= i / j > i)

ReduceL1, ReduceL2, ReduceSumSquare, ReduceLogSumExp, LogSoftmax and Hardmax import as
compositions of these and the elementwise ops (qcomp/frontend/ops_reduce.py).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from .ops_base import Op, broadcast_shapes, same_type
from .ops_compute import _reduce_shape
from .types import DType, IRError, TensorType

COMPARE_MODES = ("eq", "gt", "ge", "lt", "le")
LOGICAL_MODES = ("and", "or", "xor")


def _expect_bool(op: Op, t: TensorType, what: str) -> None:
    if t.dtype is not DType.BOOL:
        raise IRError(f"{op.kind}: {what} must be bool, got {t.dtype.value}")


@dataclass(frozen=True)
class Compare(Op):
    mode: str = "eq"
    arity: ClassVar[int] = 2

    def infer(self, ins):
        if self.mode not in COMPARE_MODES:
            raise IRError(f"Compare: mode {self.mode!r} is not one of {', '.join(COMPARE_MODES)}")
        a, b = ins
        if a.dtype != b.dtype:
            raise IRError(f"Compare: operand dtypes differ ({a.dtype.value} and {b.dtype.value})")
        return [TensorType(broadcast_shapes(a.shape, b.shape), DType.BOOL)]


@dataclass(frozen=True)
class Not(Op):
    def infer(self, ins):
        _expect_bool(self, ins[0], "the input")
        return [same_type(ins[0])]


@dataclass(frozen=True)
class Logical(Op):
    mode: str = "and"
    arity: ClassVar[int] = 2

    def infer(self, ins):
        if self.mode not in LOGICAL_MODES:
            raise IRError(f"Logical: mode {self.mode!r} is not one of {', '.join(LOGICAL_MODES)}")
        for t in ins:
            _expect_bool(self, t, "every operand")
        return [TensorType(broadcast_shapes(ins[0].shape, ins[1].shape), DType.BOOL)]


@dataclass(frozen=True)
class Where(Op):
    arity: ClassVar[int] = 3

    def infer(self, ins):
        c, x, y = ins
        _expect_bool(self, c, "the condition (input 0)")
        if x.dtype != y.dtype:
            raise IRError(f"Where: x and y have different dtypes ({x.dtype.value} and {y.dtype.value})")
        return [TensorType(broadcast_shapes(c.shape, x.shape, y.shape), x.dtype)]


@dataclass(frozen=True)
class IsNaN(Op):
    def infer(self, ins):
        if not ins[0].dtype.is_float:
            raise IRError(f"IsNaN: input must be float, got {ins[0].dtype.value}")
        return [TensorType(ins[0].shape, DType.BOOL)]


@dataclass(frozen=True)
class IsInf(Op):
    detect_positive: bool = True
    detect_negative: bool = True

    def infer(self, ins):
        if not ins[0].dtype.is_float:
            raise IRError(f"IsInf: input must be float, got {ins[0].dtype.value}")
        return [TensorType(ins[0].shape, DType.BOOL)]


# ---- reductions -----------------------------------------------------------------------------

@dataclass(frozen=True)
class ReduceSum(Op):
    axes: tuple[int, ...] = ()
    keepdims: bool = True

    def infer(self, ins):
        return _reduce_shape(self, ins[0])


@dataclass(frozen=True)
class ReduceMin(Op):
    axes: tuple[int, ...] = ()
    keepdims: bool = True

    def infer(self, ins):
        return _reduce_shape(self, ins[0])


@dataclass(frozen=True)
class ReduceProd(Op):
    axes: tuple[int, ...] = ()
    keepdims: bool = True

    def infer(self, ins):
        return _reduce_shape(self, ins[0])


class _ArgReduce(Op):
    def infer(self, ins):
        x = ins[0]
        if not 0 <= self.axis < x.rank:
            raise IRError(f"{self.kind}: axis {self.axis} out of range for shape {x.shape}")
        if x.dtype is DType.BOOL:
            raise IRError(f"{self.kind}: input must be numeric, got bool")
        shape = tuple(1 if i == self.axis else d for i, d in enumerate(x.shape)) if self.keepdims \
            else tuple(d for i, d in enumerate(x.shape) if i != self.axis)
        return [TensorType(shape, DType.INT64)]


@dataclass(frozen=True)
class ArgMax(_ArgReduce):
    axis: int = 0
    keepdims: bool = True
    select_last_index: bool = False


@dataclass(frozen=True)
class ArgMin(_ArgReduce):
    axis: int = 0
    keepdims: bool = True
    select_last_index: bool = False


@dataclass(frozen=True)
class CumSum(Op):
    axis: int = 0
    exclusive: bool = False
    reverse: bool = False

    def infer(self, ins):
        if not 0 <= self.axis < ins[0].rank:
            raise IRError(f"CumSum: axis {self.axis} out of range for shape {ins[0].shape}")
        return [same_type(ins[0])]
