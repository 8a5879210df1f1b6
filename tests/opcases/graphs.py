"""Builders of small TARGET-stage graphs made directly of the integer ops (qcomp/ir/qops.py).

Every builder takes a seeded generator and returns (graph, feeds): int8 graph inputs carrying their
quant params (the integer ops read only their integer attributes; the scales on the types are
bookkeeping), int8 weights in [-127, 127], int32 biases, per-channel int32 multiplier/shift
constants or per-tensor integer attributes, and random int8 feeds.

Multipliers are chosen so that results spread over the int8 range instead of saturating:
for a dot product of K terms, rms(acc) = sqrt(K * mean((x - zp_in)^2) * mean(w^2) + mean(bias^2)),
and the real multiplier is about SPREAD / rms(acc) (SPREAD output steps per rms of acc), then
split into (multiplier, shift) by the spec (fixedpoint.quantize_multipliers), or pinned to the
extremes of its range: multiplier 2^31 - 1 (frac -> 1) or 2^30 (frac = 1/2), with the shift that
keeps the same magnitude (2^30 alone makes every real multiplier a power of two, hence frequent
exact rounding ties). The accumulator bound of the spec (K * 127 * 255 + |bias| < 2^31) holds
for every case: `accumulator_bound` checks it.
"""
from __future__ import annotations

import math

import numpy as np

from qcomp import fixedpoint
from qcomp.ir import DType, Graph, QuantParams, Stage, TensorType, qops, verify

I8 = DType.INT8
ACT_SCALE = 0.05        # the bookkeeping scale of int8 activations of directly built graphs
SPREAD = 40.0           # target rms of a result, in output steps
M_MAX, M_HALF = (1 << 31) - 1, 1 << 30


class Builder:
    """A TARGET-stage graph under construction, with the int8 feeds of its inputs."""

    def __init__(self, name: str, rng: np.random.Generator):
        self.g = Graph(name=name, stage=Stage.TARGET)
        self.rng = rng
        self.feeds: dict[str, np.ndarray] = {}

    @classmethod
    def extending(cls, g: Graph, feeds: dict[str, np.ndarray], rng: np.random.Generator) -> "Builder":
        """A builder that adds nodes to an already built graph."""
        b = cls(g.name, rng)
        b.g, b.feeds = g, dict(feeds)
        return b

    def input(self, name: str, shape, zp: int, lo: int = -128, hi: int = 127) -> str:
        self.g.add_input(name, TensorType(tuple(shape), I8, QuantParams(ACT_SCALE, zp)))
        self.feeds[name] = self.rng.integers(lo, hi + 1, size=shape).astype(np.int8)
        return name

    def const(self, name: str, array: np.ndarray, quant: QuantParams | None = None) -> str:
        return self.g.add_constant(name, array, quant)

    def weights(self, name: str, shape, lo: int = -127, hi: int = 127) -> str:
        w = self.rng.integers(lo, hi + 1, size=shape).astype(np.int8)
        return self.const(name, w, QuantParams(np.full(shape[0], 0.01, np.float32), 0, axis=0))

    def node(self, op, inputs, name: str, zp: int | None = None, scale: float = ACT_SCALE) -> str | list[str]:
        """Add op; its int8 outputs get (scale, zp), or the params of input 0 when zp is None.
        Returns the output name (the list of them for a multi-output op)."""
        inferred = op.infer([self.g.types[i] for i in inputs])
        quant = self.g.types[inputs[0]].quant if zp is None else QuantParams(scale, zp)
        types = [TensorType(t.shape, t.dtype, quant if t.dtype is I8 else None) for t in inferred]
        outputs = [name] if len(types) == 1 else [f"{name}_{k}" for k in range(len(types))]
        self.g.add_node(op, inputs, name, outputs=outputs, out_types=types)
        return name if len(outputs) == 1 else outputs

    def done(self, *outputs: str) -> tuple[Graph, dict[str, np.ndarray]]:
        self.g.outputs = list(outputs)
        return verify(self.g), self.feeds


# ---- multipliers ---------------------------------------------------------------------------

def acc_rms(k: int, x: np.ndarray, zp_in: int, w: np.ndarray, bias: np.ndarray | None = None) -> float:
    centred = x.astype(np.float64) - zp_in
    var = k * np.mean(centred ** 2) * np.mean(w.astype(np.float64) ** 2)
    if bias is not None:
        var += np.mean(bias.astype(np.float64) ** 2)
    return max(math.sqrt(var), 1.0)


def multipliers(real: np.ndarray, mode: str = "spec") -> tuple[np.ndarray, np.ndarray]:
    """(multiplier, shift) int32 arrays for real multipliers > 0.
    mode "spec": the spec's rounding; "extremes": alternately 2^31 - 1 and 2^30 with the shift of
    the same magnitude (2^31 - 1 -> real ~ 2^shift; 2^30 -> real = 2^(shift - 1)); "pow2": always
    2^30, so the real multiplier is a power of two and exact rounding ties are frequent."""
    real = np.asarray(real, dtype=np.float64).reshape(-1)
    if mode == "spec":
        return fixedpoint.quantize_multipliers(real)
    exp = np.rint(np.log2(real)).astype(np.int64)
    m = np.where((np.arange(real.size) % 2 == 0) & (mode == "extremes"), M_MAX, M_HALF)
    shift = np.where(m == M_MAX, exp, exp + 1)
    shift = np.clip(shift, fixedpoint.MIN_SHIFT, fixedpoint.MAX_SHIFT)
    return m.astype(np.int32), shift.astype(np.int32)


def accumulator_bound(k: int, bias: np.ndarray) -> None:
    """The spec's int32 accumulator bound, which every case must respect (backends rely on it)."""
    bound = k * 127 * 255 + int(np.abs(bias.astype(np.int64)).max(initial=0))
    assert bound <= fixedpoint.INT32_MAX, f"case breaks the accumulator bound: {bound}"


def clamp_bounds(zp_out: int, act: str | None, scale: float = ACT_SCALE) -> tuple[int, int]:
    """[qmin, qmax] of a fused activation: Relu -> [zp, 127], Relu6 -> [zp, zp + rint(6 / scale)]."""
    if act is None:
        return -128, 127
    if act == "relu":
        return zp_out, 127
    if act == "relu6":
        return zp_out, min(127, zp_out + int(round(6.0 / scale)))
    raise ValueError(f"unknown fused activation {act!r}")


# ---- weighted ops ----------------------------------------------------------------------------

def conv(name: str, rng: np.random.Generator, x_shape, out_ch: int, kernel=(3, 3), *, strides=(1, 1),
         pads=(0, 0, 0, 0), dilations=(1, 1), group: int = 1, zp_in: int = -3, zp_out: int = 5,
         act: str | None = None, mult: str = "spec", transpose: bool = False, output_padding=(0, 0),
         out_scale: float = ACT_SCALE, w_max: int = 127):
    """QConv2D (or QConvTranspose2D) with folded bias: bias'[o] = b[o] - zp_in * sum(w[o])."""
    b = Builder(name, rng)
    x = b.input("x", x_shape, zp_in)
    cg = x_shape[3] // group
    w_name = b.weights("w", (out_ch, kernel[0], kernel[1], cg), -w_max, w_max)
    w = b.g.constants[w_name]
    k = kernel[0] * kernel[1] * cg
    raw_bias = rng.integers(-w_max * k // 3, w_max * k // 3 + 1, size=out_ch)
    bias = raw_bias if transpose else raw_bias - zp_in * w.reshape(out_ch, -1).astype(np.int64).sum(axis=1)
    accumulator_bound(k, raw_bias)
    real = SPREAD / acc_rms(k, b.feeds[x], zp_in, w, raw_bias) * rng.uniform(0.6, 1.6, out_ch)
    m, s = multipliers(real, mode=mult)
    consts = [b.const("bias", bias.astype(np.int32)), b.const("multiplier", m), b.const("shift", s)]
    qmin, qmax = clamp_bounds(zp_out, act, out_scale)
    common = dict(input_zero_point=zp_in, output_zero_point=zp_out, qmin=qmin, qmax=qmax)
    if transpose:
        op = qops.QConvTranspose2D(strides, pads, dilations, group, output_padding, **common)
    else:
        op = qops.QConv2D(strides, pads, dilations, group, **common)
    return b.done(b.node(op, [x, w_name, *consts], "conv", zp_out, out_scale))


def dense(name: str, rng: np.random.Generator, x_shape, n_out: int, *, zp_in: int = 7, zp_out: int = -9,
          act: str | None = None, mult: str = "spec"):
    """QDense with folded bias: bias'[n] = b[n] - zp_in * sum(w[n])."""
    b = Builder(name, rng)
    x = b.input("x", x_shape, zp_in)
    k = x_shape[-1]
    w_name = b.weights("w", (n_out, k))
    w = b.g.constants[w_name]
    raw_bias = rng.integers(-40 * k, 40 * k + 1, size=n_out)
    accumulator_bound(k, raw_bias)
    bias = raw_bias - zp_in * w.astype(np.int64).sum(axis=1)
    real = SPREAD / acc_rms(k, b.feeds[x], zp_in, w, raw_bias) * rng.uniform(0.6, 1.6, n_out)
    m, s = multipliers(real, mode=mult)
    qmin, qmax = clamp_bounds(zp_out, act)
    op = qops.QDense(zp_in, zp_out, qmin, qmax)
    consts = [b.const("bias", bias.astype(np.int32)), b.const("multiplier", m), b.const("shift", s)]
    return b.done(b.node(op, [x, w_name, *consts], "dense", zp_out))


def dense_shift(name: str, rng: np.random.Generator, shift: int, *, k: int = 8, n_out: int = 8):
    """QDense rescaled by multiplier 2^31 - 1 and a very negative shift (total = 31 - shift near 62),
    so out ~ acc * 2^(shift - 31). The bias puts every accumulator next to a rounding tie,
    bias = (j + 1/2) * 2^-shift (as large as the accumulator bound allows), and the dot product
    decides the side with a few units (x in [-3, 3], w in [-1, 1]): a backend that loses a bit of
    the 64-bit product (a float32 rescale, an int32 truncation) rounds the wrong way."""
    b = Builder(name, rng)
    x = b.input("x", (6, k), 0, -3, 3)
    w_name = b.weights("w", (n_out, k), -1, 1)
    limit = fixedpoint.INT32_MAX - k * 127 * 255
    unit = 1 << -shift
    j_max = max(int(limit / unit - 0.5), 0)
    j = rng.integers(-j_max - 1, j_max + 1, size=n_out)
    raw_bias = (2 * j + 1) * unit // 2
    accumulator_bound(k, raw_bias)
    m = np.full(n_out, M_MAX, np.int32)
    s = np.full(n_out, shift, np.int32)
    op = qops.QDense(0, 3, -128, 127)
    consts = [b.const("bias", raw_bias.astype(np.int32)), b.const("multiplier", m), b.const("shift", s)]
    return b.done(b.node(op, [x, w_name, *consts], "dense", 3))


def matmul(name: str, rng: np.random.Generator, a_shape, b_shape, *, zp_a: int = 11, zp_b: int = -6,
           zp_out: int = 2, act: str | None = None):
    b = Builder(name, rng)
    a = b.input("a", a_shape, zp_a)
    bb = b.input("b", b_shape, zp_b)
    k = a_shape[-1]
    rms = math.sqrt(k * np.mean((b.feeds[a].astype(np.float64) - zp_a) ** 2)
                    * np.mean((b.feeds[bb].astype(np.float64) - zp_b) ** 2))
    m, s = fixedpoint.quantize_multiplier(SPREAD / rms)
    qmin, qmax = clamp_bounds(zp_out, act)
    return b.done(b.node(qops.QMatMul(zp_a, zp_b, m, s, zp_out, qmin, qmax), [a, bb], "matmul", zp_out))


def matmul_levels(name: str, rng: np.random.Generator, a_shape, b_shape, *, zp_a: int, zp_b: int,
                  noise: int = 12, extreme: bool = False):
    """QMatMul whose results spread over the int8 range whatever the zero points: each row of a and
    each column of b sits at its own random level (plus noise in [-noise, noise]), so acc varies
    across (m, n) by about as much as its mean; the multiplier maps acc's span onto 250 output
    steps and the output zero point centres it. extreme: the first row of every a at
    clip(zp_a - 255) and the first column of every b at clip(zp_b + 255) (all -128 / 127 when the
    zero points are at the ends), the largest |acc| the accumulator bound allows for that K."""
    b = Builder(name, rng)
    a = b.input("a", a_shape, zp_a)
    bb = b.input("b", b_shape, zp_b)

    def levelled(shape, axis):
        level_shape = list(shape)
        level_shape[axis] = 1
        v = rng.integers(-128, 128, size=level_shape) + rng.integers(-noise, noise + 1, size=shape)
        return np.clip(v, -128, 127).astype(np.int8)
    b.feeds[a], b.feeds[bb] = levelled(a_shape, -1), levelled(b_shape, -2)
    if extreme:
        b.feeds[a][..., 0, :] = np.clip(zp_a - 255, -128, 127)
        b.feeds[bb][..., :, 0] = np.clip(zp_b + 255, -128, 127)
    acc = np.matmul(b.feeds[a].astype(np.int64) - zp_a, b.feeds[bb].astype(np.int64) - zp_b)
    lo, hi = int(acc.min()), int(acc.max())
    real = 250.0 / max(hi - lo, 1)
    m, s = fixedpoint.quantize_multiplier(real)
    zp_out = int(np.clip(round(-(lo + hi) / 2 * real), -128, 127))
    return b.done(b.node(qops.QMatMul(zp_a, zp_b, m, s, zp_out, -128, 127), [a, bb], "matmul", zp_out))


# ---- elementwise ---------------------------------------------------------------------------

def binary(name: str, rng: np.random.Generator, kind: str, a_shape, b_shape, *, scales=(0.05, 0.02, 0.06),
           zps=(-5, 30, 0), act: str | None = None):
    """QAdd / QSub / QMul with the spec's parameters for real scales (s_a, s_b, s_out)."""
    (s_a, s_b, s_out), (zp_a, zp_b, zp_out) = scales, zps
    b = Builder(name, rng)
    a = b.input("a", a_shape, zp_a)
    bb = b.input("b", b_shape, zp_b)
    qmin, qmax = clamp_bounds(zp_out, act, s_out)
    if kind == "mul":
        op = qops.QMul(**vars(fixedpoint.mul_params(s_a, zp_a, s_b, zp_b, s_out, zp_out, qmin, qmax)))
    else:
        p = vars(fixedpoint.add_params(s_a, zp_a, s_b, zp_b, s_out, zp_out, qmin, qmax))
        op = (qops.QAdd if kind == "add" else qops.QSub)(**p)
    return b.done(b.node(op, [a, bb], kind, zp_out, s_out))


def lut(name: str, rng: np.random.Generator, shape, table: str = "random", zp_in: int = 0):
    """Lut with a random table, or sigmoid's table built by the spec (fixedpoint.build_lut)."""
    b = Builder(name, rng)
    x = b.input("x", shape, zp_in)
    if table == "random":
        t = rng.integers(-128, 128, size=256).astype(np.int8)
    else:
        t = fixedpoint.build_lut(lambda v: 1.0 / (1.0 + np.exp(-v)), 0.06, zp_in, 1 / 256, -128)
    tname = b.const("table", t, QuantParams(1 / 256, -128))
    return b.done(b.node(qops.Lut(), [x, tname], "lut", -128, 1 / 256))


def requantize(name: str, rng: np.random.Generator, shape, *, zp_in: int, zp_out: int, multiplier: int,
               shift: int, x_range: tuple[int, int] = (-128, 127), qmin: int = -128, qmax: int = 127):
    """QRequantize with explicit integers; x_range keeps x - zp_in small for large multipliers."""
    b = Builder(name, rng)
    x = b.input("x", shape, zp_in, *x_range)
    op = qops.QRequantize(zp_in, multiplier, shift, zp_out, qmin, qmax)
    return b.done(b.node(op, [x], "requantize", zp_out))


def softmax(name: str, rng: np.random.Generator, shape, axis: int, *, s_in: float, zp_in: int = 0,
            x_range: tuple[int, int] = (-128, 127)):
    """QSoftmax with the spec's parameters for input scale s_in (beta 1); output scale 1/256, zp -128."""
    b = Builder(name, rng)
    x = b.input("x", shape, zp_in, *x_range)
    p = fixedpoint.softmax_params(1.0, s_in)
    op = qops.QSoftmax(axis, p.input_multiplier, p.input_left_shift, p.diff_min)
    return b.done(b.node(op, [x], "softmax", -128, 1 / 256))


# ---- pooling and means -----------------------------------------------------------------------

def avg_pool(name: str, rng: np.random.Generator, x_shape, kernel, strides, pads=(0, 0, 0, 0), *,
             ceil_mode: bool = False, count_include_pad: bool = False, zp_in: int = -20, zp_out: int = 4,
             s_in: float = 0.05, s_out: float = 0.03):
    b = Builder(name, rng)
    x = b.input("x", x_shape, zp_in)
    p = fixedpoint.avgpool_params(s_in, zp_in, s_out, zp_out, kernel[0] * kernel[1])
    op = qops.QAvgPool2D(kernel, strides, pads, ceil_mode, count_include_pad, (1, 1), p.in_zero_point,
                         p.multipliers, p.shifts, p.out_zero_point, p.qmin, p.qmax)
    return b.done(b.node(op, [x], "avgpool", zp_out, s_out))


def mean(name: str, rng: np.random.Generator, x_shape, axes, keepdims: bool = True, *, zp_in: int = 127,
         zp_out: int = 127, s_in: float = 0.05, s_out: float = 0.045):
    b = Builder(name, rng)
    x = b.input("x", x_shape, zp_in)
    count = math.prod(x_shape[a] for a in axes)
    p = fixedpoint.mean_params(s_in, zp_in, s_out, zp_out, count)
    op = qops.QMean(tuple(axes), keepdims, **vars(p))
    return b.done(b.node(op, [x], "mean", zp_out, s_out))
