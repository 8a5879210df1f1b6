/* Inlined forms of the spec's requantize and multiply_by_quantized_multiplier (qcomp_kernels.c) for
 * the kernels' inner loops (qcomp_kernels_conv.c through qcomp_dot.h, qcomp_kernels_elem.c): static
 * inline, so each includer gets its own copy and an unused one costs nothing.
 *
 * Both use the product's high word when total = 31 - shift > 32 (every multiplier below 1/2, the
 * common case): with P = acc * multiplier = H * 2^32 + L (0 <= L < 2^32) and the rounding term
 * 2^(total - 1) = 2^(total - 33) * 2^32,
 *
 *   floor((P + 2^(total-1)) / 2^total) = floor((H + 2^(total-33) + L / 2^32) / 2^(total-32))
 *                                      = (H + 2^(total-33)) >> (total - 32)
 *
 * since adding L / 2^32 in [0, 1) to an integer numerator never crosses a multiple of the
 * denominator. |P| < 2^62 makes |H| < 2^30, so H + 2^(total-33) <= 2^30 + 2^29 fits int32. For
 * total = 32 (Add's input rescale of the larger scale) the sum P + 2^31 is formed in int64 and its high
 * word taken (a constant shift); other shifts take the int64 form of qcomp_kernels.c. */
#ifndef QCOMP_REQUANT_H
#define QCOMP_REQUANT_H

#include "qcomp_kernels.h"

/* multiply_by_quantized_multiplier, as int32 (every caller's result fits: |acc * m / 2^total| < 2^31) */
static inline int32_t mbqm_out(int32_t acc, int32_t multiplier, int32_t shift) {
  const int32_t total = 31 - shift;
  if (total > 32) {
    const int32_t high = (int32_t)(((int64_t)acc * multiplier) >> 32);
    return (high + ((int32_t)1 << (total - 33))) >> (total - 32);
  }
  if (total == 32) return (int32_t)(((int64_t)acc * multiplier + ((int64_t)1 << 31)) >> 32);   /* a high word */
  return (int32_t)multiply_by_quantized_multiplier(acc, multiplier, shift);
}

/* requantize() of qcomp_kernels.c, inlined here for the common case total = 31 - shift > 32 (every
 * multiplier below 1/2): the high word of acc * multiplier, rounded and shifted (exact, see
 * requantize), then zp and the clamp. The shifted value is below 2^29 in magnitude and zp an int8 or
 * uint8 zero point, so the sum fits int32. Other shifts call requantize itself. */
static inline int32_t requant_out(int32_t acc, int32_t multiplier, int32_t shift, int32_t zero_point,
                                  int32_t qmin, int32_t qmax) {
  const int32_t total = 31 - shift;
  if (total > 32) {
    const int32_t high = (int32_t)(((int64_t)acc * multiplier) >> 32);
    const int32_t v = ((high + ((int32_t)1 << (total - 33))) >> (total - 32)) + zero_point;
    return v < qmin ? qmin : v > qmax ? qmax : v;
  }
  return requantize(acc, multiplier, shift, zero_point, qmin, qmax);
}

#endif /* QCOMP_REQUANT_H */
