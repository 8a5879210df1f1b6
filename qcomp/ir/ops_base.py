"""The base of the IR's ops: the `Op` class and the shape helpers that several op families share.

`Op` is the attribute set of a node; its class is the op. `infer` maps input types to output
types (dtype and shape, no quant params: which quant params an integer value carries is decided
by the quantization passes). The op families live in ops_compute.py, ops_elementwise.py and
ops_movement.py; qcomp.ir.ops gathers them and is the module to import from.
"""
from __future__ import annotations

from dataclasses import fields
from typing import ClassVar

import numpy as np

from .types import IRError, TensorType

Types = list[TensorType]


class Op:
    """Base of all ops. `arity` is the exact input count, or None for variadic ops."""
    arity: ClassVar[int | None] = 1
    num_outputs: ClassVar[int] = 1

    @property
    def kind(self) -> str:
        return type(self).__name__

    def infer(self, ins: Types) -> Types:
        raise NotImplementedError(f"{self.kind} has no type inference")

    def attrs(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}  # type: ignore[arg-type]


def same_type(t: TensorType) -> TensorType:
    """The input's shape and dtype without its quant params (the result type of a shape-keeping op)."""
    return TensorType(t.shape, t.dtype)


def broadcast_shapes(*shapes: tuple[int, ...]) -> tuple[int, ...]:
    try:
        return tuple(np.broadcast_shapes(*shapes))
    except ValueError:
        raise IRError(f"shapes {' and '.join(str(s) for s in shapes)} do not broadcast") from None


def window_out(size: int, k: int, stride: int, dilation: int, pad_begin: int, pad_end: int,
               ceil_mode: bool = False) -> int:
    """Output length of a sliding window (ONNX convention, also for ceil_mode)."""
    eff = dilation * (k - 1) + 1
    span = size + pad_begin + pad_end - eff
    if span < 0:
        raise IRError(f"window of effective size {eff} does not fit input {size} padded by "
                      f"{pad_begin}+{pad_end}")
    n = (-(-span // stride) if ceil_mode else span // stride) + 1
    if ceil_mode and (n - 1) * stride >= size + pad_begin:
        n -= 1  # the last window must start inside the input or the leading pad
    return n


def expect_rank(t: TensorType, rank: int, what: str) -> None:
    if t.rank != rank:
        raise IRError(f"{what} must have rank {rank}, got shape {t.shape}")
