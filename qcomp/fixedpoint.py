"""The numeric specification of qcomp: every integer result of every backend is defined here.

The C, CUDA and LLVM backends transcribe these functions line for line, with the same names. The
scheme is TFLite's int8 scheme with ONE rounding per rescale (ARCHITECTURE.md section 3):

    real multiplier M > 0  ->  (multiplier m, shift e):  M ~= m * 2^(e - 31),  m in [2^30, 2^31)
    multiply_by_quantized_multiplier(acc, m, e) = (acc * m + 2^(total-1)) >> total,  total = 31 - e
    requantize  = clamp(multiply_by_quantized_multiplier(acc, m, e) + zero_point, qmin, qmax)
    quantize    = clamp(rint(x / scale) + zero_point, qmin, qmax)        float32, ties to even
    dequantize  = (q - zero_point) * scale                               float32

Rounding, once and for all:
- `>> total` after adding 2^(total-1) is round half toward +inf ("round half up"): -2.5 -> -2,
  2.5 -> 3. It is the arithmetic right shift of a two's complement int64 (AArch64 SRSHR/SRSHL
  on 64-bit lanes do exactly this; x86 has VPSRAQ since AVX-512F; CUDA shr.s64).
- quantize_multiplier rounds m half away from zero (std::round, as TFLite's QuantizeMultiplier).
- quantize and build_lut round half to even (np.rint; ONNX QuantizeLinear; CVTPS2DQ / FCVTNS).
There is no second rounding anywhere: gemmlowp's SQRDMULH + rounding-shift pair (two roundings)
is NOT this scheme, and backends must not use it.

Integers are exact: numpy int64 here, int64_t / i64 in the backends. Every function states the
range of its inputs and why no intermediate can overflow int64 (or int32 where a kernel accumulates
in int32). Values outside the documented ranges raise FixedPointError (a ValueError).

Integer kernels (TFLite reference integer algorithms, single rounding): Add/Sub (left shift 20,
per-input rescale), Mul (product of centred inputs), average pooling and mean (requantize the
centred window sum by s_in / (s_out * count)), and 256-entry lookup tables for every other
elementwise nonlinearity (computed at build time in float64, hence bit-exact by construction).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from .errors import QcompError

INT32_MIN = -(1 << 31)
INT32_MAX = (1 << 31) - 1
MIN_SHIFT, MAX_SHIFT = -31, 30       # shift range of a quantized multiplier: total = 31 - shift in [1, 62]
ADD_LEFT_SHIFT = 20                   # TFLite's headroom shift for int8 Add/Sub
MAX_WINDOW_COUNT = INT32_MAX // 255   # largest averaging count whose centred int8 sum fits int32
_OUT_DTYPES = (np.int8, np.uint8, np.int16, np.int32)


class FixedPointError(QcompError, ValueError):
    """A fixed-point primitive got a parameter outside its documented range."""


# ---- helpers -------------------------------------------------------------------------------

def _ints(x, what: str) -> np.ndarray:
    """x as an int64 array; refuses floats (a silent truncation would hide a bug in the caller)."""
    a = np.asarray(x)
    if a.dtype == object or not (np.issubdtype(a.dtype, np.integer) or a.dtype == bool):
        raise FixedPointError(f"{what} must be integers that fit int64, got dtype {a.dtype}")
    if a.dtype == np.uint64 and a.size and a.max() > np.iinfo(np.int64).max:
        raise FixedPointError(f"{what} does not fit int64")
    return a.astype(np.int64)


def _check_range(a: np.ndarray, lo: int, hi: int, what: str) -> None:
    if a.size and (a.min() < lo or a.max() > hi):
        raise FixedPointError(f"{what} must be in [{lo}, {hi}], got values in [{a.min()}, {a.max()}]")


def _check_bounds(qmin: int, qmax: int) -> None:
    if not INT32_MIN <= qmin <= qmax <= INT32_MAX:
        raise FixedPointError(f"clamp bounds must satisfy {INT32_MIN} <= qmin <= qmax <= {INT32_MAX}, "
                              f"got qmin={qmin}, qmax={qmax}")


def _scalar_or_array(a: np.ndarray):
    return a[()] if a.ndim == 0 else a


def _along_axis(p: np.ndarray, ndim: int, axis: int | None) -> np.ndarray:
    """Reshape a per-channel 1-D parameter so it broadcasts along `axis` of an ndim-array."""
    if axis is None or p.ndim == 0:
        return p
    axis = axis + ndim if axis < 0 else axis
    if p.ndim != 1 or not 0 <= axis < ndim:
        raise FixedPointError(f"a per-channel parameter must be 1-D and axis in [0, {ndim}), got "
                              f"shape {p.shape} and axis {axis}")
    return p.reshape(p.shape + (1,) * (ndim - axis - 1))


def out_dtype_for(qmin: int, qmax: int, out_dtype=None) -> np.dtype:
    """out_dtype, checked to hold [qmin, qmax]; by default the first of int8, uint8, int16, int32 that does."""
    _check_bounds(qmin, qmax)
    fits = [np.dtype(d) for d in _OUT_DTYPES if np.iinfo(d).min <= qmin and qmax <= np.iinfo(d).max]
    if out_dtype is None:
        return fits[0]                   # int32 holds every valid clamp range
    if np.dtype(out_dtype) not in fits:
        raise FixedPointError(f"out_dtype {np.dtype(out_dtype)} cannot hold the clamp range [{qmin}, {qmax}]")
    return np.dtype(out_dtype)


# ---- multipliers ---------------------------------------------------------------------------

def quantize_multipliers(reals) -> tuple[np.ndarray, np.ndarray]:
    """Vectorized TFLite QuantizeMultiplier: reals >= 0 (float64) -> (multiplier, shift) int32 arrays.

    For real = frac * 2^exp (np.frexp, frac in [0.5, 1)):
      1. q = round_half_away_from_zero(frac * 2^31). Exact in float64: frac * 2^31 lies in [2^30, 2^31)
         where the float64 spacing is 2^-22, so floor(v + 0.5) is computed without error.
      2. q == 2^31 (frac rounded up to 1): q = 2^30, exp += 1.
      3. exp < -31 (real < 2^-32): (0, 0). Flushing changes no result: |acc * real| < 2^31 * 2^-32
         = 1/2 rounds half up to 0 anyway.
      4. exp > 30 (real >= ~2^30): saturated to (2^31 - 1, 30), TFLite's single-rounding clamp.
      real == 0 -> (0, 0).
    Then multiplier in {0} U [2^30, 2^31 - 1], shift in [-31, 30], and for cases 1-2
    |multiplier * 2^(shift - 31) - real| <= real * 2^-31.
    Raises FixedPointError for a negative, NaN or infinite real.
    """
    r = np.asarray(reals, dtype=np.float64)
    bad = ~np.isfinite(r) | (r < 0)
    if bad.any():
        raise FixedPointError(f"a real multiplier must be finite and >= 0, got {r[bad].ravel()[:4]} "
                              "(check the scales it was derived from)")
    frac, exp = np.frexp(r)
    q = np.floor(frac * 2.0**31 + 0.5).astype(np.int64)
    exp = exp.astype(np.int64)
    carry = q == (1 << 31)
    q = np.where(carry, q >> 1, q)
    exp = exp + carry
    tiny = exp < MIN_SHIFT
    q, exp = np.where(tiny, 0, q), np.where(tiny, 0, exp)
    huge = exp > MAX_SHIFT
    q, exp = np.where(huge, INT32_MAX, q), np.where(huge, MAX_SHIFT, exp)
    return q.astype(np.int32), exp.astype(np.int32)


def quantize_multiplier(real: float) -> tuple[int, int]:
    """Scalar quantize_multipliers: one real multiplier -> (multiplier, shift) as Python ints."""
    m, s = quantize_multipliers(np.asarray([real], dtype=np.float64))
    return int(m[0]), int(s[0])


def multiply_by_quantized_multiplier(acc, multiplier, shift):
    """round_half_up(acc * multiplier / 2^(31 - shift)), exactly; int64 result (arrays broadcast).

      total = 31 - shift                                       in [1, 62]
      out   = (acc * multiplier + (1 << (total - 1))) >> total  arithmetic shift: ties toward +inf
    Ranges: acc in [INT32_MIN, INT32_MAX], multiplier in [0, 2^31 - 1], shift in [-31, 30].
    No int64 overflow: |acc * multiplier| <= 2^31 * (2^31 - 1) < 2^62 and the rounding term is at
    most 2^61, so the sum stays below 2^63. Edges: acc = INT32_MIN with multiplier 2^31 - 1 and
    shift 30 (total 1) gives -(2^61 - 2^30), which is why the result is int64 and why requantize
    clamps in int64 (a backend must not truncate to int32 before the clamp). The result fits int32
    whenever |acc * real| < 2^31 - 1/2.
    Hardware: SMULL (AArch64 32x32->64) / VPMULDQ (x86) / mul.wide.s32 (PTX), then add and
    arithmetic shift right (or AArch64 SRSHL by -total, which adds the same rounding term).
    """
    acc, multiplier, shift = _ints(acc, "acc"), _ints(multiplier, "multiplier"), _ints(shift, "shift")
    _check_range(acc, INT32_MIN, INT32_MAX, "acc")
    _check_range(multiplier, 0, INT32_MAX, "multiplier")
    _check_range(shift, MIN_SHIFT, MAX_SHIFT, "shift (total shift 31 - shift must be in [1, 62])")
    total = 31 - shift
    rounding = np.left_shift(np.int64(1), total - 1)
    return _scalar_or_array((acc * multiplier + rounding) >> total)


def requantize(acc, multiplier, shift, zero_point=0, qmin: int = -128, qmax: int = 127,
               axis: int | None = None, out_dtype=None):
    """clamp(multiply_by_quantized_multiplier(acc, multiplier, shift) + zero_point, qmin, qmax).

    The int32 accumulator of a Conv/MatMul (or any kernel below) becomes an int8 (or wider) value.
    Per channel: with `axis`, 1-D multiplier/shift/zero_point arrays of length acc.shape[axis]
    broadcast along that axis; without it, ordinary numpy broadcasting applies.
    Ranges: those of multiply_by_quantized_multiplier; zero_point in int32; INT32_MIN <= qmin <=
    qmax <= INT32_MAX. The sum and the clamp are computed in int64 (no wrap; see above). A
    backend may equivalently clamp the shifted value to [qmin - zero_point, qmax - zero_point]
    and add zero_point afterwards. Fused ReLU / ReLU6 / Clip are the bounds qmin, qmax.
    out_dtype: by default the first of int8, uint8, int16, int32 that holds [qmin, qmax].
    Hardware: the saturating narrow is SQXTN (AArch64) / VPMOVSDB, VPACKSSDW (x86) / cvt.sat (PTX).
    """
    dt = out_dtype_for(qmin, qmax, out_dtype)
    acc = _ints(acc, "acc")
    zero_point = _ints(zero_point, "zero_point")
    _check_range(zero_point, INT32_MIN, INT32_MAX, "zero_point")
    multiplier = _along_axis(_ints(multiplier, "multiplier"), acc.ndim, axis)
    shift = _along_axis(_ints(shift, "shift"), acc.ndim, axis)
    zero_point = _along_axis(zero_point, acc.ndim, axis)
    scaled = np.asarray(multiply_by_quantized_multiplier(acc, multiplier, shift))
    return _scalar_or_array(np.clip(scaled + zero_point, qmin, qmax).astype(dt))


def saturate(x, dtype):
    """Clamp integers to the range of dtype (int8, uint8, int16 or int32) and cast: no wrap-around.

    x: any integers that fit int64. Hardware: SQXTN / UQXTN (AArch64), VPACKSSWB / VPACKUSWB /
    VPMOVSDB (x86), cvt.sat / min-max (PTX), __SSAT (Arm Cortex-M).
    """
    dt = np.dtype(dtype)
    if dt not in [np.dtype(d) for d in _OUT_DTYPES]:
        raise FixedPointError(f"saturate supports int8, uint8, int16 and int32, not {dt}")
    info = np.iinfo(dt)
    return _scalar_or_array(np.clip(_ints(x, "x"), info.min, info.max).astype(dt))


# ---- float <-> int at the model boundary ---------------------------------------------------

def quantize(x, scale, zero_point, qmin: int = -128, qmax: int = 127, out_dtype=None):
    """clamp(rint(x / scale) + zero_point, qmin, qmax): float -> int8 at the model's inputs.

    x is converted to float32 first; x / scale is one IEEE float32 division (correctly rounded),
    rint rounds half to even (default rounding mode). The addition of zero_point and the clamp
    are exact integer operations: the code clamps rint(x / scale) to [qmin - zp, qmax - zp] and
    adds zp, which equals clamp(rint(x / scale) + zp) without a float rounding of the sum.
    scale: float32, finite, >= 0 (broadcasts against x). scale == 0 (an all-zero tensor) maps every
    x to clamp(zero_point): no division happens. +-inf saturate to qmax / qmin. NaN has no integer
    encoding and raises FixedPointError: callers (the runtime's input check) reject NaN first.
    Hardware: VDIVPS + VCVTPS2DQ (x86, MXCSR round-to-nearest-even) / FDIV + FCVTNS (AArch64) /
    __fdiv_rn + __float2int_rn (CUDA), rintf in C. No reciprocal multiply: x * (1/scale) differs.
    """
    dt = out_dtype_for(qmin, qmax, out_dtype)
    x = np.asarray(x, dtype=np.float32)
    scale = np.asarray(scale, dtype=np.float32)
    if not np.all(np.isfinite(scale)) or np.any(scale < 0):
        raise FixedPointError(f"quantize: scale must be finite and >= 0, got {scale.ravel()[:4]}")
    zero_point = _ints(zero_point, "zero_point")
    _check_range(zero_point, INT32_MIN, INT32_MAX, "zero_point")
    nan = np.isnan(x)
    if nan.any():
        raise FixedPointError(f"quantize: input has {int(nan.sum())} NaN value(s), which have no "
                              "int8 encoding; reject or replace NaN before quantizing")
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        r = np.rint(x / np.where(scale == 0, np.float32(1), scale))
    r = np.where(scale == 0, np.float32(0), r).astype(np.float64)   # float32 -> float64: exact
    r = np.clip(r, qmin - zero_point, qmax - zero_point)            # int32 bounds exact in float64
    return _scalar_or_array((r.astype(np.int64) + zero_point).astype(dt))


def dequantize(q, scale, zero_point):
    """(q - zero_point) * scale in float32: int8 -> float at the model's outputs.

    q - zero_point is exact (int64), converted to float32 (exact for |q - zp| < 2^24, always for
    int8/int16), then one float32 multiply (correctly rounded). Per-channel scales broadcast.
    Hardware: VPSUBD + VCVTDQ2PS + VMULPS (x86) / SCVTF + FMUL (AArch64) / __int2float_rn + __fmul_rn.
    """
    q, zero_point = _ints(q, "q"), _ints(zero_point, "zero_point")
    scale = np.asarray(scale, dtype=np.float32)
    return _scalar_or_array((q - zero_point).astype(np.float32) * scale)


def dynamic_quant_params(x) -> tuple[np.float32, int]:
    """Per-run int8 quant params of a float32 tensor (--quant dynamic): onnxruntime's
    DynamicQuantizeLinear moved to int8 (zero point - 128), every step one float32 rounding:

      lo = min(min(x), 0),  hi = max(max(x), 0)                  exact
      scale = (hi - lo) / 255                                     float32 subtract, float32 divide
      zero_point = clamp(rint(-128 - lo / scale), -128, 127)      float32 divide and subtract, ties to even
    An all-zero x gives scale 0 and zero point 0 (quantize maps everything to 0). NaN raises.
    Hardware: a min/max reduction, then scalar float32 ops (any IEEE float32 unit).
    """
    x = np.asarray(x, dtype=np.float32)
    if np.isnan(x).any():
        raise FixedPointError("dynamic_quant_params: input has NaN values")
    lo = min(np.float32(x.min(initial=0)), np.float32(0))
    hi = max(np.float32(x.max(initial=0)), np.float32(0))
    with np.errstate(over="ignore"):
        scale = np.float32(np.float32(hi - lo) / np.float32(255))
    if not np.isfinite(scale):
        raise FixedPointError("dynamic_quant_params: the input's range overflows float32")
    if scale == 0:
        return np.float32(0), 0
    zero_point = np.rint(np.float32(-128) - np.float32(lo / scale))
    return scale, int(np.clip(zero_point, -128, 127))


# ---- Add / Sub -----------------------------------------------------------------------------

@dataclass(frozen=True)
class AddParams:
    """The integers of one int8 Add or Sub (from add_params); a_/b_ are the two inputs."""
    a_zero_point: int
    b_zero_point: int
    left_shift: int
    a_multiplier: int
    a_shift: int
    b_multiplier: int
    b_shift: int
    out_multiplier: int
    out_shift: int
    out_zero_point: int
    qmin: int
    qmax: int


def _check_int8_zero_point(zp: int, what: str) -> None:
    if not -128 <= zp <= 127:
        raise FixedPointError(f"{what} must be in [-128, 127] for an int8 tensor, got {zp}")


def _check_scale(s: float, what: str) -> float:
    s = float(s)
    if not (np.isfinite(s) and s >= 0):
        raise FixedPointError(f"{what} must be finite and >= 0, got {s}")
    return s


def add_params(s_a: float, zp_a: int, s_b: float, zp_b: int, s_out: float, zp_out: int,
               qmin: int = -128, qmax: int = 127) -> AddParams:
    """TFLite's int8 Add parameters (kernels/add.cc), all real arithmetic in float64.

      twice_max = 2 * max(s_a, s_b)
      a: s_a / twice_max,  b: s_b / twice_max            (both <= 1/2: exactly 1/2 for the larger)
      out: twice_max / (2^20 * s_out)
    so that out = zp_out + (s_a (a - zp_a) + s_b (b - zp_b)) / s_out up to the roundings of add_int8.
    A zero scale (an all-zero tensor) is allowed: s_a = s_b = 0 or s_out = 0 give out_multiplier 0,
    i.e. the constant clamp(zp_out). Sub uses the same parameters (sub_int8).
    """
    s_a, s_b, s_out = _check_scale(s_a, "s_a"), _check_scale(s_b, "s_b"), _check_scale(s_out, "s_out")
    for zp, what in ((zp_a, "zp_a"), (zp_b, "zp_b"), (zp_out, "zp_out")):
        _check_int8_zero_point(zp, what)
    _check_bounds(qmin, qmax)
    twice_max = 2.0 * max(s_a, s_b)
    if twice_max == 0.0 or s_out == 0.0:
        a, b, out = (0, 0), (0, 0), (0, 0)
    else:
        a = quantize_multiplier(s_a / twice_max)
        b = quantize_multiplier(s_b / twice_max)
        out = quantize_multiplier(twice_max / ((1 << ADD_LEFT_SHIFT) * s_out))
    return AddParams(int(zp_a), int(zp_b), ADD_LEFT_SHIFT, *a, *b, *out, int(zp_out), int(qmin), int(qmax))


def _add_or_sub(a, b, p: AddParams, sign: int):
    a, b = _ints(a, "a"), _ints(b, "b")
    _check_range(a, -128, 127, "a (int8)")
    _check_range(b, -128, 127, "b (int8)")
    a_scaled = np.asarray(multiply_by_quantized_multiplier(      # |(a - zp) << 20| <= 255 * 2^20 < 2^28
        (a - p.a_zero_point) << p.left_shift, p.a_multiplier, p.a_shift))  # times <= 1/2: |.| <= 255 * 2^19
    b_scaled = np.asarray(multiply_by_quantized_multiplier(
        (b - p.b_zero_point) << p.left_shift, p.b_multiplier, p.b_shift))
    acc = a_scaled + sign * b_scaled                                # |acc| <= 255 * 2^20 < 2^28: int32
    return requantize(acc, p.out_multiplier, p.out_shift, p.out_zero_point, p.qmin, p.qmax)


def add_int8(a, b, params: AddParams):
    """int8 a + b (numpy broadcasting), TFLite's reference integer Add with single rounding.

      a_scaled = mbqm((a - zp_a) << 20, a_multiplier, a_shift)    one rounding, 20 fraction bits
      b_scaled = mbqm((b - zp_b) << 20, b_multiplier, b_shift)
      out      = requantize(a_scaled + b_scaled, out_multiplier, out_shift, zp_out, qmin, qmax)
    (mbqm = multiply_by_quantized_multiplier.) Ranges: a, b int8 so |a - zp| <= 255; shifted
    <= 255 * 2^20 < 2^28; input multipliers <= 1/2, so the int32 sum stays below 2^28: no overflow.
    Error: each input rescale is off by at most 1/2 + 1/8 (rounding, multiplier error) units of
    2^-20 * 2 max(s_a, s_b), so the result is within 1/2 + (5/4) * 2^-20 * 2 max(s_a, s_b) / s_out
    + |exact - zp_out| * 2^-30 LSB of the exact zp_out + (s_a (a - zp_a) + s_b (b - zp_b)) / s_out
    (clamped): under 1 LSB whenever s_out >= max(s_a, s_b) / 2^17.
    """
    return _add_or_sub(a, b, params, +1)


def sub_int8(a, b, params: AddParams):
    """int8 a - b: add_int8 with the rescaled b subtracted (TFLite's SubFunc); same ranges."""
    return _add_or_sub(a, b, params, -1)


# ---- Mul -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class MulParams:
    """The integers of one int8 Mul (from mul_params)."""
    a_zero_point: int
    b_zero_point: int
    multiplier: int
    shift: int
    out_zero_point: int
    qmin: int
    qmax: int


def mul_params(s_a: float, zp_a: int, s_b: float, zp_b: int, s_out: float, zp_out: int,
               qmin: int = -128, qmax: int = 127) -> MulParams:
    """Multiplier for s_a * s_b / s_out (float64; the product of two float32 scales is exact).
    s_out == 0 gives multiplier 0 (the constant clamp(zp_out))."""
    s_a, s_b, s_out = _check_scale(s_a, "s_a"), _check_scale(s_b, "s_b"), _check_scale(s_out, "s_out")
    for zp, what in ((zp_a, "zp_a"), (zp_b, "zp_b"), (zp_out, "zp_out")):
        _check_int8_zero_point(zp, what)
    _check_bounds(qmin, qmax)
    m, s = (0, 0) if s_out == 0.0 else quantize_multiplier(s_a * s_b / s_out)
    return MulParams(int(zp_a), int(zp_b), m, s, int(zp_out), int(qmin), int(qmax))


def mul_int8(a, b, params: MulParams):
    """int8 a * b (numpy broadcasting): requantize((a - zp_a) * (b - zp_b)), TFLite's reference Mul.

    |a - zp_a|, |b - zp_b| <= 255, so |acc| <= 65025: int32 with room to spare. One rounding; the
    result is within 1/2 LSB (plus the 2^-31 multiplier error) of the exact product.
    """
    a, b = _ints(a, "a"), _ints(b, "b")
    _check_range(a, -128, 127, "a (int8)")
    _check_range(b, -128, 127, "b (int8)")
    acc = (a - params.a_zero_point) * (b - params.b_zero_point)
    return requantize(acc, params.multiplier, params.shift, params.out_zero_point, params.qmin, params.qmax)


# ---- average pooling and mean --------------------------------------------------------------

@dataclass(frozen=True)
class AvgPoolParams:
    """Integers of one int8 average pool: multipliers[count - 1] / shifts[count - 1] encode
    s_in / (s_out * count) for every window count 1..max_count (windows clipped by padding are
    smaller when padding is not counted)."""
    in_zero_point: int
    multipliers: tuple[int, ...]
    shifts: tuple[int, ...]
    out_zero_point: int
    qmin: int
    qmax: int


@dataclass(frozen=True)
class MeanParams:
    """Integers of one int8 ReduceMean (over H, W) of a fixed `count` elements."""
    count: int
    in_zero_point: int
    multiplier: int
    shift: int
    out_zero_point: int
    qmin: int
    qmax: int


def _window_multipliers(s_in: float, s_out: float, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    if s_out == 0.0:
        return np.zeros(counts.shape, np.int32), np.zeros(counts.shape, np.int32)
    return quantize_multipliers(s_in / (s_out * counts.astype(np.float64)))


def _check_window(s_in, zp_in, s_out, zp_out, count, qmin, qmax) -> tuple[float, float]:
    s_in, s_out = _check_scale(s_in, "s_in"), _check_scale(s_out, "s_out")
    _check_int8_zero_point(zp_in, "zp_in")
    _check_int8_zero_point(zp_out, "zp_out")
    _check_bounds(qmin, qmax)
    if not 1 <= count <= MAX_WINDOW_COUNT:
        raise FixedPointError(f"window count must be in [1, {MAX_WINDOW_COUNT}] so that the int8 sum "
                              f"fits int32, got {count}")
    return s_in, s_out


def avgpool_params(s_in: float, zp_in: int, s_out: float, zp_out: int, max_count: int,
                   qmin: int = -128, qmax: int = 127) -> AvgPoolParams:
    """One multiplier per window count 1..max_count for s_in / (s_out * count), float64."""
    s_in, s_out = _check_window(s_in, zp_in, s_out, zp_out, max_count, qmin, qmax)
    m, s = _window_multipliers(s_in, s_out, np.arange(1, max_count + 1))
    return AvgPoolParams(int(zp_in), tuple(int(v) for v in m), tuple(int(v) for v in s),
                         int(zp_out), int(qmin), int(qmax))


def mean_params(s_in: float, zp_in: int, s_out: float, zp_out: int, count: int,
                qmin: int = -128, qmax: int = 127) -> MeanParams:
    """The multiplier for s_in / (s_out * count), float64, for a mean over `count` elements."""
    s_in, s_out = _check_window(s_in, zp_in, s_out, zp_out, count, qmin, qmax)
    m, s = _window_multipliers(s_in, s_out, np.array([count]))
    return MeanParams(int(count), int(zp_in), int(m[0]), int(s[0]), int(zp_out), int(qmin), int(qmax))


def _check_window_sum(window_sum: np.ndarray, count) -> None:
    if np.any(window_sum < -128 * count) or np.any(window_sum > 127 * count):
        raise FixedPointError("window_sum must be a sum of `count` int8 values, in [-128 * count, "
                              "127 * count]; check the kernel's window and count")


def _window_average(window_sum, count, in_zero_point, multiplier, shift, out_zero_point, qmin, qmax):
    acc = window_sum - count * in_zero_point          # zero point folded: |acc| <= 255 * count < 2^31
    return requantize(acc, multiplier, shift, out_zero_point, qmin, qmax)


def avg_int8(window_sum, count, params: AvgPoolParams):
    """Average of int8 windows: requantize(window_sum - count * zp_in) by s_in / (s_out * count).

    window_sum: int32 sum of the int8 values of each window, where a padding position that the op
    counts (ONNX count_include_pad=1) holds zp_in (the encoding of real 0); count: the divisor
    of each window, in [1, max_count] (arrays broadcast). One rounding, ties toward +inf up to
    the 2^-31 relative error of the multiplier: the result is within 1/2 LSB + |exact| * 2^-31 of
    zp_out + s_in * (window_sum - count * zp_in) / (s_out * count), clamped.
    Choice: unlike TFLite's pooling.h (integer division, ties away from zero, only for equal input
    and output quantization), qcomp divides with the multiplier so that every backend needs no
    integer division and equal and unequal quantizations share one code path; results differ from
    TFLite only on exact ties.
    """
    window_sum, count = _ints(window_sum, "window_sum"), _ints(count, "count")
    _check_range(count, 1, len(params.multipliers), "count")
    _check_window_sum(window_sum, count)
    idx = count - 1
    multiplier = np.asarray(params.multipliers, np.int64)[idx]
    shift = np.asarray(params.shifts, np.int64)[idx]
    return _window_average(window_sum, count, params.in_zero_point, multiplier, shift,
                           params.out_zero_point, params.qmin, params.qmax)


def mean_int8(window_sum, count: int, params: MeanParams):
    """ReduceMean of int8 over `count` elements (TFLite's integer mean, single rounding).

    window_sum: int32 sums of the raw int8 values, in [-128 * count, 127 * count]. Same algorithm
    and bound as avg_int8; the count is baked into the multiplier, so `count` must equal
    params.count (it is checked: a kernel summing another number of elements is a bug).
    """
    if count != params.count:
        raise FixedPointError(f"mean_int8: count {count} differs from the {params.count} elements the "
                              "parameters were derived for (mean_params)")
    window_sum = _ints(window_sum, "window_sum")
    _check_window_sum(window_sum, params.count)
    return _window_average(window_sum, params.count, params.in_zero_point, params.multiplier,
                           params.shift, params.out_zero_point, params.qmin, params.qmax)


# ---- lookup tables -------------------------------------------------------------------------

def build_lut(fn: Callable[[np.ndarray], np.ndarray], s_in: float, zp_in: int, s_out: float,
              zp_out: int, qmin: int = -128, qmax: int = 127) -> np.ndarray:
    """int8[256] table of an elementwise function: lut[q + 128] for q in [-128, 127].

      x = (q - zp_in) * s_in        float64, exact (9-bit integer times a float32 scale)
      y = fn(x)                     fn: vectorized float64 -> float64 (e.g. np.tanh)
      lut = clamp(rint(y / s_out) + zp_out, qmin, qmax)   float64 division, ties to even
    Ties to even, as `quantize` and ONNX QuantizeLinear, so a table equals the
    Dequantize -> fn -> Quantize chain it replaces (computed in float64). +-inf saturate;
    NaN raises. s_out == 0 gives clamp(zp_out) everywhere. The table is computed once at build
    time and shipped, so every backend is bit-exact by construction.
    """
    s_in, s_out = _check_scale(s_in, "s_in"), _check_scale(s_out, "s_out")
    _check_int8_zero_point(zp_in, "zp_in")
    _check_int8_zero_point(zp_out, "zp_out")
    if not -128 <= qmin <= qmax <= 127:
        raise FixedPointError(f"a lookup table needs -128 <= qmin <= qmax <= 127, got [{qmin}, {qmax}]")
    q = np.arange(-128, 128, dtype=np.int64)
    x = (q - zp_in).astype(np.float64) * s_in
    y = np.asarray(fn(x), dtype=np.float64)
    if y.shape != (256,):
        raise FixedPointError(f"lookup-table function must map 256 inputs to 256 outputs, got {y.shape}")
    if np.isnan(y).any():
        raise FixedPointError(f"lookup-table function returned NaN at int8 input(s) "
                              f"{q[np.isnan(y)][:4].tolist()} (x = {x[np.isnan(y)][:4].tolist()})")
    with np.errstate(over="ignore"):
        r = np.zeros(256) if s_out == 0.0 else np.rint(y / s_out)
    r = np.clip(r, qmin - zp_out, qmax - zp_out)
    return (r.astype(np.int64) + zp_out).astype(np.int8)


def apply_lut(q, lut: np.ndarray):
    """lut[q + 128] for int8 q. Hardware: TBL x4 (AArch64, 64 bytes each), VPERMI2B (AVX512-VBMI),
    a shared-memory load (CUDA)."""
    lut = np.asarray(lut)
    if lut.shape != (256,) or lut.dtype != np.int8:
        raise FixedPointError(f"a lookup table is int8[256], got {lut.dtype}{list(lut.shape)}")
    q = _ints(q, "q")
    _check_range(q, -128, 127, "q (int8)")
    return _scalar_or_array(lut[q + 128])


# ---- accumulator bound ---------------------------------------------------------------------

def max_abs_accumulator(k: int, w_max: int = 127, x_span: int = 255, bias_abs: int = 0) -> int:
    """Bound on |acc| of a K-term int8 dot product: k * w_max * x_span + bias_abs (exact int).

    acc = bias + sum_k w_k * (x_k - zp_x) with |w_k| <= w_max (127: symmetric weights) and
    |x_k - zp_x| <= x_span (255 for int8 activations). It bounds every partial sum, in any order,
    so int32 never wraps. It also bounds the folded forms the backends compute, provided the
    folded constant c * sum(w) is added first: with acc_0 = bias - c * sum_k w_k and terms
    w_k * (x_k + d) (zero point folded: c = zp_x, d = 0; VNNI u8 x s8: c = zp_x + 128, d = 128),
    the partial sum after J terms is bias + sum_{j<=J} w_j (x_j - zp_x) - c * sum_{j>J} w_j,
    and |c| <= 255, |x - zp_x| <= 255.
    """
    for v, what in ((k, "k"), (w_max, "w_max"), (x_span, "x_span"), (bias_abs, "bias_abs")):
        if int(v) != v or v < 0:
            raise FixedPointError(f"{what} must be a non-negative integer, got {v}")
    return int(k) * int(w_max) * int(x_span) + int(bias_abs)


def accumulator_fits_int32(k: int, bias_abs: int = 0, w_max: int = 127, x_span: int = 255) -> bool:
    """True if no int8 dot product of K terms plus a bias of magnitude <= bias_abs can overflow int32
    (max_abs_accumulator <= 2^31 - 1). The compiler refuses layers for which this is False."""
    return max_abs_accumulator(k, w_max, x_span, bias_abs) <= INT32_MAX
