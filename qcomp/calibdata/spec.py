"""The model inputs calibration data must match, and the checks and casts every sample goes through.

Casts allowed (anything else is an `InputError` naming the input, the expected shape and dtype,
and what was found): float to float (float64 data for a float32 input), int to int when no
value can change (numpy's "safe" casting), bool to bool. A sample may have the input's shape
or, when the input's batch is 1, the shape without it.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from ..errors import InputError


@dataclass(frozen=True)
class InputSpec:
    """One model input: its name, shape (batch included) and dtype."""
    name: str
    shape: tuple[int, ...]
    dtype: np.dtype

    @staticmethod
    def make(name: str, shape, dtype) -> "InputSpec":
        shape = tuple(int(d) for d in shape)
        if any(d <= 0 for d in shape):
            raise InputError(f"model input {name!r} has shape {shape} with unknown or zero dimensions; "
                             f"fix them (for example with --input-shape {name}=1,3,224,224) before calibrating")
        try:
            dt = np.dtype(dtype)
        except TypeError:
            raise InputError(f"model input {name!r} has dtype {dtype!r}, which is not a numpy dtype") from None
        return InputSpec(name, shape, dt)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def nbytes(self) -> int:
        return self.size * self.dtype.itemsize

    def describe(self) -> str:
        return f"{self.name!r} (shape {self.shape}, dtype {self.dtype})"


# (feeds of one sample keyed by input name, where the sample came from) for the given indices
Reader = Callable[[tuple[int, ...]], Iterator[tuple[dict[str, np.ndarray], str]]]


def _no_check(i: int) -> None:
    return None


@dataclass(frozen=True)
class Samples:
    """The samples of one calibration source: how many, how to read some of them (ascending
    indices, one sample at a time), and a cheap check of one sample's metadata."""
    format: str
    count: int
    read: Reader
    check: Callable[[int], None] = _no_check


def _castable(found: np.dtype, expected: np.dtype) -> bool:
    if found == expected or (found.kind == "f" and expected.kind == "f"):
        return True
    if found.kind in "iu" and expected.kind in "iu":
        return bool(np.can_cast(found, expected, "safe"))
    return found.kind == expected.kind == "b"


def check_meta(spec: InputSpec, shape: tuple[int, ...], dtype: np.dtype, where: str) -> None:
    """Raise unless data of `shape` and `dtype` (found at `where`) can be one sample of `spec`."""
    batch1 = spec.shape[:1] == (1,)
    if not (shape == spec.shape or (batch1 and shape == spec.shape[1:])):
        also = f" or {spec.shape[1:]}" if batch1 else ""
        raise InputError(f"calibration input {spec.describe()}: {where} has shape {shape}; one sample "
                         f"must have shape {spec.shape}{also}")
    if not _castable(np.dtype(dtype), spec.dtype):
        hint = ("integer data for a float input: convert it with your preprocessing first, or give "
                "images" if np.dtype(dtype).kind in "iub" and spec.dtype.kind == "f"
                else f"convert it to {spec.dtype}")
        raise InputError(f"calibration input {spec.describe()}: {where} has dtype {np.dtype(dtype)}; {hint}")


def conform(spec: InputSpec, array: np.ndarray, where: str) -> np.ndarray:
    """One sample of `spec`: checked (shape, dtype, NaN and Inf), reshaped and cast; a fresh array."""
    a = np.asarray(array)
    check_meta(spec, a.shape, a.dtype, where)
    if a.dtype.kind == "f" and not np.isfinite(a).all():
        bad = "NaN" if np.isnan(a).any() else "Inf"
        raise InputError(f"calibration input {spec.describe()}: {where} has {bad} values; calibration "
                         f"needs finite data")
    with np.errstate(over="ignore"):               # reported below, by the input's name
        out = np.array(a.reshape(spec.shape), dtype=spec.dtype)
    if out.dtype.kind == "f" and not np.isfinite(out).all():
        raise InputError(f"calibration input {spec.describe()}: {where} has values too large for "
                         f"{spec.dtype}")
    return out
