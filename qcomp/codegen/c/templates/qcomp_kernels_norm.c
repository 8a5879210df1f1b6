/* Integer LayerNorm: qcomp/fixedpoint/layernorm.py transcribed line for line (same names, same
 * ranges). Per row of n int8 values: exact int64 statistics, one integer 1/sqrt (the digit-by-digit
 * square root and a restoring division: no library call, no float), then per element one
 * 32x32->64 multiply-add and the requantize-style rounding shift. */
#include "qcomp_kernels.h"

/* floor(sqrt(w)) for 0 <= w < 2^62 (fixedpoint.isqrt_u62): 32 steps; res + bit < 2^63 throughout. */
uint64_t qcomp_isqrt_u62(uint64_t w) {
  uint64_t res = 0, bit = (uint64_t)1 << 62;
  while (bit != 0) {
    if (w >= res + bit) {
      w -= res + bit;
      res = (res >> 1) + bit;
    } else {
      res >>= 1;
    }
    bit >>= 2;
  }
  return res;
}

/* (inv, s) with 1/sqrt(v) ~ inv * 2^(s - 61) for 1 <= v < 2^62 (fixedpoint.row_inverse_std):
 * W = v << 2s in [2^60, 2^62), sigma = isqrt(W) in [2^30, 2^31), inv = (2^61 + (sigma >> 1)) / sigma
 * in [2^30, 2^31] by restoring division (the quotient is below 2^32: num < sigma * 2^32). */
int64_t qcomp_row_inverse_std(int64_t v, int32_t *s) {
  const int32_t shift = (__builtin_clzll((unsigned long long)v) - 2) >> 1;
  const uint64_t sigma = qcomp_isqrt_u62((uint64_t)v << (2 * shift));
  uint64_t num = ((uint64_t)1 << 61) + (sigma >> 1), inv = 0;
  int32_t b;
  for (b = 31; b >= 0; --b) {
    if (num >= (sigma << b)) {
      num -= sigma << b;
      inv |= (uint64_t)1 << b;
    }
  }
  *s = shift;
  return (int64_t)inv;
}

/* y = layer_norm_int8 of each of `rows` contiguous rows of n elements (1 <= n <= 65536). */
void qcomp_layer_norm_int8(const int8_t *x, int8_t *y, int32_t rows, int32_t n, int64_t eps_q,
                           const int32_t *gamma_q, const int32_t *beta_q, int32_t input_zero_point,
                           int32_t output_zero_point, int32_t qmin, int32_t qmax) {
  int32_t r, c;
  for (r = 0; r < rows; ++r) {
    const int8_t *xr = x + (int64_t)r * n;
    int8_t *yr = y + (int64_t)r * n;
    int32_t total = 0, s, sh;
    uint32_t sumsq = 0;                                  /* <= 65025 n < 2^32 */
    int64_t ss, inv;
    for (c = 0; c < n; ++c) {
      const int32_t xc = xr[c] - input_zero_point;       /* [-255, 255] */
      total += xc;                                       /* |total| < 2^24 */
      sumsq += (uint32_t)(xc * xc);
    }
    ss = (int64_t)n * sumsq - (int64_t)total * total;    /* [0, 2^48) */
    inv = qcomp_row_inverse_std(ss + eps_q, &s);
    sh = 45 - s;                                         /* [15, 45] */
    for (c = 0; c < n; ++c) {
      const int32_t d = n * (xr[c] - input_zero_point) - total;                 /* |d| < 2^25 */
      const int32_t zq = (int32_t)(((int64_t)d * inv + ((int64_t)1 << (sh - 1))) >> sh);   /* < 2^25 */
      const int64_t acc = (int64_t)zq * gamma_q[c] + (int64_t)beta_q[c] * 65536;   /* |acc| < 2^48 */
      int64_t out = ((acc + ((int64_t)1 << 31)) >> 32) + output_zero_point;
      out = out < qmin ? qmin : out > qmax ? qmax : out;
      yr[c] = (int8_t)out;
    }
  }
}

/* y = layer_norm_int16 (qcomp/fixedpoint/layernorm16.py) of each of `rows` contiguous rows of n int16
 * values (1 <= n <= 32768), the same row helpers; out16: int16 output (zero point 0), else int8. */
void qcomp_layer_norm_int16(const int16_t *x, void *y, int32_t out16, int32_t rows, int32_t n, int64_t eps_q,
                            const int32_t *gamma_q, const int64_t *beta_q, int32_t output_zero_point,
                            int32_t qmin, int32_t qmax) {
  int32_t r, c;
  for (r = 0; r < rows; ++r) {
    const int64_t base = (int64_t)r * n;
    const int16_t *xr = x + base;
    int64_t total = 0, sumsq = 0, ss, inv;               /* |total| <= 2^30, sumsq <= 2^45 */
    int32_t s, sh;
    for (c = 0; c < n; ++c) {
      const int32_t xc = xr[c];
      total += xc;
      sumsq += (int64_t)(xc * xc);                       /* xc^2 <= 2^30 */
    }
    ss = (int64_t)n * sumsq - total * total;             /* [0, 2^60) */
    inv = qcomp_row_inverse_std(ss + eps_q, &s);
    sh = 39 - s;                                         /* [9, 39] */
    for (c = 0; c < n; ++c) {
      const int64_t d = (int64_t)n * xr[c] - total;                                /* |d| < 2^31 */
      const int64_t zq = (d * inv + ((int64_t)1 << (sh - 1))) >> sh;              /* |zq| < 2^30 */
      const int64_t acc = zq * gamma_q[c] + beta_q[c];                             /* |acc| < 2^62 */
      int64_t out = ((acc + ((int64_t)1 << 37)) >> 38) + output_zero_point;
      out = out < qmin ? qmin : out > qmax ? qmax : out;
      if (out16) {
        ((int16_t *)y)[base + c] = (int16_t)out;
      } else {
        ((int8_t *)y)[base + c] = (int8_t)out;
      }
    }
  }
}
