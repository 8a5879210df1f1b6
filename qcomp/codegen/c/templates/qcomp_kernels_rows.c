/* Row kernels of the C backend (qcomp/codegen/c): integer Softmax and TopK, each over the rows of
 * one axis. The arithmetic is the spec's (qcomp/fixedpoint/softmax.py), line for line. */
#include "qcomp_kernels.h"

/* ---- integer Softmax: qcomp/fixedpoint/softmax.py (TFLite's int8 Softmax, gemmlowp fixed point),
 * line for line with the same names. int32 values, int64 products; ranges as stated there. ---- */

/* (a * b + 2^30) >> 31, saturated for a = b = INT32_MIN (the only product of 2^62). SQRDMULH. */
int32_t saturating_rounding_doubling_high_mul(int32_t a, int32_t b) {
  if (a == INT32_MIN && b == INT32_MIN) return INT32_MAX;
  return (int32_t)(((int64_t)a * b + ((int64_t)1 << 30)) >> 31);
}

/* x / 2^exponent rounded half away from zero, exponent in [0, 62] (gemmlowp RoundingDivideByPOT). */
int64_t rounding_divide_by_pot(int64_t x, int32_t exponent) {
  const int64_t mask = ((int64_t)1 << exponent) - 1;
  const int64_t remainder = x & mask;
  const int64_t threshold = (mask >> 1) + (x < 0 ? 1 : 0);
  return (x >> exponent) + (remainder > threshold ? 1 : 0);
}

/* clamp(x * 2^exponent) to int32, exponent in [1, 30] (SaturatingRoundingMultiplyByPOT). */
static int32_t saturating_left_shift(int32_t x, int32_t exponent) {
  const int32_t threshold = ((int32_t)1 << (31 - exponent)) - 1;
  if (x > threshold) return INT32_MAX;
  if (x < -threshold) return INT32_MIN;
  return x * ((int32_t)1 << exponent);   /* |x| <= threshold: the product fits */
}

#define srdhm saturating_rounding_doubling_high_mul

/* exp(a) for Q0.31 a in [-1/4, 0): Taylor series around -1/8, gemmlowp's constants. */
static int32_t exp_on_interval_between_negative_one_quarter_and_0_excl(int32_t a) {
  const int32_t constant_term = 1895147668;      /* exp(-1/8) in Q0.31 */
  const int32_t constant_1_over_3 = 715827883;   /* 1/3 in Q0.31 */
  const int32_t x = a + ((int32_t)1 << 28);      /* a + 1/8 */
  const int32_t x2 = srdhm(x, x);
  const int32_t x3 = srdhm(x2, x);
  const int32_t x4 = srdhm(x2, x2);
  const int32_t x4_over_4 = (int32_t)rounding_divide_by_pot(x4, 2);
  const int32_t poly = srdhm(x4_over_4 + x3, constant_1_over_3) + x2;
  const int32_t x4_over_24_plus_x3_over_6_plus_x2_over_2 = (int32_t)rounding_divide_by_pot(poly, 1);
  return constant_term + srdhm(constant_term, x + x4_over_24_plus_x3_over_6_plus_x2_over_2);
}

/* exp(a) for Q5.26 a <= 0, in Q0.31: the interval exp of a mod 1/4, then one multiplier per bit of
 * the rest (gemmlowp's barrel shifter, exp(-2^k) for k = -2 .. 4). */
int32_t exp_on_negative_values(int32_t a) {
  static const int32_t barrel[7] = {1672461947, 1302514674, 790015084, 290630308, 39332535, 720401, 242};
  const int32_t frac_bits = 26;                  /* 31 - SCALED_DIFF_INTEGER_BITS */
  const int32_t one_quarter = (int32_t)1 << (frac_bits - 2);
  const int32_t a_mod_quarter_minus_one_quarter = (a & (one_quarter - 1)) - one_quarter;
  const int32_t remainder = a_mod_quarter_minus_one_quarter - a;   /* in [0, 2^31 - 2^24] */
  int32_t result = exp_on_interval_between_negative_one_quarter_and_0_excl(
      saturating_left_shift(a_mod_quarter_minus_one_quarter, 5));
  int32_t k;
  for (k = 0; k < 7; ++k) {
    if ((remainder >> (frac_bits - 2 + k)) & 1) result = srdhm(result, barrel[k]);
  }
  return a == 0 ? INT32_MAX : result;
}

/* 1 / (1 + a) for Q0.31 a in [0, 1), Q0.31: 48/17 - 32/17 d, then three Newton-Raphson steps. */
int32_t one_over_one_plus_x_for_x_in_0_1(int32_t a) {
  const int64_t total = (int64_t)a + INT32_MAX;                  /* RoundingHalfSum(a, One()) */
  const int32_t half_denominator = (int32_t)((total + 1) >> 1);
  const int32_t constant_48_over_17 = 1515870810;               /* Q2.29 */
  const int32_t constant_neg_32_over_17 = -1010580540;          /* Q2.29 */
  const int32_t one_q2 = (int32_t)1 << 29;
  int32_t x = constant_48_over_17 + srdhm(half_denominator, constant_neg_32_over_17);
  int32_t i;
  for (i = 0; i < 3; ++i) {
    const int32_t half_denominator_times_x = srdhm(half_denominator, x);
    const int32_t one_minus_half_denominator_times_x = one_q2 - half_denominator_times_x;
    x = x + saturating_left_shift(srdhm(x, one_minus_half_denominator_times_x), 2);
  }
  return saturating_left_shift(x, 1);
}

static int32_t count_leading_zeros(uint32_t x) {   /* x >= 1 */
#if defined(__GNUC__) || defined(__clang__)
  return (int32_t)__builtin_clz(x);
#else
  int32_t n = 0;
  while (!(x & 0x80000000u)) { x <<= 1; ++n; }
  return n;
#endif
}

/* 2^n / x in Q0.31 for x in [1, 2^31 - 1] with x_integer_digits integer bits; n returned. */
int32_t get_reciprocal(int32_t x, int32_t x_integer_digits, int32_t *num_bits_over_unit) {
  const int32_t clz = count_leading_zeros((uint32_t)x);
  const int32_t shifted_sum_minus_one = (int32_t)(((uint32_t)x << clz) - 0x80000000u);
  *num_bits_over_unit = x_integer_digits - clz;
  return one_over_one_plus_x_for_x_in_0_1(shifted_sum_minus_one);
}

/* y = softmax_int8 of each row: `depth` elements `inner` apart, rows at (o, i) for o < outer,
 * i < inner. The Q12.19 sum of at most 4095 exps (each <= 2^19) fits int32; diff >= diff_min
 * keeps diff << input_left_shift inside int32. */
void qcomp_softmax_int8(const int8_t *x, int8_t *y, int32_t outer, int32_t depth, int32_t inner,
                        int32_t input_multiplier, int32_t input_left_shift, int32_t diff_min) {
  int32_t o, i, c;
  for (o = 0; o < outer; ++o) {
    for (i = 0; i < inner; ++i) {
      const int64_t base = (int64_t)o * depth * inner + i;
      int32_t max = -128, sum_of_exps = 0, num_bits_over_unit, recip;
      for (c = 0; c < depth; ++c) {
        if (x[base + (int64_t)c * inner] > max) max = x[base + (int64_t)c * inner];
      }
      for (c = 0; c < depth; ++c) {
        const int32_t diff = x[base + (int64_t)c * inner] - max;
        if (diff >= diff_min) {
          const int32_t a = srdhm(diff * ((int32_t)1 << input_left_shift), input_multiplier);
          sum_of_exps += (int32_t)rounding_divide_by_pot(exp_on_negative_values(a), 12);
        }
      }
      recip = get_reciprocal(sum_of_exps, 12, &num_bits_over_unit);
      for (c = 0; c < depth; ++c) {
        const int32_t diff = x[base + (int64_t)c * inner] - max;
        int32_t out = -128;
        if (diff >= diff_min) {
          const int32_t a = srdhm(diff * ((int32_t)1 << input_left_shift), input_multiplier);
          const int64_t v = rounding_divide_by_pot(srdhm(recip, exp_on_negative_values(a)),
                                                   num_bits_over_unit + 31 - 8) - 128;
          out = (int32_t)(v < -128 ? -128 : v > 127 ? 127 : v);
        }
        y[base + (int64_t)c * inner] = (int8_t)out;
      }
    }
  }
}

#undef srdhm

/* ---- TopK: pick j is the first element, in the order (value, then index), strictly after pick j-1;
 * O(k * n) comparisons per row and no scratch (the same rule as qcomp/ref/float_select.py) ---- */
static int32_t qcomp_topk_before(int32_t va, int32_t ia, int32_t vb, int32_t ib, int32_t largest) {
  if (va != vb) return largest ? va > vb : va < vb;
  return ia < ib;
}

void qcomp_topk_int8(const int8_t *x, int8_t *values, int64_t *indices, int32_t outer, int32_t n, int32_t inner,
                     int32_t k, int32_t largest) {
  int32_t o, i, j, t;
  for (o = 0; o < outer; ++o) {
    for (i = 0; i < inner; ++i) {
      const int8_t *row = x + (int64_t)o * n * inner + i;
      int32_t prev_v = 0, prev_i = -1;
      for (j = 0; j < k; ++j) {
        int32_t best_v = 0, best_i = -1;
        for (t = 0; t < n; ++t) {
          const int32_t v = row[(int64_t)t * inner];
          const int32_t after = prev_i < 0 || qcomp_topk_before(prev_v, prev_i, v, t, largest);
          if (after && (best_i < 0 || qcomp_topk_before(v, t, best_v, best_i, largest))) {
            best_v = v;
            best_i = t;
          }
        }
        values[((int64_t)o * k + j) * inner + i] = (int8_t)best_v;
        indices[((int64_t)o * k + j) * inner + i] = best_i;
        prev_v = best_v;
        prev_i = best_i;
      }
    }
  }
}
