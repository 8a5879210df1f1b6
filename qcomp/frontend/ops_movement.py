"""Data movement built from Reshape, Transpose and Concat: DepthToSpace, SpaceToDepth, Tile, Expand.

No new IR op: every backend runs these through the IR ops it already has, and every lowering only
moves elements (exact in float and int8, no requantization: Concat of copies of one value keeps its
quant params).

DepthToSpace / SpaceToDepth (block b, rank 4) are computed on the NHWC IR value (the layout the
convolutions around them use), so no layout transpose is added before or after them:

    DCR  DepthToSpace  ONNX channel c = (i*b + j)*C' + c'   (i, j the row/column offset in a block)
         x (N, H, W, b*b*C')  ->  (N*H, W, b, b*C')  -Transpose(0,2,1,3)->  (N*H, b, W, b*C')
                              ->  (N, H*b, W*b, C')
    CRD  DepthToSpace  c = c'*b*b + i*b + j
         x -> (N*H, W, C', b, b)  -Transpose(0,3,1,4,2)->  (N*H, b, W, b, C')  ->  (N, H*b, W*b, C')
    SpaceToDepth       output channel (i*b + j)*C + c (the DCR order), the inverse of DCR:
         x (N, H, W, C) -> (N*H/b, b, W/b, b*C)  -Transpose(0,2,1,3)->  (N*H/b, W/b, b, b*C)
                        -> (N, H/b, W/b, b*b*C)

Tile(x, repeats) is, axis by axis, a Concat of `repeats[a]` copies along axis a (repeats[a] == 0
gives an empty axis, which the IR has no value for: refused). Expand(x, shape) is the same Concat
after x is reshaped to the output rank (leading 1s): each size-1 axis of x that the broadcast
shape widens to n is a Concat of n copies. Both keep x's layout when the rank does not change.
With constant inputs these ops never get here: they fold at import (fold.py), like ConstantOfShape
and Range.
"""
from __future__ import annotations

import numpy as np
import onnx

from ..ir import ops as irops
from . import layout
from .context import Attrs, Context, Unsupported, Val, Value

MAX_COPIES = 4096   # a Concat of more copies than this along one axis is refused (a corrupt repeat count)


# ---- DepthToSpace / SpaceToDepth ----------------------------------------------------------------

def _block(node: onnx.NodeProto) -> int:
    b = Attrs(node).int("blocksize", 0)
    if b < 1:
        raise Unsupported(f"blocksize {b} must be a positive integer")
    return b


def check_depth_to_space(node: onnx.NodeProto, opset: int) -> list[str]:
    mode = Attrs(node).str("mode", "DCR")
    return [] if mode in ("DCR", "CRD") else [f"mode {mode!r} is not one of DCR, CRD"]


def check_space_to_depth(node: onnx.NodeProto, opset: int) -> list[str]:
    """SpaceToDepth has no mode attribute up to opset 21 (its DCR order); mode=CRD came in opset 28."""
    mode = Attrs(node).str("mode", "DCR")
    return [] if mode == "DCR" else [f"mode {mode!r} is not supported: SpaceToDepth of opsets 11 to 21 (what "
                                     f"qcomp imports) has the DCR order only"]


def _rank4(ctx: Context, x: Value, op: str) -> tuple[int, int, int, int]:
    shape = ctx.shape(x)
    if len(shape) != 4:
        raise Unsupported(f"{op} input has shape {shape}; ONNX defines {op} on rank-4 (N, C, H, W) tensors")
    return shape


def _chain(ctx: Context, name: str, steps: list[irops.Op]) -> str:
    for k, op in enumerate(steps):
        last = k == len(steps) - 1
        name = ctx.emit(op, [name], out=ctx.out_name() if last else None,
                        suffix=None if last else f"step{k}")[0]
    return name


def depth_to_space(ctx: Context, node: onnx.NodeProto) -> list[Value]:
    x = ctx.val(ctx.inputs(node)[0])
    n, c, h, w = _rank4(ctx, x, "DepthToSpace")
    b = _block(node)
    if c % (b * b):
        raise Unsupported(f"channels {c} are not a multiple of blocksize^2 = {b * b}")
    cc = c // (b * b)
    if Attrs(node).str("mode", "DCR") == "DCR":
        steps = [irops.Reshape((n * h, w, b, b * cc)), irops.Transpose((0, 2, 1, 3))]
    else:
        steps = [irops.Reshape((n * h, w, cc, b, b)), irops.Transpose((0, 3, 1, 4, 2))]
    steps.append(irops.Reshape((n, h * b, w * b, cc)))
    return [Val(_chain(ctx, ctx.nhwc(x), steps), layout.NHWC)]


def space_to_depth(ctx: Context, node: onnx.NodeProto) -> list[Value]:
    x = ctx.val(ctx.inputs(node)[0])
    n, c, h, w = _rank4(ctx, x, "SpaceToDepth")
    b = _block(node)
    if h % b or w % b:
        raise Unsupported(f"height {h} and width {w} must be multiples of blocksize {b}")
    steps = [irops.Reshape((n * h // b, b, w // b, b * c)), irops.Transpose((0, 2, 1, 3)),
             irops.Reshape((n, h // b, w // b, b * b * c))]
    return [Val(_chain(ctx, ctx.nhwc(x), steps), layout.NHWC)]


# ---- Tile / Expand ------------------------------------------------------------------------------

def _repeat(ctx: Context, x: Val, repeats: tuple[int, ...], what: str) -> Val:
    """x with ONNX axis a repeated repeats[a] times (a Concat of copies per axis, x's layout kept)."""
    axes = [a for a, r in enumerate(repeats) if r != 1]
    for a in axes:
        if repeats[a] < 1 or repeats[a] > MAX_COPIES:
            raise Unsupported(f"{what} asks for {repeats[a]} copies along axis {a}; qcomp supports 1 to "
                              f"{MAX_COPIES} (an empty result has no IR value)")
    name = x.name
    for k, a in enumerate(axes):
        last = k == len(axes) - 1
        name = ctx.emit(irops.Concat(x.perm.index(a)), [name] * repeats[a],
                        out=ctx.out_name() if last else None, suffix=None if last else f"axis{a}")[0]
    return Val(name, x.perm)


def _int_input(ctx: Context, v: Value | None, what: str) -> tuple[int, ...]:
    arr = ctx.const(v, what)
    if not np.issubdtype(arr.dtype, np.integer):
        raise Unsupported(f"{what} is {arr.dtype}; ONNX defines it as int64")
    return tuple(int(d) for d in arr.reshape(-1))


def tile(ctx: Context, node: onnx.NodeProto) -> list[Value]:
    ins = ctx.inputs(node)
    x = ctx.val(ins[0])
    repeats = _int_input(ctx, ins[1], "repeats (input 1)")
    if len(repeats) != ctx.rank(x):
        raise Unsupported(f"repeats {list(repeats)} must have one entry per axis of the input {ctx.shape(x)}")
    return [_repeat(ctx, x, repeats, "repeats")]


def expand(ctx: Context, node: onnx.NodeProto) -> list[Value]:
    ins = ctx.inputs(node)
    x = ctx.val(ins[0])
    target = _int_input(ctx, ins[1], "shape (input 1)")
    src = ctx.shape(x)
    r = max(len(src), len(target))
    s = (1,) * (r - len(src)) + tuple(src)
    t = (1,) * (r - len(target)) + target
    if any(a != b and a != 1 and b != 1 for a, b in zip(s, t)) or min(t, default=1) < 0:
        raise Unsupported(f"shape {list(target)} does not broadcast with the input shape {src}")
    if 0 in s or 0 in t:
        raise Unsupported(f"Expand of {src} to {list(target)} would be empty; qcomp has no empty tensors")
    if r != len(src):
        x = Val(ctx.reshaped(x, s, suffix="rank"), layout.identity(r))
    repeats = tuple(b if a == 1 else 1 for a, b in zip(s, t))
    return [_repeat(ctx, x, repeats, "the broadcast")]


CONVERTERS = {"DepthToSpace": depth_to_space, "SpaceToDepth": space_to_depth, "Tile": tile, "Expand": expand}
CHECKS = {"DepthToSpace": check_depth_to_space, "SpaceToDepth": check_space_to_depth}
