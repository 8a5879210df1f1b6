/* int16 Softmax of the C backend (QSoftmax16, qcomp/ir/qops16_softmax.py): qcomp/fixedpoint/softmax16.py
 * (TFLite's 16x8 rule: an exp table and a 1 / (1 + x) table), line for line with the same names.
 * Compiled into int16 models only, with qcomp_kernels16.c (lut16_lookup). Integer only: int32
 * values, the difference's rescale and the normalized sum in int64. Ranges as stated there:
 * |diff| <= 65535; the Q16.15 sum of at most 65536 exps (each <= 32767) is below 2^31 and at least
 * 2^14 (the row maximum's exp), so headroom_plus_one is in [1, 17] and right_shift in [14, 30];
 * exp * reciprocal < 2^30. */
#include "qcomp_kernels16.h"

static int32_t clamp16(int64_t v, int32_t lo, int32_t hi) {
  return v < lo ? lo : (v > hi ? hi : (int32_t)v);
}

static int32_t count_leading_zeros16(uint32_t x) {   /* x >= 1 */
#if defined(__GNUC__) || defined(__clang__)
  return (int32_t)__builtin_clz(x);
#else
  int32_t n = 0;
  while (!(x & 0x80000000u)) { x <<= 1; ++n; }
  return n;
#endif
}

static int32_t softmax16_exp(int32_t diff, int32_t input_multiplier, int32_t input_shift, const int16_t *exp_lut) {
  const int64_t scaled_diff = multiply_by_quantized_multiplier(diff, input_multiplier, input_shift);
  return lut16_lookup(clamp16(scaled_diff + 32767, -32768, 32767), exp_lut);
}

/* y = softmax_int16 of each row: `depth` elements `inner` apart, rows at (o, i), o < outer, i < inner. */
void qcomp_softmax16(const int16_t *x, const int16_t *exp_lut, const int16_t *recip_lut, int16_t *y, int32_t outer,
                     int32_t depth, int32_t inner, int32_t input_multiplier, int32_t input_shift) {
  int32_t o, i, c;
  for (o = 0; o < outer; ++o) {
    for (i = 0; i < inner; ++i) {
      const int64_t base = (int64_t)o * depth * inner + i;
      int32_t max_in_row = -32768, sum_of_exps = 0;
      int32_t headroom_plus_one, right_shift, reciprocal_scale;
      int64_t shifted_sum;
      for (c = 0; c < depth; ++c) {
        const int32_t v = x[base + (int64_t)c * inner];
        if (v > max_in_row) max_in_row = v;
      }
      for (c = 0; c < depth; ++c) {
        sum_of_exps += softmax16_exp(x[base + (int64_t)c * inner] - max_in_row, input_multiplier, input_shift, exp_lut);
      }
      headroom_plus_one = count_leading_zeros16((uint32_t)sum_of_exps);
      shifted_sum = (((int64_t)sum_of_exps << (headroom_plus_one - 1)) + (1 << 13)) >> 14;
      reciprocal_scale = lut16_lookup(clamp16(shifted_sum - ((1 << 16) + (1 << 15)), -32768, 32767), recip_lut);
      right_shift = 31 - headroom_plus_one;
      for (c = 0; c < depth; ++c) {
        const int32_t e = softmax16_exp(x[base + (int64_t)c * inner] - max_in_row, input_multiplier, input_shift,
                                        exp_lut);
        const int32_t result = (e * reciprocal_scale + (1 << (right_shift - 1))) >> right_shift;
        y[base + (int64_t)c * inner] = (int16_t)clamp16(result, 0, 32767);
      }
    }
  }
}
