"""Data-movement ops of the IR: concatenation, reshapes, transposes, padding, slicing, resizing, gathers.

They compute no new values, so they are type-generic: the same op runs on float32 and, in the
integer stages, on int8 with the input's quant params (see qcomp.ir.qops).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from .ops_base import Op
from .types import DType, IRError, TensorType


# ---- data movement --------------------------------------------------------------------------

@dataclass(frozen=True)
class Concat(Op):
    axis: int = 0
    arity: ClassVar[None] = None

    def infer(self, ins):
        first = ins[0]
        if not 0 <= self.axis < first.rank:
            raise IRError(f"Concat: axis {self.axis} out of range for shape {first.shape}")
        total = 0
        for t in ins:
            if t.rank != first.rank or any(a != b for i, (a, b) in enumerate(zip(t.shape, first.shape))
                                           if i != self.axis):
                raise IRError(f"Concat: shapes {[x.shape for x in ins]} differ outside axis {self.axis}")
            total += t.shape[self.axis]
        shape = list(first.shape)
        shape[self.axis] = total
        return [TensorType(tuple(shape), first.dtype)]


@dataclass(frozen=True)
class Reshape(Op):
    """Row-major reshape to a static shape."""
    shape: tuple[int, ...] = ()

    def infer(self, ins):
        if int(np.prod(self.shape, dtype=np.int64)) != ins[0].size:
            raise IRError(f"Reshape: cannot reshape {ins[0].shape} ({ins[0].size} elements) to {self.shape}")
        return [TensorType(self.shape, ins[0].dtype)]


@dataclass(frozen=True)
class Transpose(Op):
    """y.shape[i] = x.shape[perm[i]]"""
    perm: tuple[int, ...] = ()

    def infer(self, ins):
        x = ins[0]
        if sorted(self.perm) != list(range(x.rank)):
            raise IRError(f"Transpose: perm {self.perm} is not a permutation of rank {x.rank}")
        return [TensorType(tuple(x.shape[p] for p in self.perm), x.dtype)]


@dataclass(frozen=True)
class Pad(Op):
    """pads = (begin_0, ..., begin_{r-1}, end_0, ..., end_{r-1}), non-negative.
    mode: "constant" (with value), "reflect" or "edge"."""
    pads: tuple[int, ...] = ()
    mode: str = "constant"
    value: float = 0.0

    def infer(self, ins):
        x = ins[0]
        r = x.rank
        if len(self.pads) != 2 * r or any(p < 0 for p in self.pads):
            raise IRError(f"Pad: pads {self.pads} invalid for rank {r} (need {2 * r} non-negative ints)")
        if self.mode not in ("constant", "reflect", "edge"):
            raise IRError(f"Pad: unknown mode {self.mode!r}")
        return [TensorType(tuple(d + self.pads[i] + self.pads[i + r] for i, d in enumerate(x.shape)), x.dtype)]


@dataclass(frozen=True)
class Slice(Op):
    """y = x[starts[0]:ends[0]:steps[0], ...], one (start, end, step) per axis, Python slice semantics
    (an end of None runs to the edge in the step's direction)."""
    starts: tuple[int, ...] = ()
    ends: tuple[int | None, ...] = ()
    steps: tuple[int, ...] = ()

    def infer(self, ins):
        x = ins[0]
        if not len(self.starts) == len(self.ends) == len(self.steps) == x.rank:
            raise IRError(f"Slice: needs one start/end/step per axis of {x.shape}")
        shape = tuple(len(range(*slice(s, e, st).indices(d)))
                      for d, s, e, st in zip(x.shape, self.starts, self.ends, self.steps))
        return [TensorType(shape, x.dtype)]


@dataclass(frozen=True)
class Split(Op):
    """Split along axis into pieces of the given sizes (one output each)."""
    axis: int = 0
    sizes: tuple[int, ...] = ()

    @property
    def outputs_count(self) -> int:
        return len(self.sizes)

    def infer(self, ins):
        x = ins[0]
        if not 0 <= self.axis < x.rank or sum(self.sizes) != x.shape[self.axis]:
            raise IRError(f"Split: sizes {self.sizes} along axis {self.axis} do not cover shape {x.shape}")
        outs = []
        for s in self.sizes:
            shape = list(x.shape)
            shape[self.axis] = s
            outs.append(TensorType(tuple(shape), x.dtype))
        return outs


@dataclass(frozen=True)
class Resize(Op):
    """Resize with ONNX semantics for one rank-r tensor in IR layout.
    scales[i] is the coordinate scale of axis i (out / in, as ONNX uses it in the transform),
    sizes the output shape. mode "nearest" or "linear"; coordinate_transformation_mode and
    nearest_mode as ONNX names them."""
    sizes: tuple[int, ...] = ()
    scales: tuple[float, ...] = ()
    mode: str = "nearest"
    coordinate_transformation_mode: str = "half_pixel"
    nearest_mode: str = "round_prefer_floor"

    def infer(self, ins):
        x = ins[0]
        if len(self.sizes) != x.rank or len(self.scales) != x.rank:
            raise IRError(f"Resize: sizes {self.sizes} / scales {self.scales} do not match rank {x.rank}")
        if self.mode not in ("nearest", "linear"):
            raise IRError(f"Resize: mode {self.mode!r} is not supported (nearest, linear)")
        return [TensorType(self.sizes, x.dtype)]


@dataclass(frozen=True)
class Gather(Op):
    """numpy.take(data, indices, axis): inputs data, indices (int32/int64)."""
    axis: int = 0
    arity: ClassVar[int] = 2

    def infer(self, ins):
        d, i = ins
        if not 0 <= self.axis < d.rank:
            raise IRError(f"Gather: axis {self.axis} out of range for shape {d.shape}")
        if i.dtype not in (DType.INT32, DType.INT64):
            raise IRError(f"Gather: indices must be int32 or int64, got {i.dtype.value}")
        return [TensorType(d.shape[:self.axis] + i.shape + d.shape[self.axis + 1:], d.dtype)]
