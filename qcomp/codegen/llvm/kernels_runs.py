"""Gathers that move whole runs: a movement op whose gather map reads consecutive inputs in runs.

tables.gather_map gives, per output element i, the input element idx[i] it copies. Where the
output splits into runs of L elements (L the product of some trailing output extents) and each
run reads L consecutive inputs,

  idx[r * L + j] == idx[r * L] + j        for every run r and j < L    (no -1: no padding)

the gather is n / L copies of L * itemsize bytes from a table of n / L run starts, instead of n
loads of an index, a compare and an element copy. This is the case of every Transpose that keeps
its innermost axes in place (attention's head split and merge, perm (0, 2, 1, 3): runs of the
head size), of a Slice or Split of outer axes and of a constant Gather of rows. The bytes moved
are the same, so the result is identical; a map with any -1 (Pad) or runs of one element keeps
the element loop of kernels_elem.emit_movement, except a Transpose:

A Transpose that moves the innermost axis (attention's K^T, perm (0, 2, 3, 1); a CNN's NCHW <->
NHWC at the boundary) needs no table either. Its axes are reduced first: axes of extent 1 dropped,
and axes that stay neighbours in the same order merged (x [1, 128, 12, 32], perm (0, 2, 3, 1) is
the 2-D transpose of [128, 384]); then a loop nest over the output's axes, the innermost writing
consecutive outputs, reads

  out[o_0, ..., o_{r-1}] = in[sum_i o_i * stride[perm[i]]]     stride: the reduced input's C-order strides

with every stride a constant: one load and one store per element, no index loaded, no compare.
"""
from __future__ import annotations

import numpy as np

from ...ir import ops
from .irgen import I32, c64, int_type, load, load_i64, loop, memcpy, store
from .kernels_depthwise import _ptr
from .kernels_parallel import parallel_loop


def run_length(m: np.ndarray, out_shape: tuple[int, ...]) -> int:
    """The largest run length L >= 2 (a product of trailing extents of out_shape) for which the
    map m (flat, C order) reads each run of L outputs from L consecutive inputs; 1 when none."""
    if m.size == 0 or int(m.min()) < 0:
        return 1
    for axis in range(len(out_shape)):
        length = int(np.prod(out_shape[axis:], dtype=np.int64))
        if length < 2 or m.size % length:
            continue
        runs = m.reshape(-1, length).astype(np.int64)
        if np.array_equal(runs, runs[:, :1] + np.arange(length, dtype=np.int64)):
            return length
    return 1


def emit_without_table(k, op, index: int, m: np.ndarray, in_shape: tuple[int, ...], out_shape: tuple[int, ...],
                       itemsize: int) -> bool:
    """Emit output `index`'s gather of map m (from k.ins[0]) as run copies, or a Transpose as its loop
    nest; False: neither applies."""
    if emit_runs(k, k.outs[index], k.ins[0], m, out_shape, itemsize):
        return True
    if isinstance(op, ops.Transpose):
        emit_transpose_loops(k, index, in_shape, op.perm, itemsize)
        return True
    return False


def reduce_transpose(shape: tuple[int, ...], perm: tuple[int, ...]) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """(shape', perm') with the same element order: extent-1 axes dropped, axes that stay adjacent
    and in order merged. x.transpose(perm).ravel() == x.reshape(shape').transpose(perm').ravel()."""
    keep = [a for a in perm if shape[a] != 1]
    rank = {a: i for i, a in enumerate(sorted(keep))}
    p = [rank[a] for a in keep]
    s = [shape[a] for a in sorted(keep)]
    groups: list[list[int]] = []               # input axes, grouped as the output reads them
    for a in p:
        if groups and groups[-1][-1] + 1 == a:
            groups[-1].append(a)
        else:
            groups.append([a])
    order = sorted(range(len(groups)), key=lambda g: groups[g][0])   # merged input axes, in input order
    merged_shape = tuple(int(np.prod([s[a] for a in groups[g]], dtype=np.int64)) for g in order)
    position = {g: i for i, g in enumerate(order)}
    return merged_shape, tuple(position[g] for g in range(len(groups)))


def emit_transpose_loops(k, index: int, in_shape: tuple[int, ...], perm: tuple[int, ...], itemsize: int) -> None:
    """k.outs[index] = transpose(k.ins[0], perm) by a loop nest with constant strides (module
    docstring); the outermost loop in jobs of the thread pool where the copy pays for a fork
    (kernels_parallel.parallel_loop: a load and a store per element, about 1 unit)."""
    et = int_type(itemsize)
    shape, p = reduce_transpose(in_shape, perm)
    strides = [int(np.prod(shape[i + 1:], dtype=np.int64)) for i in range(len(shape))]
    out_shape = [shape[a] for a in p]

    def nest(axis: int, in_at, out_at) -> None:
        b = k.b   # the node's function or a job's (parallel_loop)
        if axis == len(p):
            store(b, load(b, k.ins[0], in_at, et), k.outs[index], out_at, et)
            return
        with loop(b, out_shape[axis], f"t{axis}") as i:
            nest(axis + 1, b.add(in_at, b.mul(i, c64(strides[p[axis]]))), b.add(b.mul(out_at, c64(out_shape[axis])), i))
    if not p:
        nest(0, c64(0), c64(0))
        return
    inner = int(np.prod(out_shape[1:], dtype=np.int64))
    parallel_loop(k, out_shape[0], max(inner, 1),
                  lambda i: nest(1, k.b.mul(i, c64(strides[p[0]])), i), "t0")


def emit_runs(k, out, src, m: np.ndarray, out_shape: tuple[int, ...], itemsize: int) -> bool:
    """Copy `out` from `src` run by run when the map allows it (module docstring); False otherwise."""
    length = run_length(m, out_shape)
    if length == 1:
        return False
    b = k.b
    starts = m.reshape(-1, length)[:, 0].astype(np.int32)
    nbytes = length * itemsize
    if starts.size == 1:
        memcpy(k.mod, b, out, _ptr(b, src, int(starts[0]) * itemsize), nbytes)
        return True
    starts_g = k.mod.table(starts, "runs")
    with loop(b, starts.size, "run") as r:
        at = b.mul(load_i64(b, starts_g, r, I32), c64(itemsize))
        memcpy(k.mod, b, _ptr(b, out, b.mul(r, c64(nbytes))), _ptr(b, src, at), nbytes)
    return True
