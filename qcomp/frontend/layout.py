"""Layout permutations: how an IR value holds the data of an ONNX value.

The importer pairs every ONNX value with an IR value and a permutation `perm`:

    ir_shape[i] == onnx_shape[perm[i]]          ir = numpy.transpose(onnx, perm)

The identity is "ONNX layout". Channels-last for rank r is (0, 2, 3, ..., r-1, 1), which for
rank 4 is NHWC = (0, 2, 3, 1): where layout-sensitive ops (convolutions, pools, BatchNorm) want
their input. Every other op either passes the permutation through (elementwise ops), rewrites its
axis attributes through it (Concat, Softmax, Slice, ...), or asks for ONNX layout first.

Going from layout p to layout q is a Transpose of the IR value by

    t[j] = inverse(p)[q[j]]                     (ir_q = numpy.transpose(ir_p, t))

and when that transpose only moves dims of size 1, the element order in memory does not change,
so a (free) Reshape does the same job.
"""
from __future__ import annotations

Perm = tuple[int, ...]


def identity(rank: int) -> Perm:
    return tuple(range(rank))


def is_identity(perm: Perm) -> bool:
    return all(i == p for i, p in enumerate(perm))


def channels_last(rank: int) -> Perm:
    """(0, 2, ..., rank-1, 1): the channel axis 1 of ONNX moved last (NHWC for rank 4)."""
    if rank < 2:
        return identity(rank)
    return (0,) + tuple(range(2, rank)) + (1,)


NHWC: Perm = channels_last(4)


def inverse(perm: Perm) -> Perm:
    inv = [0] * len(perm)
    for i, p in enumerate(perm):
        inv[p] = i
    return tuple(inv)


def transpose_between(src: Perm, dst: Perm) -> Perm:
    """The Transpose perm that takes an IR value in layout `src` to layout `dst`."""
    inv = inverse(src)
    return tuple(inv[d] for d in dst)


def ir_shape(onnx_shape: tuple[int, ...], perm: Perm) -> tuple[int, ...]:
    return tuple(onnx_shape[p] for p in perm)


def onnx_shape(ir_shape_: tuple[int, ...], perm: Perm) -> tuple[int, ...]:
    return tuple(ir_shape_[i] for i in inverse(perm))


def ir_axis(onnx_axis: int, perm: Perm) -> int:
    """Where ONNX axis `onnx_axis` (already non-negative) sits in the IR value."""
    return perm.index(onnx_axis)


def only_moves_unit_dims(shape: tuple[int, ...], t: Perm) -> bool:
    """True when transposing `shape` by `t` keeps the order of its non-1 dims (a pure reshape)."""
    moved = [a for a in t if shape[a] != 1]
    return moved == sorted(moved)


def drop_axes(perm: Perm, onnx_axes: set[int]) -> Perm:
    """The layout left after removing ONNX axes `onnx_axes` (a reduction without keepdims):
    the surviving IR axes keep their order, their ONNX axes are renumbered."""
    kept = sorted(set(perm) - onnx_axes)
    renumber = {a: k for k, a in enumerate(kept)}
    return tuple(renumber[p] for p in perm if p not in onnx_axes)


def normalize_axis(axis: int, rank: int, what: str) -> int:
    a = axis + rank if axis < 0 else axis
    if not 0 <= a < rank:
        raise ValueError(f"{what} {axis} is out of range for rank {rank}")
    return a
