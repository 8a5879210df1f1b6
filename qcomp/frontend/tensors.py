"""Reading an ONNX TensorProto (initializer or Constant value) into numpy, safely.

A corrupt or hand-edited file can declare dims that its data does not fill (raw_data of 3 bytes for
4 floats), negative dims, dims of 2**40 elements, or an element type ONNX does not define. Each is
caught here, before numpy allocates anything, with a reason in qcomp's words: the element count
prod(dims) must match the data the file holds (raw_data bytes = count * item size, packed 4-bit
types 2 per byte; or that many entries of the typed field), so what is allocated is bounded by the
size of the file. The reason is raised as `Unsupported`; the caller says which tensor it is.
"""
from __future__ import annotations

import math

import numpy as np
import onnx
from onnx import helper, numpy_helper

from .context import Unsupported

_PACKED = {onnx.TensorProto.INT4: 2, onnx.TensorProto.UINT4: 2}     # elements per byte
for _n, _per in (("FLOAT4E2M1", 2), ("INT2", 4), ("UINT2", 4)):
    if hasattr(onnx.TensorProto, _n):
        _PACKED[getattr(onnx.TensorProto, _n)] = _per
_PAIRS = (onnx.TensorProto.COMPLEX64, onnx.TensorProto.COMPLEX128)  # two field entries per element
_UNREADABLE = {onnx.TensorProto.STRING: "strings"}
for _n in ("FLOAT6E2M3", "FLOAT6E3M2"):   # no byte-aligned storage qcomp can check
    if hasattr(onnx.TensorProto, _n):
        _UNREADABLE[getattr(onnx.TensorProto, _n)] = _n.lower()


def elem_type_name(elem_type: int) -> str:
    values = onnx.TensorProto.DataType.values()
    return onnx.TensorProto.DataType.Name(elem_type) if elem_type in values else f"{elem_type} (not an ONNX type)"


def to_array(t: onnx.TensorProto) -> np.ndarray:
    """The tensor's value; Unsupported with the reason when the tensor is malformed."""
    if t.data_type in _UNREADABLE:
        raise Unsupported(f"holds {_UNREADABLE[t.data_type]}, which qcomp does not import")
    try:
        np_dtype = helper.tensor_dtype_to_np_dtype(t.data_type)
        field = helper.tensor_dtype_to_field(t.data_type)
    except (KeyError, ValueError, TypeError):
        raise Unsupported(f"has element type {elem_type_name(t.data_type)}, which ONNX does not define "
                          f"for tensors; the file is corrupt") from None
    dims = tuple(int(d) for d in t.dims)
    if any(d < 0 for d in dims):
        raise Unsupported(f"has a negative dimension in its shape {dims}; the file is corrupt")
    count = math.prod(dims)
    if t.data_location == onnx.TensorProto.EXTERNAL:
        raise Unsupported("keeps its data in an external file that is not loaded")
    per_byte = _PACKED.get(t.data_type)
    if t.HasField("raw_data"):
        want = -(-count // per_byte) if per_byte else count * np.dtype(np_dtype).itemsize
        have, unit = len(t.raw_data), "bytes"
    else:
        want = -(-count // per_byte) if per_byte else count * (2 if t.data_type in _PAIRS else 1)
        have, unit = len(getattr(t, field)), f"entries in {field}"
    if have != want:
        raise Unsupported(f"declares shape {dims} of {elem_type_name(t.data_type)} ({want:,} {unit}) but "
                          f"holds {have:,} {unit}; the file is corrupt or truncated")
    try:
        return numpy_helper.to_array(t)
    except Exception:  # noqa: BLE001 - the checks above leave only encodings onnx cannot convert
        raise Unsupported(f"of element type {elem_type_name(t.data_type)} and shape {dims} cannot be "
                          f"decoded; the file is corrupt") from None
