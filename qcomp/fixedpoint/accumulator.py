"""Accumulator bounds: the build-time proof that an integer dot product cannot overflow.

  int8 x int8:   |acc| <= K * 127 * 255 + |bias|      (int32 always; the compiler refuses otherwise)
  int16 x int8:  |acc| <= K * 32768 * 128 + |bias|    (int32 when it fits, int64 otherwise)
"""
from __future__ import annotations

from .core import INT32_MAX, FixedPointError

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


# ---- int16 activations x int8 weights (A16W8) ---------------------------------------------------

ACC64_LIMIT = 1 << 47   # |acc| must stay below this for multiply_by_quantized_multiplier_64 (int16.py)


def max_abs_accumulator16(k: int, bias_abs: int = 0, w_max: int = 128, x_max: int = 32768) -> int:
    """Bound on |acc| of a K-term int16 x int8 dot product: k * x_max * w_max + bias_abs (exact int).

    acc = bias + sum_k w_k * x_k with int16 activations of zero point 0 (|x_k| <= 32768: the kernel
    accepts every int16 value, -32768 included) and int8 weights (|w_k| <= 128: a weight imported
    from a QDQ model may hold -128; qcomp's own weights stay in [-127, 127]). No zero point is
    folded, so this bounds every partial sum in any order (the bias added first or last).
    """
    for v, what in ((k, "k"), (bias_abs, "bias_abs"), (w_max, "w_max"), (x_max, "x_max")):
        if int(v) != v or v < 0:
            raise FixedPointError(f"{what} must be a non-negative integer, got {v}")
    return int(k) * int(x_max) * int(w_max) + int(bias_abs)


def accumulator16_bits(k: int, bias_abs: int = 0, w_max: int = 128, x_max: int = 32768) -> int:
    """The accumulator width of an A16W8 dot product, chosen at build time: 32 or 64.

      32  when max_abs_accumulator16 <= 2^31 - 1        (K <= 511 with no bias: 511 * 2^22 < 2^31)
      64  when max_abs_accumulator16 <  2^47            (K < 2^25 with no bias)
    The width decides the requantize formula (int16.requantize_acc): the exact 31-bit multiplier on
    an int32 accumulator, TFLite's 16-bit reduced multiplier on an int64 one. Beyond 2^47 the int64
    rescale could overflow: FixedPointError, which the compiler reports as a refusal of the layer.
    """
    bound = max_abs_accumulator16(k, bias_abs, w_max, x_max)
    if bound <= INT32_MAX:
        return 32
    if bound < ACC64_LIMIT:
        return 64
    raise FixedPointError(f"an int16 x int8 dot product of K={k} terms with |bias| <= {bias_abs} can reach "
                          f"|acc| = {bound} >= 2^47, beyond the int64 requantize's range; split the "
                          "reduction or keep this layer in int8")
