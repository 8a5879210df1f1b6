"""The ops of the qcomp IR: one frozen dataclass per op, its attributes typed.

An op instance is the attribute set of a node; the class is the op. Every op knows its input
arity and infers its output types from its input types (`infer`), which the frontend uses to
type new values and the verifier uses to re-check every node after every pass.

Fused activations: Conv2D, ConvTranspose2D, Dense, MatMul and Add carry `act_min`/`act_max`
(None = unbounded): the op's result is clamped to [act_min, act_max] (Relu = (0, None),
Relu6 = (0, 6)). The frontend leaves them None; the fuse_activations pass sets them.

Layout: activations are NHWC. Conv-like ops take x[N,H,W,C] and weights w[O,KH,KW,C/group]
("OHWI", as TFLite); channel-wise ops (BatchNorm) act on the last axis. Pads of 2-D window ops
are (top, left, bottom, right). Axis attributes are non-negative and refer to the IR layout.

`infer` returns dtype-and-shape types without quant params: which quant params an integer value
carries is decided by the quantization passes, and the verifier compares shapes and dtypes only.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import ClassVar

import numpy as np

from .types import DType, IRError, TensorType

Types = list[TensorType]


class Op:
    """Base of all ops. `arity` is the exact input count, or None for variadic ops."""
    arity: ClassVar[int | None] = 1
    num_outputs: ClassVar[int] = 1

    @property
    def kind(self) -> str:
        return type(self).__name__

    def infer(self, ins: Types) -> Types:
        raise NotImplementedError(f"{self.kind} has no type inference")

    def attrs(self) -> dict:
        return {f.name: getattr(self, f.name) for f in fields(self)}  # type: ignore[arg-type]


def _same(t: TensorType) -> TensorType:
    return TensorType(t.shape, t.dtype)


def broadcast_shapes(*shapes: tuple[int, ...]) -> tuple[int, ...]:
    try:
        return tuple(np.broadcast_shapes(*shapes))
    except ValueError:
        raise IRError(f"shapes {' and '.join(str(s) for s in shapes)} do not broadcast") from None


def window_out(size: int, k: int, stride: int, dilation: int, pad_begin: int, pad_end: int,
               ceil_mode: bool = False) -> int:
    """Output length of a sliding window (ONNX convention, also for ceil_mode)."""
    eff = dilation * (k - 1) + 1
    span = size + pad_begin + pad_end - eff
    if span < 0:
        raise IRError(f"window of effective size {eff} does not fit input {size} padded by "
                      f"{pad_begin}+{pad_end}")
    n = (-(-span // stride) if ceil_mode else span // stride) + 1
    if ceil_mode and (n - 1) * stride >= size + pad_begin:
        n -= 1  # the last window must start inside the input or the leading pad
    return n


def _expect_rank(t: TensorType, rank: int, what: str):
    if t.rank != rank:
        raise IRError(f"{what} must have rank {rank}, got shape {t.shape}")


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
        _expect_rank(x, 4, "Conv2D input"), _expect_rank(w, 4, "Conv2D weight")
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
        _expect_rank(x, 4, "ConvTranspose2D input"), _expect_rank(w, 4, "ConvTranspose2D weight")
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
        _expect_rank(w, 2, "Dense weight")
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
        return [_same(x)]


# ---- elementwise ----------------------------------------------------------------------------

class Unary(Op):
    """Elementwise op of one input; the output has the input's shape and dtype."""
    def infer(self, ins):
        return [_same(ins[0])]


@dataclass(frozen=True)
class Relu(Unary):
    pass


@dataclass(frozen=True)
class Clip(Unary):
    """y = min(max(x, min), max); None means unbounded on that side."""
    min: float | None = None
    max: float | None = None


@dataclass(frozen=True)
class LeakyRelu(Unary):
    alpha: float = 0.01


@dataclass(frozen=True)
class Sigmoid(Unary):
    pass


@dataclass(frozen=True)
class Tanh(Unary):
    pass


@dataclass(frozen=True)
class HardSigmoid(Unary):
    """y = max(0, min(1, alpha * x + beta))"""
    alpha: float = 0.2
    beta: float = 0.5


@dataclass(frozen=True)
class HardSwish(Unary):
    """y = x * max(0, min(1, x / 6 + 1 / 2))"""


@dataclass(frozen=True)
class Erf(Unary):
    pass


@dataclass(frozen=True)
class Gelu(Unary):
    """approximate: "none" (x/2 * (1 + erf(x/sqrt 2))) or "tanh"."""
    approximate: str = "none"


@dataclass(frozen=True)
class Sqrt(Unary):
    pass


@dataclass(frozen=True)
class Exp(Unary):
    pass


@dataclass(frozen=True)
class Cast(Unary):
    to: DType = DType.FLOAT32

    def infer(self, ins):
        return [TensorType(ins[0].shape, self.to)]


class Binary(Op):
    """Elementwise op of two inputs with numpy broadcasting."""
    arity: ClassVar[int] = 2

    def infer(self, ins):
        a, b = ins
        if a.dtype != b.dtype:
            raise IRError(f"{self.kind}: operand dtypes differ ({a.dtype.value} and {b.dtype.value})")
        return [TensorType(broadcast_shapes(a.shape, b.shape), a.dtype)]


@dataclass(frozen=True)
class Add(Binary):
    act_min: float | None = None   # fused activation, as on Conv2D
    act_max: float | None = None


@dataclass(frozen=True)
class Sub(Binary):
    pass


@dataclass(frozen=True)
class Mul(Binary):
    pass


@dataclass(frozen=True)
class Div(Binary):
    pass


@dataclass(frozen=True)
class Pow(Binary):
    pass


@dataclass(frozen=True)
class PRelu(Binary):
    """y = x if x >= 0 else slope * x; slope broadcasts to x and the output has x's shape."""

    def infer(self, ins):
        out = super().infer(ins)[0]
        if out.shape != ins[0].shape:
            raise IRError(f"PRelu: slope {ins[1].shape} would broadcast input {ins[0].shape} to {out.shape}")
        return [out]


# ---- pooling and reductions -----------------------------------------------------------------

def _pool_shape(op, x: TensorType) -> Types:
    _expect_rank(x, 4, f"{op.kind} input")
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
        return [_same(ins[0])]


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
        return [_same(x)]


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


# ---- quantization boundary (QUANTIZED stage and later) --------------------------------------

@dataclass(frozen=True)
class Quantize(Op):
    """float -> int: q = clamp(rint(x / scale) + zero_point) with the output's quant params."""
    dtype: DType = DType.INT8

    def infer(self, ins):
        if not ins[0].dtype.is_float:
            raise IRError(f"Quantize: input must be float, got {ins[0].dtype.value}")
        return [TensorType(ins[0].shape, self.dtype)]


@dataclass(frozen=True)
class Dequantize(Op):
    """int -> float: x = (q - zero_point) * scale with the input's quant params."""

    def infer(self, ins):
        if ins[0].dtype.is_float:
            raise IRError("Dequantize: input must be an integer tensor")
        return [TensorType(ins[0].shape, DType.FLOAT32)]


@dataclass(frozen=True)
class Requantize(Op):
    """int -> int: change quant params (input's to output's)."""
    dtype: DType = DType.INT8

    def infer(self, ins):
        if ins[0].dtype.is_float:
            raise IRError("Requantize: input must be an integer tensor")
        return [TensorType(ins[0].shape, self.dtype)]


def output_count(op: Op) -> int:
    return op.outputs_count if isinstance(op, Split) else op.num_outputs


ALL_OPS: dict[str, type[Op]] = {
    cls.__name__: cls for cls in [
        Conv2D, ConvTranspose2D, Dense, MatMul, BatchNorm, Relu, Clip, LeakyRelu, Sigmoid, Tanh,
        HardSigmoid, HardSwish, Erf, Gelu, Sqrt, Exp, Cast, Add, Sub, Mul, Div, Pow, PRelu, MaxPool2D,
        AvgPool2D, ReduceMean, ReduceMax, Softmax, LayerNorm, Concat, Reshape, Transpose, Pad, Slice,
        Split, Resize, Gather, Quantize, Dequantize, Requantize,
    ]
}
