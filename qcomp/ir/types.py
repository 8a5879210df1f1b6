"""Element types, quantization parameters and tensor types of the qcomp IR.

Every value in a graph has a `TensorType(shape, dtype, quant)`. `quant` is None for float
values and a `QuantParams` for integer values of the quantized region:

    real = (q - zero_point) * scale           (per tensor: axis None, one scale)
                                              (per channel: scale[c] along `axis`)

Shapes are static tuples of positive ints: the frontend resolves every dynamic dimension
(with `--input-shape`) before a graph exists.
"""
from __future__ import annotations

import enum
from dataclasses import dataclass, field

import numpy as np

from ..errors import QcompError


class IRError(QcompError, ValueError):
    """A graph, op or type breaks an invariant of the IR. The message names the node."""


class DType(enum.Enum):
    FLOAT32 = "f32"
    FLOAT16 = "f16"
    INT8 = "i8"
    UINT8 = "u8"
    INT16 = "i16"
    INT32 = "i32"
    INT64 = "i64"
    BOOL = "bool"

    @property
    def np(self) -> np.dtype:
        return np.dtype(_NUMPY[self])

    @property
    def is_float(self) -> bool:
        return self in (DType.FLOAT32, DType.FLOAT16)

    @property
    def itemsize(self) -> int:
        return self.np.itemsize

    @property
    def qrange(self) -> tuple[int, int]:
        """The integer range [qmin, qmax] of an integer dtype."""
        if self.is_float or self is DType.BOOL:
            raise IRError(f"dtype {self.value} has no integer range")
        info = np.iinfo(self.np)
        return int(info.min), int(info.max)

    @staticmethod
    def from_numpy(dt: np.dtype) -> "DType":
        dt = np.dtype(dt)
        for k, v in _NUMPY.items():
            if np.dtype(v) == dt:
                return k
        raise IRError(f"numpy dtype {dt} has no qcomp IR dtype")


_NUMPY = {
    DType.FLOAT32: "float32", DType.FLOAT16: "float16", DType.INT8: "int8", DType.UINT8: "uint8",
    DType.INT16: "int16", DType.INT32: "int32", DType.INT64: "int64", DType.BOOL: "bool",
}


@dataclass(frozen=True, eq=False)
class QuantParams:
    """Affine quantization: real = (q - zero_point) * scale.

    scale: float32[n] (n == 1 per tensor, n == channels per channel), every entry >= 0 and finite
           (a scale of 0 marks an all-zero tensor).
    zero_point: int32[n], same length as scale.
    axis: None per tensor, else the channel axis of the tensor (non-negative).
    """
    scale: np.ndarray
    zero_point: np.ndarray
    axis: int | None = None

    def __post_init__(self):
        scale = np.atleast_1d(np.asarray(self.scale, dtype=np.float32)).copy()
        zp = np.atleast_1d(np.asarray(self.zero_point)).copy()
        if scale.ndim != 1 or zp.ndim != 1:
            raise IRError(f"quant params must be 1-D, got scale {scale.shape}, zero_point {zp.shape}")
        if zp.size == 1 and scale.size > 1:
            zp = np.full(scale.shape, zp[0])
        if scale.shape != zp.shape:
            raise IRError(f"scale has {scale.size} entries but zero_point has {zp.size}")
        if not np.all(np.isfinite(scale)) or np.any(scale < 0):
            raise IRError(f"scales must be finite and >= 0, got {scale[:8]}")
        if np.any(zp != np.round(zp)):
            raise IRError("zero points must be integers")
        if self.axis is None and scale.size != 1:
            raise IRError(f"per-tensor quant params need one scale, got {scale.size} (set axis)")
        if self.axis is not None and self.axis < 0:
            raise IRError(f"quant axis must be non-negative, got {self.axis}")
        scale.flags.writeable = False
        zp = zp.astype(np.int32)
        zp.flags.writeable = False
        object.__setattr__(self, "scale", scale)
        object.__setattr__(self, "zero_point", zp)

    @property
    def per_channel(self) -> bool:
        return self.axis is not None

    def __eq__(self, other) -> bool:
        return (isinstance(other, QuantParams) and self.axis == other.axis
                and np.array_equal(self.scale, other.scale)
                and np.array_equal(self.zero_point, other.zero_point))

    def __hash__(self) -> int:
        return hash((self.axis, self.scale.tobytes(), self.zero_point.tobytes()))

    def __repr__(self) -> str:
        if self.axis is None:
            return f"q(scale={float(self.scale[0]):.6g}, zp={int(self.zero_point[0])})"
        return (f"q(axis={self.axis}, n={self.scale.size}, scale=[{float(self.scale.min()):.4g}.."
                f"{float(self.scale.max()):.4g}], zp=[{int(self.zero_point.min())}..{int(self.zero_point.max())}])")


@dataclass(frozen=True)
class TensorType:
    shape: tuple[int, ...]
    dtype: DType
    quant: QuantParams | None = field(default=None)

    def __post_init__(self):
        shape = tuple(int(d) for d in self.shape)
        if any(d < 0 for d in shape):
            raise IRError(f"shape {shape} has a negative dimension")
        object.__setattr__(self, "shape", shape)
        if self.quant is not None:
            if self.dtype.is_float:
                raise IRError(f"a {self.dtype.value} tensor cannot carry quant params")
            q = self.quant
            if q.axis is not None:
                if q.axis >= len(shape):
                    raise IRError(f"quant axis {q.axis} out of range for shape {shape}")
                if q.scale.size != shape[q.axis]:
                    raise IRError(f"per-channel quant has {q.scale.size} scales but axis {q.axis} "
                                  f"of shape {shape} has {shape[q.axis]} channels")
            lo, hi = self.dtype.qrange
            if np.any(q.zero_point < lo) or np.any(q.zero_point > hi):
                raise IRError(f"zero point outside [{lo}, {hi}] of {self.dtype.value}")

    @property
    def rank(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def nbytes(self) -> int:
        return self.size * self.dtype.itemsize

    def with_shape(self, shape) -> "TensorType":
        return TensorType(tuple(shape), self.dtype, None if self.quant is None or self.quant.axis is not None
                          else self.quant)

    def __str__(self) -> str:
        s = f"{self.dtype.value}[{'x'.join(str(d) for d in self.shape)}]"
        return s if self.quant is None else f"{s} {self.quant!r}"


def tensor_type_of(array: np.ndarray, quant: QuantParams | None = None) -> TensorType:
    return TensorType(tuple(array.shape), DType.from_numpy(array.dtype), quant)
