/* qcomp A16W8 kernels (see qcomp_kernels16.h): int16 activations, int8 weights widened to int16.
 * Transcribed from qcomp/fixedpoint/int16.py, lut16.py and the docstrings of qcomp/ir/qops16.py;
 * every accumulator bound is argued next to its loop. */
#include "qcomp_kernels16.h"

#include <string.h>

#if defined(__ARM_FEATURE_MVE) && !defined(QCOMP_PORTABLE) && !defined(QCOMP_NO_MVE)
#include <arm_mve.h>
#define QCOMP16_USE_MVE 1
#elif defined(__ARM_FEATURE_DSP) && !defined(QCOMP_PORTABLE)
#include <arm_acle.h>
#define QCOMP16_USE_DSP 1
#endif

/* ---- the spec ---------------------------------------------------------------------------- */

/* fixedpoint.multiply_by_quantized_multiplier_64 (TFLite's int64 overload):
 *   reduced = min((multiplier + 2^15) >> 16, 2^15 - 1),  total = 15 - shift in [1, 46]
 *   out     = (acc * reduced + 2^(total - 1)) >> total       (arithmetic: ties toward +inf)
 * |acc| < 2^47 and reduced < 2^15: |acc * reduced| < 2^62, no int64 overflow. Cortex-M: SMULL + MLA
 * on acc's two 32-bit halves (a 64 x 32 -> 64-bit product), ADDS/ADC, then the 64-bit shift. */
int64_t multiply_by_quantized_multiplier_64(int64_t acc, int32_t multiplier, int32_t shift) {
  int32_t reduced = (int32_t)(((int64_t)multiplier + (1 << 15)) >> 16);   /* int64: 2^31 - 1 + 2^15 */
  const int32_t total = 15 - shift;
  if (reduced > (1 << 15) - 1) reduced = (1 << 15) - 1;
  return (acc * reduced + ((int64_t)1 << (total - 1))) >> total;
}

/* clamp(multiply_by_quantized_multiplier_64(acc) + zero_point, qmin, qmax), sum and clamp in int64 */
int32_t requantize64(int64_t acc, int32_t multiplier, int32_t shift, int32_t zero_point, int32_t qmin,
                     int32_t qmax) {
  int64_t scaled = multiply_by_quantized_multiplier_64(acc, multiplier, shift) + zero_point;
  if (scaled < qmin) scaled = qmin;
  if (scaled > qmax) scaled = qmax;
  return (int32_t)scaled;
}

/* acc_bits 32: requantize (31-bit multiplier; the build proved |acc| <= 2^31 - 1); 64: requantize64 */
int32_t requantize_acc(int64_t acc, int32_t multiplier, int32_t shift, int32_t acc_bits, int32_t zero_point,
                       int32_t qmin, int32_t qmax) {
  if (acc_bits == 32) return requantize((int32_t)acc, multiplier, shift, zero_point, qmin, qmax);
  return requantize64(acc, multiplier, shift, zero_point, qmin, qmax);
}

/* fixedpoint.lut16_lookup: index = 256 + (x >> 7) in [0, 511], offset = x & 127,
 * out = lut[index] + ((slope * offset + 64) >> 7) with slope = lut[index + 1] - lut[index] in int32
 * (|slope * offset| < 2^23); the result lies between two entries: no clamp. */
int32_t lut16_lookup(int32_t x, const int16_t *table) {
  const int32_t index = 256 + (x >> 7);
  const int32_t offset = x & 0x7F;
  const int32_t base = table[index];
  const int32_t slope = table[index + 1] - base;
  return base + ((slope * offset + 64) >> 7);
}

static void store(void *y, int64_t i, int32_t v, int32_t out16) {
  if (out16) {
    ((int16_t *)y)[i] = (int16_t)v;
  } else {
    ((int8_t *)y)[i] = (int8_t)v;
  }
}

/* ---- dot products ------------------------------------------------------------------------ */

/* K-terms per int32 partial sum: |int16 * int8| <= 32768 * 128 = 2^22, and 504 * 2^22 < 2^31 (any
 * block of at most 511 terms would do), so each block's sum is exact in int32 (SMLAD's and
 * VMLADAVA's accumulator) whatever the values; the blocks add in int64. 504 is a multiple of 8:
 * only the last block has a partial pair or vector. For acc_bits 32 the total also fits int32
 * (the build's bound), and the int64 sum is the same integer. */
#define QCOMP16_BLOCK 504

#ifdef QCOMP16_USE_DSP
static int32_t pair16(const int16_t *p) {   /* two int16 terms as one word (LDR: unaligned is allowed) */
  int32_t v;
  memcpy(&v, p, sizeof v);
  return v;
}
#endif

/* s[0] = x0 . w0, s[1] = x0 . w1, s[2] = x1 . w0, s[3] = x1 . w1 over n <= QCOMP16_BLOCK terms: exact
 * in int32 (bound above). Two pixels (or rows) x two channels per pass: each loaded pair of x feeds
 * two SMLADs and each pair of w two, 8 products per 4 loads (Cortex-M4/M7); on Cortex-M55 each
 * 8-lane vector of x feeds two VMLADAVA.S16 (Helium, unless -DQCOMP_NO_MVE). */
static void mac2x2_block16(const int16_t *x0, const int16_t *x1, const int16_t *w0, const int16_t *w1, int32_t n,
                           int32_t *s) {
  int32_t a00 = 0, a01 = 0, a10 = 0, a11 = 0, i = 0;
#ifdef QCOMP16_USE_MVE
  for (; i + 8 <= n; i += 8) {   /* Helium: VLDRH.16 and VMLADAVA.S16, 8 products per instruction */
    const int16x8_t u = vld1q_s16(x0 + i), v = vld1q_s16(x1 + i), p = vld1q_s16(w0 + i), q = vld1q_s16(w1 + i);
    a00 = vmladavaq_s16(a00, u, p);
    a01 = vmladavaq_s16(a01, u, q);
    a10 = vmladavaq_s16(a10, v, p);
    a11 = vmladavaq_s16(a11, v, q);
  }
  if (i < n) {   /* the tail, predicated (VCTP.16): lanes past n load 0 and add nothing */
    const mve_pred16_t t = vctp16q((uint32_t)(n - i));
    const int16x8_t u = vld1q_z_s16(x0 + i, t), v = vld1q_z_s16(x1 + i, t);
    const int16x8_t p = vld1q_z_s16(w0 + i, t), q = vld1q_z_s16(w1 + i, t);
    a00 = vmladavaq_p_s16(a00, u, p, t);
    a01 = vmladavaq_p_s16(a01, u, q, t);
    a10 = vmladavaq_p_s16(a10, v, p, t);
    a11 = vmladavaq_p_s16(a11, v, q, t);
    i = n;
  }
#endif
#ifdef QCOMP16_USE_DSP
  for (; i + 4 <= n; i += 4) {   /* SMLAD: lo * lo + hi * hi + acc, two products per instruction */
    const int32_t u = pair16(x0 + i), v = pair16(x1 + i), p = pair16(w0 + i), q = pair16(w1 + i);
    const int32_t u2 = pair16(x0 + i + 2), v2 = pair16(x1 + i + 2), p2 = pair16(w0 + i + 2), q2 = pair16(w1 + i + 2);
    a00 = __smlad(u, p, a00);
    a01 = __smlad(u, q, a01);
    a10 = __smlad(v, p, a10);
    a11 = __smlad(v, q, a11);
    a00 = __smlad(u2, p2, a00);
    a01 = __smlad(u2, q2, a01);
    a10 = __smlad(v2, p2, a10);
    a11 = __smlad(v2, q2, a11);
  }
  for (; i + 2 <= n; i += 2) {
    const int32_t u = pair16(x0 + i), v = pair16(x1 + i), p = pair16(w0 + i), q = pair16(w1 + i);
    a00 = __smlad(u, p, a00);
    a01 = __smlad(u, q, a01);
    a10 = __smlad(v, p, a10);
    a11 = __smlad(v, q, a11);
  }
#endif
  for (; i < n; ++i) {
    a00 += x0[i] * w0[i];
    a01 += x0[i] * w1[i];
    a10 += x1[i] * w0[i];
    a11 += x1[i] * w1[i];
  }
  s[0] = a00;
  s[1] = a01;
  s[2] = a10;
  s[3] = a11;
}

/* mac2x2_block16 over any n: int32 blocks of QCOMP16_BLOCK terms, added in int64
 * (|sum| <= n * 2^22 < 2^47 for every K the build accepts). */
static void mac2x2_16(const int16_t *x0, const int16_t *x1, const int16_t *w0, const int16_t *w1, int32_t n,
                      int64_t *s) {
  int32_t i, j, b[4];
  for (j = 0; j < 4; ++j) s[j] = 0;
  for (i = 0; i < n; i += QCOMP16_BLOCK) {
    mac2x2_block16(x0 + i, x1 + i, w0 + i, w1 + i, n - i < QCOMP16_BLOCK ? n - i : QCOMP16_BLOCK, b);
    for (j = 0; j < 4; ++j) s[j] += b[j];
  }
}

typedef struct {   /* what channels16 needs besides the operands: one call's constant arguments */
  const int16_t *w16;
  const int64_t *bias;
  const int32_t *multiplier, *shift;
  int32_t k, kp, acc_bits, zp, qmin, qmax, out16;
} dot16_args;

/* y[y0 + j] (from x0) and, when x1 is not null, y[y1 + j] (from x1) for channels j = first ..
 * first + count - 1: acc = bias + x . w, then requantize_acc. An odd last channel pairs with itself
 * and a missing x1 is x0 again: the extra sums are dropped. */
static void channels16(const int16_t *x0, const int16_t *x1, const dot16_args *d, int32_t first, int32_t count,
                       void *y, int64_t y0, int64_t y1) {
  int32_t j;
  for (j = first; j < first + count; j += 2) {
    const int32_t j1 = j + 1 < first + count ? j + 1 : j;
    int64_t s[4];
    mac2x2_16(x0, x1 != 0 ? x1 : x0, d->w16 + (int64_t)j * d->kp, d->w16 + (int64_t)j1 * d->kp, d->k, s);
    store(y, y0 + j, requantize_acc(d->bias[j] + s[0], d->multiplier[j], d->shift[j], d->acc_bits, d->zp, d->qmin,
                                    d->qmax), d->out16);
    if (j1 != j)
      store(y, y0 + j1, requantize_acc(d->bias[j1] + s[1], d->multiplier[j1], d->shift[j1], d->acc_bits, d->zp,
                                       d->qmin, d->qmax), d->out16);
    if (x1 == 0) continue;
    store(y, y1 + j, requantize_acc(d->bias[j] + s[2], d->multiplier[j], d->shift[j], d->acc_bits, d->zp, d->qmin,
                                    d->qmax), d->out16);
    if (j1 != j)
      store(y, y1 + j1, requantize_acc(d->bias[j1] + s[3], d->multiplier[j1], d->shift[j1], d->acc_bits, d->zp,
                                       d->qmin, d->qmax), d->out16);
  }
}

/* The window [KH][KW][C/group] of group g at output pixel `pixel` (flat over N, OH, OW) into dst,
 * padding 0 (real 0: int16 activations are symmetric). */
static void patch16(const int16_t *x, const qcomp_conv16_params *p, int32_t pixel, int32_t g, int16_t *dst) {
  const int32_t cg = p->c / p->group, ox = pixel % p->ow, oy = (pixel / p->ow) % p->oh, b = pixel / (p->ow * p->oh);
  int32_t ky, kx;
  for (ky = 0; ky < p->kh; ++ky) {
    const int32_t iy = oy * p->sh - p->pad_top + ky * p->dh;
    for (kx = 0; kx < p->kw; ++kx, dst += cg) {
      const int32_t ix = ox * p->sw - p->pad_left + kx * p->dw;
      if (iy < 0 || iy >= p->h || ix < 0 || ix >= p->w) {
        memset(dst, 0, (size_t)cg * sizeof *dst);
      } else {
        memcpy(dst, x + (((int64_t)b * p->h + iy) * p->w + ix) * p->c + (int64_t)g * cg, (size_t)cg * sizeof *dst);
      }
    }
  }
}

/* Two output pixels at a time (patch: 2 * kp int16 of scratch), per group: both pixels' patches,
 * then every output channel of the group against its widened weight row. */
void qcomp_conv2d16(const int16_t *x, const int16_t *w16, const int64_t *bias, const int32_t *multiplier,
                    const int32_t *shift, void *y, int16_t *patch, const qcomp_conv16_params *p) {
  const int32_t og = p->o / p->group, pixels = p->n * p->oh * p->ow;
  const dot16_args d = {w16, bias, multiplier, shift, p->k, p->kp, p->acc_bits, p->output_zero_point, p->qmin,
                        p->qmax, p->out16};
  int32_t px, g;
  for (px = 0; px < pixels; px += 2) {
    const int32_t two = px + 1 < pixels;
    for (g = 0; g < p->group; ++g) {
      patch16(x, p, px, g, patch);
      if (two) patch16(x, p, px + 1, g, patch + p->kp);
      channels16(patch, two ? patch + p->kp : 0, &d, g * og, og, y, (int64_t)px * p->o, (int64_t)(px + 1) * p->o);
    }
  }
}

/* Two rows at a time, read in place (a row of odd K starts at an odd int16: pair16's loads are unaligned). */
void qcomp_dense16(const int16_t *x, const int16_t *w16, const int64_t *bias, const int32_t *multiplier,
                   const int32_t *shift, void *y, int32_t rows, int32_t k, int32_t kp, int32_t n, int32_t acc_bits,
                   int32_t output_zero_point, int32_t qmin, int32_t qmax, int32_t out16) {
  const dot16_args d = {w16, bias, multiplier, shift, k, kp, acc_bits, output_zero_point, qmin, qmax, out16};
  int32_t r;
  for (r = 0; r < rows; r += 2)
    channels16(x + (int64_t)r * k, r + 1 < rows ? x + (int64_t)(r + 1) * k : 0, &d, 0, n, y, (int64_t)r * n,
               (int64_t)(r + 1) * n);
}

/* acc = sum_k a[m, k] * b[k, n]: |a * b| <= 2^30, |acc| <= K * 2^30 < 2^47 in int64 (acc_bits 64;
 * K == 1 is acc_bits 32, the same integer). */
void qcomp_matmul16(const int16_t *a, const int16_t *b, void *y, int32_t batch, const int32_t *a_offsets,
                    const int32_t *b_offsets, int32_t m, int32_t k, int32_t n, int32_t multiplier, int32_t shift,
                    int32_t acc_bits, int32_t output_zero_point, int32_t qmin, int32_t qmax, int32_t out16) {
  int32_t t, i, j, kk;
  for (t = 0; t < batch; ++t) {
    const int16_t *at = a + a_offsets[t], *bt = b + b_offsets[t];
    const int64_t y_base = (int64_t)t * m * n;
    for (i = 0; i < m; ++i)
      for (j = 0; j < n; ++j) {
        int64_t acc = 0;
        for (kk = 0; kk < k; ++kk) acc += (int64_t)(at[(int64_t)i * k + kk] * bt[(int64_t)kk * n + j]);
        store(y, y_base + (int64_t)i * n + j,
              requantize_acc(acc, multiplier, shift, acc_bits, output_zero_point, qmin, qmax), out16);
      }
  }
}

/* ---- elementwise ------------------------------------------------------------------------- */

/* The odometer of qcomp_kernels_elem.c (no division per element), for int16 operands. */
typedef struct {
  int32_t rank;
  const int32_t *shape, *strides_a, *strides_b;
  int32_t idx[QCOMP_MAX_RANK];
  int64_t a, b;
} odometer16;

static void odometer16_start(odometer16 *it, int32_t rank, const int32_t *shape, const int32_t *strides_a,
                             const int32_t *strides_b) {
  int32_t d;
  it->rank = rank;
  it->shape = shape;
  it->strides_a = strides_a;
  it->strides_b = strides_b != 0 ? strides_b : strides_a;
  for (d = 0; d < rank; ++d) it->idx[d] = 0;
  it->a = 0;
  it->b = 0;
}

static void odometer16_next(odometer16 *it) {
  int32_t d;
  for (d = it->rank - 1; d >= 0; --d) {
    it->a += it->strides_a[d];
    it->b += it->strides_b[d];
    if (++it->idx[d] < it->shape[d]) return;
    it->a -= (int64_t)it->strides_a[d] * it->shape[d];
    it->b -= (int64_t)it->strides_b[d] * it->shape[d];
    it->idx[d] = 0;
  }
}

static int64_t numel16(int32_t rank, const int32_t *shape) {
  int64_t n = 1;
  int32_t d;
  for (d = 0; d < rank; ++d) n *= shape[d];
  return n;
}

/* fixedpoint.add_int16 / sub_int16: add_int8's arithmetic with left_shift 15 and zero points 0:
 * |a * 2^15| <= 2^30, each rescaled input <= 2^29 (+1/2), the int32 sum below 2^30 + 1. */
void qcomp_add16(const int16_t *a, const int16_t *b, int16_t *y, int32_t rank, const int32_t *out_shape,
                 const int32_t *a_strides, const int32_t *b_strides, const AddParams *params, int32_t sub) {
  const int64_t n = numel16(rank, out_shape);
  int64_t i;
  odometer16 it;
  odometer16_start(&it, rank, out_shape, a_strides, b_strides);
  for (i = 0; i < n; ++i, odometer16_next(&it))
    y[i] = (int16_t)(sub ? sub_int8(a[it.a], b[it.b], params) : add_int8(a[it.a], b[it.b], params));
}

/* fixedpoint.mul_int16: requantize(a * b), |a * b| <= 2^30 in int32 */
void qcomp_mul16(const int16_t *a, const int16_t *b, int16_t *y, int32_t rank, const int32_t *out_shape,
                 const int32_t *a_strides, const int32_t *b_strides, const MulParams *params) {
  const int64_t n = numel16(rank, out_shape);
  int64_t i;
  odometer16 it;
  odometer16_start(&it, rank, out_shape, a_strides, b_strides);
  for (i = 0; i < n; ++i, odometer16_next(&it))
    y[i] = (int16_t)requantize(a[it.a] * b[it.b], params->multiplier, params->shift, 0, params->qmin,
                               params->qmax);
}

/* fixedpoint.convert: requantize(x - zp_in), |x - zp_in| <= 65535 in int32 */
void qcomp_convert16(const void *x, int32_t x16, void *y, int32_t y16, int32_t n, int32_t input_zero_point,
                     int32_t multiplier, int32_t shift, int32_t output_zero_point, int32_t qmin, int32_t qmax) {
  int32_t i;
  for (i = 0; i < n; ++i) {
    const int32_t v = x16 ? ((const int16_t *)x)[i] : ((const int8_t *)x)[i];
    store(y, i, requantize(v - input_zero_point, multiplier, shift, output_zero_point, qmin, qmax), y16);
  }
}

void qcomp_lut16(const int16_t *x, const int16_t *table, void *y, int32_t n, int32_t out16) {
  int32_t i;
  for (i = 0; i < n; ++i) store(y, i, lut16_lookup(x[i], table), out16);
}

/* ---- pooling and reductions -------------------------------------------------------------- */

/* fixedpoint.avg_int16: the window's int16 sum (padding is 0) in int32, |sum| <= 32768 * 65535 < 2^31,
 * then requantize with the multiplier of its count (count_h[oh] * count_w[ow], at least 1). */
void qcomp_avgpool2d16(const int16_t *x, int16_t *y, const qcomp_pool_params *p, const int32_t *count_h,
                       const int32_t *count_w, const int32_t *multipliers, const int32_t *shifts, int32_t qmin,
                       int32_t qmax) {
  int32_t b, oy, ox, c, ky, kx;
  for (b = 0; b < p->n; ++b)
    for (oy = 0; oy < p->oh; ++oy)
      for (ox = 0; ox < p->ow; ++ox)
        for (c = 0; c < p->c; ++c) {
          const int32_t count = count_h[oy] * count_w[ox];
          int32_t window_sum = 0;
          for (ky = 0; ky < p->kh; ++ky) {
            const int32_t iy = oy * p->sh - p->pad_top + ky * p->dh;
            if (iy < 0 || iy >= p->h) continue;
            for (kx = 0; kx < p->kw; ++kx) {
              const int32_t ix = ox * p->sw - p->pad_left + kx * p->dw;
              if (ix < 0 || ix >= p->w) continue;
              window_sum += x[(((int64_t)b * p->h + iy) * p->w + ix) * p->c + c];
            }
          }
          y[(((int64_t)b * p->oh + oy) * p->ow + ox) * p->c + c] = (int16_t)requantize(
              window_sum, multipliers[count - 1], shifts[count - 1], 0, qmin, qmax);
        }
}

/* fixedpoint.mean_int16: the int32 sum of `count` int16 values (count <= 65535), then requantize */
void qcomp_mean16(const int16_t *x, int16_t *y, int32_t outer_rank, const int32_t *outer_shape,
                  const int32_t *outer_strides, int32_t inner_rank, const int32_t *inner_shape,
                  const int32_t *inner_strides, int32_t multiplier, int32_t shift, int32_t qmin, int32_t qmax) {
  const int64_t n_out = numel16(outer_rank, outer_shape), n_in = numel16(inner_rank, inner_shape);
  int64_t j, i;
  odometer16 outer, inner;
  odometer16_start(&outer, outer_rank, outer_shape, outer_strides, 0);
  for (j = 0; j < n_out; ++j, odometer16_next(&outer)) {
    const int16_t *base = x + outer.a;
    int32_t window_sum = 0;
    odometer16_start(&inner, inner_rank, inner_shape, inner_strides, 0);
    for (i = 0; i < n_in; ++i, odometer16_next(&inner)) window_sum += base[inner.a];
    y[j] = (int16_t)requantize(window_sum, multiplier, shift, 0, qmin, qmax);
  }
}

/* ---- type-generic ops on int16 ----------------------------------------------------------- */

/* qcomp_maxpool2d_int8 on int16: padding never wins, the maximum starts at -32768 */
void qcomp_maxpool2d_int16(const int16_t *x, int16_t *y, const qcomp_pool_params *p) {
  int32_t b, oy, ox, c, ky, kx;
  for (b = 0; b < p->n; ++b)
    for (oy = 0; oy < p->oh; ++oy)
      for (ox = 0; ox < p->ow; ++ox) {
        int16_t *out = y + (((int64_t)b * p->oh + oy) * p->ow + ox) * p->c;
        for (c = 0; c < p->c; ++c) out[c] = -32768;
        for (ky = 0; ky < p->kh; ++ky) {
          const int32_t iy = oy * p->sh - p->pad_top + ky * p->dh;
          if (iy < 0 || iy >= p->h) continue;
          for (kx = 0; kx < p->kw; ++kx) {
            const int32_t ix = ox * p->sw - p->pad_left + kx * p->dw;
            const int16_t *xk;
            if (ix < 0 || ix >= p->w) continue;
            xk = x + (((int64_t)b * p->h + iy) * p->w + ix) * p->c;
            for (c = 0; c < p->c; ++c)
              if (xk[c] > out[c]) out[c] = xk[c];
          }
        }
      }
}

void qcomp_reduce_max_int16(const int16_t *x, int16_t *y, int32_t outer_rank, const int32_t *outer_shape,
                            const int32_t *outer_strides, int32_t inner_rank, const int32_t *inner_shape,
                            const int32_t *inner_strides) {
  const int64_t n_out = numel16(outer_rank, outer_shape), n_in = numel16(inner_rank, inner_shape);
  int64_t j, i;
  odometer16 outer, inner;
  odometer16_start(&outer, outer_rank, outer_shape, outer_strides, 0);
  for (j = 0; j < n_out; ++j, odometer16_next(&outer)) {
    const int16_t *base = x + outer.a;
    int32_t best = -32768;
    odometer16_start(&inner, inner_rank, inner_shape, inner_strides, 0);
    for (i = 0; i < n_in; ++i, odometer16_next(&inner))
      if (base[inner.a] > best) best = base[inner.a];
    y[j] = (int16_t)best;
  }
}
