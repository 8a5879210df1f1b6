"""Transpose as row copies (any dtype: values move unchanged, as bytes), threaded over output rows.

The output [d_0, ..., d_{r-1}] = x.transpose(perm) is walked row by row (a row: the last output axis,
`inner` = d_{r-1} elements). Output row i starts at source element base[i] (a build-time table: the
source index of the row's first element) and its elements lie `stride` = the source stride of axis
perm[-1] apart:

    y[i * inner + j] = x[base[i] + j * stride]          i < rows = d_0 * ... * d_{r-2}, j < inner

Where the permutation keeps the last axis (stride 1: attention's head split [B, S, H, D] -> [B, H, S, D]
and its inverse) a row is one contiguous block of inner * itemsize bytes: a memcpy of a constant
length, which LLVM emits as a few vector moves. Otherwise (Q K^T's [B, S, H, D] -> [B, H, D, S]) each
row is a strided gather of scalar loads. Both replace kernels_elem.emit_movement's form, which reads
a build-time int32 source index per element (a table of the output's size) and tests it for padding.
Rows split into jobs of at least MIN_JOB_ELEMS elements (kernels_float_vec._row_jobs); a transpose
of fewer than MIN_ELEMS elements, or of rows of one element, keeps emit_movement's loop.
"""
from __future__ import annotations

import numpy as np

from ...ir import Node
from .irgen import I32, c64, int_type, load, load_i64, loop, memcpy, store
from .kernels_depthwise import _ptr
from .kernels_elem import emit_movement
from .kernels_float_vec import _row_jobs, _rows

MIN_ELEMS = 256


def transpose_plan(shape: tuple[int, ...], perm: tuple[int, ...]) -> tuple[np.ndarray, int, int]:
    """(base[rows] int64: each output row's first source element, inner, stride) of x.transpose(perm)."""
    src = np.arange(int(np.prod(shape, dtype=np.int64)), dtype=np.int64).reshape(shape).transpose(perm)
    strides = np.cumprod((1,) + tuple(shape[:0:-1]))[::-1]          # elements, C order
    inner = src.shape[-1] if src.ndim else 1
    return src.reshape(-1, inner)[:, 0].copy(), inner, int(strides[perm[-1]]) if src.ndim else 1


def emit_transpose(node: Node, k) -> None:
    t = k.graph.types[node.inputs[0]]
    if t.size < MIN_ELEMS or t.rank < 2:
        return emit_movement(node, k)
    base, inner, stride = transpose_plan(t.shape, node.op.perm)
    if inner == 1:
        return emit_movement(node, k)
    size = t.dtype.itemsize
    et = int_type(size)
    base_g = k.mod.table(base.astype(np.int32), "transpose_base")     # < 2^31 elements (tables._i32's limit)

    def body(b, ins, outs, r0, r1):
        with _rows(b, r0, r1) as r:
            src_row = load_i64(b, base_g, r, I32)
            dst = _ptr(b, outs[0], b.mul(r, c64(inner * size)))
            if stride == 1:
                memcpy(k.mod, b, dst, _ptr(b, ins[0], b.mul(src_row, c64(size))), inner * size)
            else:
                with loop(b, inner, "j") as j:
                    store(b, load(b, ins[0], b.add(src_row, b.mul(j, c64(stride))), et), dst, j, et)
    _row_jobs(k, len(base), inner, "transpose_job", body)
