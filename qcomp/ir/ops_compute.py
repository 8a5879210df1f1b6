"""Compute ops of the IR: convolutions, matrix products, normalization, pooling and reductions.

The layout (NHWC activations, OHWI weights, pads as (top, left, bottom, right)) and the fused
activation bounds `act_min`/`act_max` are described in qcomp.ir.ops.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from .ops_base import Op, Types, broadcast_shapes, expect_rank, same_type, window_out
from .types import IRError, TensorType


# ---- convolution and matrix products -------------------------------------------------------

@dataclass(frozen=True)
class Conv2D(Op):
    """y[n,oh,ow,o] = b[o] + sum_{kh,kw,c} x[n, oh*sh - pt + kh*dh, ow*sw - pl + kw*dw, g*Cg + c] * w[o,kh,kw,c]
    with g = o // (O/group). Inputs: x[N,H,W,C], w[O,KH,KW,C/group], b[O]."""
    strides: tuple[int, int] = (1, 1)
    pads: tuple[int, int, int, int] = (0, 0, 0, 0)
    dilations: tuple[int, int] = (1, 1)
    group: int = 1
    act_min: float | None = None   # fused activation: y = min(max(y, act_min), act_max)
    act_max: float | None = None
    arity: ClassVar[int] = 3

    def infer(self, ins):
        x, w, b = ins
        expect_rank(x, 4, "Conv2D input"), expect_rank(w, 4, "Conv2D weight")
        n, h, wd, c = x.shape
        o, kh, kw, cg = w.shape
        if c != cg * self.group or o % self.group:
            raise IRError(f"Conv2D: input has {c} channels, weight {w.shape} with group {self.group}")
        if b.shape != (o,):
            raise IRError(f"Conv2D: bias shape {b.shape}, expected ({o},)")
        t, l, bo, r = self.pads
        oh = window_out(h, kh, self.strides[0], self.dilations[0], t, bo)
        ow = window_out(wd, kw, self.strides[1], self.dilations[1], l, r)
        return [TensorType((n, oh, ow, o), x.dtype)]


@dataclass(frozen=True)
class ConvTranspose2D(Op):
    """Transposed convolution (the gradient of Conv2D). Inputs: x[N,H,W,C], w[O,KH,KW,C/group], b[O].
    OH = (H-1)*sh - (pt+pb) + dh*(KH-1) + 1 + output_padding[0]."""
    strides: tuple[int, int] = (1, 1)
    pads: tuple[int, int, int, int] = (0, 0, 0, 0)
    dilations: tuple[int, int] = (1, 1)
    group: int = 1
    output_padding: tuple[int, int] = (0, 0)
    act_min: float | None = None   # fused activation: y = min(max(y, act_min), act_max)
    act_max: float | None = None
    arity: ClassVar[int] = 3

    def infer(self, ins):
        x, w, b = ins
        expect_rank(x, 4, "ConvTranspose2D input"), expect_rank(w, 4, "ConvTranspose2D weight")
        n, h, wd, c = x.shape
        o, kh, kw, cg = w.shape
        if c != cg * self.group or o % self.group:
            raise IRError(f"ConvTranspose2D: input has {c} channels, weight {w.shape} with group {self.group}")
        if b.shape != (o,):
            raise IRError(f"ConvTranspose2D: bias shape {b.shape}, expected ({o},)")
        t, l, bo, r = self.pads
        oh = (h - 1) * self.strides[0] - (t + bo) + self.dilations[0] * (kh - 1) + 1 + self.output_padding[0]
        ow = (wd - 1) * self.strides[1] - (l + r) + self.dilations[1] * (kw - 1) + 1 + self.output_padding[1]
        if oh <= 0 or ow <= 0:
            raise IRError(f"ConvTranspose2D: output size {oh}x{ow} is empty")
        return [TensorType((n, oh, ow, o), x.dtype)]


@dataclass(frozen=True)
class Dense(Op):
    """Fully connected over the last axis: y[..., n] = b[n] + sum_k x[..., k] * w[n, k].
    Inputs: x[..., K], w[N, K], b[N] (TFLite FullyConnected; per-channel quant on w's axis 0)."""
    act_min: float | None = None   # fused activation: y = min(max(y, act_min), act_max)
    act_max: float | None = None
    arity: ClassVar[int] = 3

    def infer(self, ins):
        x, w, b = ins
        expect_rank(w, 2, "Dense weight")
        if x.rank < 1 or x.shape[-1] != w.shape[1]:
            raise IRError(f"Dense: input {x.shape} does not match weight {w.shape} (K = {w.shape[1]})")
        if b.shape != (w.shape[0],):
            raise IRError(f"Dense: bias shape {b.shape}, expected ({w.shape[0]},)")
        return [TensorType(x.shape[:-1] + (w.shape[0],), x.dtype)]


@dataclass(frozen=True)
class MatMul(Op):
    """numpy.matmul of two rank >= 2 tensors, batch dims broadcast."""
    act_min: float | None = None   # fused activation: y = min(max(y, act_min), act_max)
    act_max: float | None = None
    arity: ClassVar[int] = 2

    def infer(self, ins):
        a, b = ins
        if a.rank < 2 or b.rank < 2:
            raise IRError(f"MatMul needs rank >= 2 operands, got {a.shape} and {b.shape}")
        if a.shape[-1] != b.shape[-2]:
            raise IRError(f"MatMul: inner dimensions differ: {a.shape} @ {b.shape}")
        if a.dtype != b.dtype:
            raise IRError(f"MatMul: operand dtypes differ: {a.dtype} @ {b.dtype} (quantized operands go "
                          f"through QMatMul or DynamicMatMul)")
        batch = broadcast_shapes(a.shape[:-2], b.shape[:-2])
        return [TensorType(batch + (a.shape[-2], b.shape[-1]), a.dtype)]


@dataclass(frozen=True)
class BatchNorm(Op):
    """y = (x - mean) / sqrt(var + epsilon) * scale + bias over the last axis.
    Inputs: x[..., C], scale[C], bias[C], mean[C], var[C]."""
    epsilon: float = 1e-5
    arity: ClassVar[int] = 5

    def infer(self, ins):
        x = ins[0]
        for p in ins[1:]:
            if p.shape != (x.shape[-1],):
                raise IRError(f"BatchNorm: parameter shape {p.shape}, expected ({x.shape[-1]},)")
        return [same_type(x)]


# ---- pooling and reductions -----------------------------------------------------------------

def _pool_shape(op, x: TensorType) -> Types:
    expect_rank(x, 4, f"{op.kind} input")
    n, h, w, c = x.shape
    t, l, b, r = op.pads
    oh = window_out(h, op.kernel[0], op.strides[0], op.dilations[0], t, b, op.ceil_mode)
    ow = window_out(w, op.kernel[1], op.strides[1], op.dilations[1], l, r, op.ceil_mode)
    return [TensorType((n, oh, ow, c), x.dtype)]


@dataclass(frozen=True)
class MaxPool2D(Op):
    """NHWC max pooling; padding never wins (acts as -inf)."""
    kernel: tuple[int, int] = (1, 1)
    strides: tuple[int, int] = (1, 1)
    pads: tuple[int, int, int, int] = (0, 0, 0, 0)
    dilations: tuple[int, int] = (1, 1)
    ceil_mode: bool = False

    def infer(self, ins):
        return _pool_shape(self, ins[0])


@dataclass(frozen=True)
class AvgPool2D(Op):
    """NHWC average pooling. count_include_pad counts the explicit pads (never the ceil_mode overhang)."""
    kernel: tuple[int, int] = (1, 1)
    strides: tuple[int, int] = (1, 1)
    pads: tuple[int, int, int, int] = (0, 0, 0, 0)
    ceil_mode: bool = False
    count_include_pad: bool = False
    dilations: tuple[int, int] = (1, 1)

    def infer(self, ins):
        return _pool_shape(self, ins[0])


def _reduce_shape(op, x: TensorType) -> Types:
    if any(a < 0 or a >= x.rank for a in op.axes) or len(set(op.axes)) != len(op.axes):
        raise IRError(f"{op.kind}: axes {op.axes} invalid for shape {x.shape}")
    if op.keepdims:
        shape = tuple(1 if i in op.axes else d for i, d in enumerate(x.shape))
    else:
        shape = tuple(d for i, d in enumerate(x.shape) if i not in op.axes)
    return [TensorType(shape, x.dtype)]


@dataclass(frozen=True)
class ReduceMean(Op):
    axes: tuple[int, ...] = ()
    keepdims: bool = True

    def infer(self, ins):
        return _reduce_shape(self, ins[0])


@dataclass(frozen=True)
class ReduceMax(Op):
    axes: tuple[int, ...] = ()
    keepdims: bool = True

    def infer(self, ins):
        return _reduce_shape(self, ins[0])


@dataclass(frozen=True)
class Softmax(Op):
    """Softmax along one axis."""
    axis: int = -1

    def infer(self, ins):
        if not 0 <= self.axis < ins[0].rank:
            raise IRError(f"Softmax: axis {self.axis} out of range for shape {ins[0].shape}")
        return [same_type(ins[0])]


@dataclass(frozen=True)
class LayerNorm(Op):
    """Normalize over axes [axis, rank): y = (x - mean) / sqrt(var + epsilon) * scale + bias.
    Inputs: x, scale and bias of shape x.shape[axis:]."""
    axis: int = -1
    epsilon: float = 1e-5
    arity: ClassVar[int] = 3

    def infer(self, ins):
        x, s, b = ins
        if not 0 <= self.axis < x.rank:
            raise IRError(f"LayerNorm: axis {self.axis} out of range for shape {x.shape}")
        norm = x.shape[self.axis:]
        for p in (s, b):
            if broadcast_shapes(p.shape, norm) != norm:
                raise IRError(f"LayerNorm: parameter shape {p.shape} does not broadcast to {norm}")
        return [same_type(x)]
