"""Integer Softmax, int16 -> int16 (A16W8): TFLite's 16x8 Softmax (SoftmaxInt16), two 513-entry tables.

Input: int16, symmetric (zero point 0), scale s_in; output: int16 at scale 1/32768, zero point 0,
values in [0, 32767] (TFLite's required output quantization). For one row x (the reduced axis):

  diff_c  = x_c - max(x)                                       in [-65535, 0]
  scaled_c = multiply_by_quantized_multiplier(diff_c, input_multiplier, input_shift)
                                                               ~ diff_c * beta * s_in * 65535 / R
  sym_c   = clamp(scaled_c + 32767, -32768, 32767)             [-R, 0] in real terms onto int16
  e_c     = lut16_lookup(sym_c, exp_lut)                       Q0.15: exp(beta * s_in * diff_c)
  sum     = sum_c e_c                                          Q16.15, int32
  h       = count_leading_zeros(uint32 sum)                    in [1, 17]: sum >= 2^14 (below)
  shifted = ((sum << (h - 1)) + 2^13) >> 14                    in [2^16, 2^17]: sum / 2^(31-h) in Q1.16
  sym_sum = clamp(shifted - 2^16 - 2^15, -32768, 32767)        the normalized sum minus 1, onto int16
  recip   = lut16_lookup(sym_sum, recip_lut)                   Q0.15: 1 / (1 + (shifted - 2^16) / 2^16)
  out_c   = clamp((e_c * recip + 2^(r - 1)) >> r, 0, 32767),   r = 31 - h in [14, 30]
so out_c ~ e_c * 2^15 / sum, the probability in Q0.15. lut16_lookup is lut16.py's interpolated
lookup (TFLite's lut_lookup_with_interpolation). Build time (float64, softmax16_params):

  real = min(beta * s_in * 65535 / R, 2^16);  (input_multiplier, input_shift) = quantize_multiplier(real)
  exp_lut   = build_lut16(t -> exp(t - 32767 s), s, 2^-15, 0, 0, 32767),  s = R / 65535
              (entry i at sym = -32768 + 128 i, i.e. real x = (128 i - 65535) s <= s)
  recip_lut = build_lut16(t -> 1 / (1.5 + t), 2^-16, 2^-15, 0, 0, 32767)
              (entry i at sym = -32768 + 128 i, i.e. normalized sum 1 + 128 i / 2^16)

Ranges (every value int32 but the multiply, int64 as in core.py): |diff| <= 65535 and the
multiplier < 2^31, so |diff * m| < 2^47; |scaled| <= 65535 * 2^16 before the clamp (computed in
int64, then clamped). e_c in [0, 32767] (the tables are clamped to [0, 32767]), so with at most
SOFTMAX16_MAX_DEPTH = 65536 elements the sum is below 2^31. The row maximum has diff 0, sym 32767
and e = lut16_lookup(32767, exp_lut) = EXP_AT_ZERO (32761 > 2^14), so sum >= 2^14, h <= 17 and
r >= 14; sum << (h - 1) < 2^31 and the + 2^13 is done in int64 (TFLite's int64 cast).
e_c * recip < 2^30 and the rounding term is at most 2^29: int32.

Rules and where they differ from TFLite (reference/softmax.h SoftmaxInt16, softmax.cc Prepare):
- The exp table spans R = EXP_RANGE = 12 below the row maximum, where TFLite spans 10. TFLite's
  exp(-10) * 2^15 = 1.49 rounds to 1: every element more than 10 below its row's maximum (an
  attention entry masked by a large negative bias, which calibration saturates at its range's low
  end) adds 1 or 2 to the sum and gets probability 1/32768 instead of 0; with many masked
  entries that biases every probability of the row down (128 masked entries: about 0.6 % of one
  full probability). exp(-12) * 2^15 = 0.20 rounds to 0 (the first entry that is not 0 is
  exp(-11.09)), so saturated entries weigh exactly 0, as in float. The cost: the table's step
  grows from 10/512 to 12/512 (interpolation error still within about 1 LSB).
- The rescale of the difference is qcomp's single-rounding multiply_by_quantized_multiplier
  (core.py), not TFLite's two-rounding MultiplyByQuantizedMultiplier; real is capped at 2^16,
  which changes no result (any real >= 65535 already saturates every nonzero difference) and
  keeps the shift within [.., 17].
- The tables sit on the exact int16 grid of their lookup, as lut16.py's tables do (TFLite steps by
  (max - min) / 512 from the float range ends), with the balanced sample-minus-half-midpoint-error
  rule of lut16.py. The reciprocal table's input is the normalized sum on its own grid (2^-16 per
  step), where TFLite's tables use 1/65535.
- A real multiplier below 2^-32 (beta * s_in tiny, or s_in = 0: an all-zero input) is (0, 0): every
  element's exp is EXP_AT_ZERO and the row is uniform, the float result within 2^-17. No scale is
  refused (the int8 Softmax refuses beta * s_in <= 2^-26). Rows of 1 to 65536 elements.
Accuracy: within a few LSB of round(32768 * softmax(beta * s_in * x)) (tests/fixedpoint/test_fp_softmax16.py).
Hardware: the lookups are two scalar loads (gathers on x86 VPGATHERDD), clz is LZCNT / CLZ / __clz.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from .core import FixedPointError, _check_range, _ints, multiply_by_quantized_multiplier, quantize_multiplier
from .lut16 import LUT16_SIZE, build_lut16, lut16_lookup

EXP_RANGE = 12.0                     # R: the exp table spans [-R, 0] (TFLite: 10; see the docstring)
SOFTMAX16_MAX_DEPTH = 65536          # 65536 * 32767 < 2^31: the Q16.15 sum fits int32
OUTPUT16_SCALE, OUTPUT16_ZERO_POINT = 1.0 / 32768.0, 0
MAX_REAL16 = 65536.0                 # the cap of the difference's real multiplier
_TOP = (1 << 15) - 1


@dataclass(frozen=True)
class Softmax16Params:
    """The integers of one int16 Softmax (softmax16_params)."""
    input_multiplier: int
    input_shift: int


def softmax16_params(beta: float, s_in: float) -> Softmax16Params:
    """real = min(beta * s_in * 65535 / R, 2^16) -> quantize_multiplier (float64; see the module docstring)."""
    beta, s_in = float(beta), float(s_in)
    if not (np.isfinite(beta) and np.isfinite(s_in) and beta > 0 and s_in >= 0):
        raise FixedPointError(f"softmax16: beta must be finite and > 0 and the input scale finite and >= 0, "
                              f"got {beta}, {s_in}")
    real = min(beta * s_in * 65535.0 / EXP_RANGE, MAX_REAL16)
    m, e = quantize_multiplier(real)
    return Softmax16Params(m, e)


@lru_cache(maxsize=1)
def _exp_lut() -> np.ndarray:
    s = EXP_RANGE / 65535.0
    with np.errstate(over="ignore"):
        table = build_lut16(lambda t: np.exp(t - 32767.0 * s), s, OUTPUT16_SCALE, 0, 0, _TOP)
    table.flags.writeable = False
    return table


@lru_cache(maxsize=1)
def _recip_lut() -> np.ndarray:
    table = build_lut16(lambda t: 1.0 / (1.5 + t), 1.0 / 65536.0, OUTPUT16_SCALE, 0, 0, _TOP)
    table.flags.writeable = False
    return table


def softmax16_exp_lut() -> np.ndarray:
    """int16[513]: exp over [-R, 0] on the int16 grid, Q0.15 (read-only; the same array every call)."""
    return _exp_lut()


def softmax16_recip_lut() -> np.ndarray:
    """int16[513]: 1 / (1 + x) for x in [0, 1] at 2^-16 per step, Q0.15 (read-only)."""
    return _recip_lut()


def softmax16_refusal(depth: int) -> str | None:
    """Why an int16 Softmax over rows of `depth` elements cannot follow this spec, or None."""
    if not 1 <= depth <= SOFTMAX16_MAX_DEPTH:
        return (f"its rows hold {depth} elements; the int16 Softmax takes 1 to {SOFTMAX16_MAX_DEPTH} "
                "(the Q16.15 sum of exps must fit int32)")
    return None


def count_leading_zeros32(x) -> np.ndarray:
    """clz of uint32 x for x in [1, 2^32 - 1] (exact through float64: x < 2^53)."""
    x = _ints(x, "x")
    _check_range(x, 1, (1 << 32) - 1, "x (a nonzero uint32)")
    return 32 - np.frexp(x.astype(np.float64))[1].astype(np.int64)


def softmax16_reciprocal(sum_of_exps, recip_lut: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(recip Q0.15, right_shift r = 31 - h) of a Q16.15 sum in [2^14, 2^31 - 1] (module docstring)."""
    s = _ints(sum_of_exps, "sum_of_exps")
    _check_range(s, 1 << 14, (1 << 31) - 1, "sum of exps (Q16.15)")
    headroom_plus_one = count_leading_zeros32(s)
    shifted_sum = ((s << (headroom_plus_one - 1)) + (1 << 13)) >> 14
    sym_shifted_sum = np.clip(shifted_sum - (1 << 16) - (1 << 15), -32768, 32767)
    return np.asarray(lut16_lookup(sym_shifted_sum, recip_lut), np.int64), 31 - headroom_plus_one


def softmax_int16(x, params: Softmax16Params, axis: int = -1, exp_lut: np.ndarray | None = None,
                  recip_lut: np.ndarray | None = None) -> np.ndarray:
    """int16 Softmax along `axis`: int16 in [0, 32767], scale 1/32768 (module docstring).

    exp_lut, recip_lut: int16[513] (default: softmax16_exp_lut(), softmax16_recip_lut(), the spec's
    tables; the IR op carries them as constants). The tables' values must lie in [0, 32767] and the
    exp table's value at 32767 must be at least 2^14 (the spec's tables: EXP_AT_ZERO)."""
    exp_lut = softmax16_exp_lut() if exp_lut is None else np.asarray(exp_lut)
    recip_lut = softmax16_recip_lut() if recip_lut is None else np.asarray(recip_lut)
    for name, t in (("exp_lut", exp_lut), ("recip_lut", recip_lut)):
        if t.shape != (LUT16_SIZE,) or t.dtype != np.int16 or t.min() < 0:
            raise FixedPointError(f"softmax16: {name} must be int16[{LUT16_SIZE}] in [0, 32767], got "
                                  f"{t.dtype}{list(t.shape)}")
    if int(lut16_lookup(_TOP, exp_lut)) < (1 << 14):
        raise FixedPointError("softmax16: exp_lut at the row maximum must be at least 2^14")
    x = _ints(x, "x")
    _check_range(x, -32768, 32767, "x (int16)")
    if not (0 <= params.input_multiplier < (1 << 31) and -31 <= params.input_shift <= 17):
        raise FixedPointError(f"softmax16: parameters out of range: {params}")
    if x.ndim == 0:
        raise FixedPointError("softmax16: the input must have at least one dimension")
    rows = np.moveaxis(x, axis, -1)
    if softmax16_refusal(rows.shape[-1]) is not None:
        raise FixedPointError(f"softmax16: a row has {rows.shape[-1]} elements; 1 to {SOFTMAX16_MAX_DEPTH} "
                              "are supported")
    diff = rows - rows.max(axis=-1, keepdims=True)
    scaled_diff = np.asarray(multiply_by_quantized_multiplier(diff, params.input_multiplier, params.input_shift))
    sym_scaled_diff = np.clip(scaled_diff + 32767, -32768, 32767)
    exp_result = np.asarray(lut16_lookup(sym_scaled_diff, exp_lut), np.int64)
    sum_of_exps = exp_result.sum(axis=-1, keepdims=True)
    recip, right_shift = softmax16_reciprocal(sum_of_exps, recip_lut)
    out = (exp_result * recip + (np.int64(1) << (right_shift - 1))) >> right_shift
    return np.moveaxis(np.clip(out, 0, _TOP), -1, axis).astype(np.int16)


EXP_AT_ZERO = int(lut16_lookup(_TOP, softmax16_exp_lut()))   # exp(0) as the table gives it
