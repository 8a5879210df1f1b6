"""The int8 Softmax (softmax.py) through a 256-entry exp table: the same integers, fewer operations.

Why a table is exact. In softmax_int8 an element's exp is a function of its difference alone:

  e(diff) = exp_on_negative_values(srdhm(diff << input_left_shift, input_multiplier))

and for int8 rows diff = x - max(x) lies in [-255, 0]: 256 possible arguments. The table

  exp_table[t] = e(-t)   if -t >= diff_min          t = max(x) - x in [0, 255]
               = 0       otherwise (skipped)

is e at every argument the spec can meet, computed by the spec's own functions (so each entry is the
spec's value by construction, not an approximation of it). A skipped element, one with a zero entry,
then needs no mask in either use:

  sum      term_t = rounding_divide_by_pot(exp_table[t], 12) = (exp_table[t] + 2^11) >> 12
           (the entry is >= 0, so ties away from zero is round half up; a skipped entry gives 0, as the
           spec's `where(kept, ..., 0)`); sum = sum over the row of term_t, in [2^19, 4095 * 2^19]:
           the maximum's own entry is e(0) = 2^31 - 1, whose term is 2^19.
  recip    (recip, n) = get_reciprocal(sum, 12), once per row: recip in (0, 2^31), and n = 12 - clz(sum)
           in [0, 11] because 2^19 <= sum < 2^31, so the final exponent E = n + 23 lies in [23, 34].
  out      s = srdhm(recip, exp_table[t]) = (recip * exp_table[t] + 2^30) >> 31 in [0, 2^31) (both
           factors >= 0: never the saturating case); rounding_divide_by_pot(s, E) = (s + 2^(E-1)) >> E
           for s >= 0. For E >= 32 that is 0 for every s < 2^31 (s + 2^(E-1) < 2^E): the kernels use
           recip = 0 and E = 31 then, which gives the same 0. For E <= 31, s + 2^(E-1) < 2^31 + 2^30
           fits an unsigned 32-bit lane. out = min(that, 255) - 128 (it is >= 0: the spec's lower
           clamp never acts); a skipped element has s = 0 and gets -128, the spec's value.

So every row's output equals softmax_int8's, for every parameter set the spec accepts whose kept
differences fit int32 after the left shift (softmax_params guarantees it; exp_table refuses others by
raising as the spec would). tests/fixedpoint/test_softmax_table.py checks it exhaustively: rows that
hold every (max, x) pair, under parameter sets from the smallest to the largest input scale.
softmax_int8_by_table is the formulation the llvm vector kernel (kernels_softmax_vec.py) transcribes.
"""
from __future__ import annotations

import numpy as np

from .core import INT32_MAX, FixedPointError, _check_range, _ints
from .softmax import (ACCUMULATION_INTEGER_BITS, OUTPUT_ZERO_POINT, SOFTMAX_MAX_DEPTH, SoftmaxParams,
                      exp_on_negative_values, get_reciprocal, srdhm)

EXP_TABLE_SIZE = 256                 # t = max(x) - x for int8 x: [0, 255]


def exp_table(params: SoftmaxParams) -> np.ndarray:
    """exp_table[t] (int64, 256 entries, each in [0, 2^31 - 1]): the spec's e(-t), 0 where skipped."""
    diff = -np.arange(EXP_TABLE_SIZE, dtype=np.int64)
    kept = diff >= params.diff_min
    safe = np.where(kept, diff, 0)
    scaled = safe << params.input_left_shift
    if scaled.min() < -(1 << 31):
        raise FixedPointError(f"softmax: diff << input_left_shift leaves int32 for diff_min {params.diff_min} "
                              f"and shift {params.input_left_shift}")
    e = exp_on_negative_values(srdhm(scaled, params.input_multiplier))
    table = np.where(kept, e, 0).astype(np.int64)
    assert table.min() >= 0 and table.max() <= INT32_MAX and table[0] == INT32_MAX
    return table


def final_shift(sum_of_exps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(recip, E) per row as the kernels use them: get_reciprocal's recip and E = n + 23, with
    (recip, E) = (0, 31) where E >= 32 (every output of such a row is -128 either way)."""
    recip, num_bits_over_unit = get_reciprocal(sum_of_exps, ACCUMULATION_INTEGER_BITS)
    exponent = num_bits_over_unit + 31 - 8
    return np.where(exponent >= 32, 0, recip), np.minimum(exponent, 31)


def softmax_int8_by_table(x, params: SoftmaxParams) -> np.ndarray:
    """softmax_int8 along the last axis, through exp_table (see the module docstring): int8."""
    x = _ints(x, "x")
    _check_range(x, -128, 127, "x (int8)")
    if x.ndim == 0 or not 1 <= x.shape[-1] <= SOFTMAX_MAX_DEPTH:
        raise FixedPointError(f"softmax: rows of 1 to {SOFTMAX_MAX_DEPTH} elements, got shape {x.shape}")
    table = exp_table(params)
    e = table[x.max(axis=-1, keepdims=True) - x]
    sum_of_exps = ((e + (1 << 11)) >> 12).sum(axis=-1, keepdims=True)
    recip, exponent = final_shift(sum_of_exps)
    s = (recip * e + (1 << 30)) >> 31
    rounded = (s + (np.int64(1) << (exponent - 1))) >> exponent
    return (np.minimum(rounded, 255) + OUTPUT_ZERO_POINT).astype(np.int8)
