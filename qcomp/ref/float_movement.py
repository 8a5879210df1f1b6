"""Kernels of the data-movement ops: Concat, Reshape, Transpose, Pad, Slice, Split, Gather.

They move values without arithmetic, so they serve every dtype. Results are contiguous arrays
(except Reshape, a free view of a contiguous input), so later kernels read memory in order.

    Pad     pads = (begin_0..begin_{r-1}, end_0..end_{r-1}); "constant" fills `value` (in x's dtype),
            "reflect" mirrors without repeating the edge (ONNX = numpy "reflect"), "edge" repeats it.
    Slice   Python slice semantics per axis: x[s0:e0:st0, s1:e1:st1, ...].
    Split   consecutive pieces of `sizes` along `axis`.
    Gather  numpy.take(data, indices, axis); indices in [-d, d), negative ones count from the end
            (ONNX); an index outside is an InputError naming it.
"""
from __future__ import annotations

import numpy as np

from ..errors import InputError
from ..ir.ops import Concat, Gather, Pad, Reshape, Slice, Split, Transpose


def concat(op: Concat, *xs: np.ndarray) -> np.ndarray:
    return np.concatenate(xs, axis=op.axis)


def reshape(op: Reshape, x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(x).reshape(op.shape)


def transpose(op: Transpose, x: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(np.transpose(x, op.perm))


def pad(op: Pad, x: np.ndarray) -> np.ndarray:
    r = x.ndim
    widths = [(op.pads[i], op.pads[i + r]) for i in range(r)]
    if op.mode == "constant":
        return np.pad(x, widths, mode="constant", constant_values=np.array(op.value).astype(x.dtype))
    return np.pad(x, widths, mode=op.mode)


def slice_(op: Slice, x: np.ndarray) -> np.ndarray:
    index = tuple(slice(s, e, st) for s, e, st in zip(op.starts, op.ends, op.steps))
    return np.ascontiguousarray(x[index])


def split(op: Split, x: np.ndarray) -> list[np.ndarray]:
    bounds = np.cumsum(op.sizes)[:-1]
    return [np.ascontiguousarray(p) for p in np.split(x, bounds, axis=op.axis)]


def gather(op: Gather, data: np.ndarray, indices: np.ndarray) -> np.ndarray:
    d = data.shape[op.axis]
    if indices.size and (indices.min() < -d or indices.max() >= d):
        bad = indices[(indices < -d) | (indices >= d)].reshape(-1)[0]
        raise InputError(f"index {int(bad)} is out of range for axis {op.axis} of size {d} "
                         f"(valid: {-d} to {d - 1}); check the token ids or indices given")
    return np.take(data, indices, axis=op.axis)


TABLE = {Concat: concat, Reshape: reshape, Transpose: transpose, Pad: pad, Slice: slice_, Split: split,
         Gather: gather}
