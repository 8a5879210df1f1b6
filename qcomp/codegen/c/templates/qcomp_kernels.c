/* qcomp fixed-point kernels (see qcomp_kernels.h). Transcribed from qcomp/fixedpoint.py and the
 * docstrings of qcomp/ir/qops.py; every accumulator bound is argued next to its loop. */
#include "qcomp_kernels.h"

#include <string.h>
#ifndef QCOMP_NO_FLOAT
#include <math.h>
#endif
#if defined(__ARM_FEATURE_DSP) && !defined(QCOMP_PORTABLE) && !defined(QCOMP_PLAIN)
#include <arm_acle.h>
#define QCOMP_USE_DSP 1
#endif

/* ---- the spec ---------------------------------------------------------------------------- */

/* round_half_up(acc * multiplier / 2^(31 - shift)): total = 31 - shift in [1, 62];
 * |acc * multiplier| < 2^62 and the rounding term <= 2^61, so the int64 sum cannot overflow.
 * Cortex-M4: SMLAL-free SMULL + ADDS/ADC + shift; x86: IMUL r64. */
int64_t multiply_by_quantized_multiplier(int32_t acc, int32_t multiplier, int32_t shift) {
  const int32_t total = 31 - shift;
  const int64_t rounding = (int64_t)1 << (total - 1);
  return ((int64_t)acc * multiplier + rounding) >> total;
}

/* clamp(mbqm(acc) + zero_point, qmin, qmax), the sum and the clamp in int64 (no truncation first).
 * For total = 31 - shift > 32 (every multiplier below 1/2, the common case) mbqm is computed on the
 * high word of the product, which is the same value: the rounding term 2^(total - 1) is a multiple
 * of 2^32, so adding it to the high word is exact, and (x >> 32) >> (total - 32) == x >> total.
 * |acc * multiplier| < 2^62 makes the high word < 2^30 in magnitude, the sum < 2^31: int32 holds it.
 * On Cortex-M4 this is SMULL + ADD + ASR instead of a 64-bit add and variable 64-bit shift. */
int32_t requantize(int32_t acc, int32_t multiplier, int32_t shift, int32_t zero_point,
                   int32_t qmin, int32_t qmax) {
  const int32_t total = 31 - shift;
  int64_t scaled;
  if (total > 32) {
    const int32_t high = (int32_t)(((int64_t)acc * multiplier) >> 32);
    scaled = (int64_t)((high + ((int32_t)1 << (total - 33))) >> (total - 32)) + zero_point;
  } else {
    scaled = multiply_by_quantized_multiplier(acc, multiplier, shift) + zero_point;
  }
  if (scaled < qmin) scaled = qmin;
  if (scaled > qmax) scaled = qmax;
  return (int32_t)scaled;
}

/* |(a - zp) << 20| <= 255 * 2^20 < 2^28; each rescaled input <= 255 * 2^19; the sum < 2^28: int32.
 * The left shift is a multiplication: shifting a negative value left is undefined in C99. */
static int32_t add_or_sub(int32_t a, int32_t b, const AddParams *p, int32_t sign) {
  const int32_t a_scaled = (int32_t)multiply_by_quantized_multiplier(
      (a - p->a_zero_point) * ((int32_t)1 << p->left_shift), p->a_multiplier, p->a_shift);
  const int32_t b_scaled = (int32_t)multiply_by_quantized_multiplier(
      (b - p->b_zero_point) * ((int32_t)1 << p->left_shift), p->b_multiplier, p->b_shift);
  const int32_t acc = a_scaled + sign * b_scaled;
  return requantize(acc, p->out_multiplier, p->out_shift, p->out_zero_point, p->qmin, p->qmax);
}

int32_t add_int8(int32_t a, int32_t b, const AddParams *params) { return add_or_sub(a, b, params, 1); }
int32_t sub_int8(int32_t a, int32_t b, const AddParams *params) { return add_or_sub(a, b, params, -1); }

/* |a - zp_a|, |b - zp_b| <= 255: |acc| <= 65025. */
int32_t mul_int8(int32_t a, int32_t b, const MulParams *params) {
  const int32_t acc = (a - params->a_zero_point) * (b - params->b_zero_point);
  return requantize(acc, params->multiplier, params->shift, params->out_zero_point, params->qmin, params->qmax);
}

/* acc = window_sum - count * zp_in: |acc| <= 255 * count < 2^31 (count <= MAX_WINDOW_COUNT). */
static int32_t window_average(int32_t window_sum, int32_t count, int32_t in_zero_point, int32_t multiplier,
                              int32_t shift, int32_t out_zero_point, int32_t qmin, int32_t qmax) {
  const int32_t acc = window_sum - count * in_zero_point;
  return requantize(acc, multiplier, shift, out_zero_point, qmin, qmax);
}

int32_t avg_int8(int32_t window_sum, int32_t count, int32_t in_zero_point, const int32_t *multipliers,
                 const int32_t *shifts, int32_t out_zero_point, int32_t qmin, int32_t qmax) {
  const int32_t idx = count - 1;
  return window_average(window_sum, count, in_zero_point, multipliers[idx], shifts[idx], out_zero_point,
                        qmin, qmax);
}

int32_t mean_int8(int32_t window_sum, const MeanParams *params) {
  return window_average(window_sum, params->count, params->in_zero_point, params->multiplier, params->shift,
                        params->out_zero_point, params->qmin, params->qmax);
}

#ifndef QCOMP_NO_FLOAT
/* clamp(rint(x / scale) + zero_point): one float32 division (never a reciprocal multiply), rintf
 * rounds half to even; the clamp to [qmin - zp, qmax - zp] happens before adding zp (exact). */
int32_t quantize(float x, float scale, int32_t zero_point, int32_t qmin, int32_t qmax) {
  double r = 0.0;
  if (scale != 0.0f) {
    const float q = x / scale;
    r = (double)rintf(q);
  }
  if (r < (double)qmin - zero_point) r = (double)qmin - zero_point;
  if (r > (double)qmax - zero_point) r = (double)qmax - zero_point;
  return (int32_t)r + zero_point;
}

/* (q - zero_point) * scale: the difference is exact, one float32 multiply. */
float dequantize(int32_t q, float scale, int32_t zero_point) {
  const float centred = (float)(q - zero_point);
  return centred * scale;
}

void qcomp_quantize_f32(const float *x, int8_t *y, int32_t n, float scale, int32_t zero_point,
                        int32_t qmin, int32_t qmax) {
  int32_t i;
  for (i = 0; i < n; ++i) y[i] = (int8_t)quantize(x[i], scale, zero_point, qmin, qmax);
}

void qcomp_dequantize_f32(const int8_t *x, float *y, int32_t n, float scale, int32_t zero_point) {
  int32_t i;
  for (i = 0; i < n; ++i) y[i] = dequantize(x[i], scale, zero_point);
}
#endif

/* ---- dot products ------------------------------------------------------------------------ */
#ifndef QCOMP_PLAIN   /* the plain form (below) has scalar loops only */

/* acc + sum_{i<n} x[i] * w[i]. The caller's bound (K * 127 * 255 + |bias| < 2^31, checked by
 * lower_integer) covers every partial sum. Cortex-M4 (DSP extension): SXTB16 widens two int8 lanes
 * to int16, SMLAD multiplies and accumulates both pairs in one cycle: 4 products per 2 SMLADs. */
#ifdef QCOMP_USE_DSP
/* SXTB16 of the word rotated right by 8 (lanes 1, 3), one instruction: gcc does not fold a rotation
 * written in C into SXTB16's ROR #8 operand. */
static uint32_t sxtb16_ror8(uint32_t v) {
  uint32_t r;
  __asm__("sxtb16 %0, %1, ror #8" : "=r"(r) : "r"(v));
  return r;
}
#endif

static int32_t dot_int8(const int8_t *x, const int8_t *w, int32_t n, int32_t acc) {
  int32_t i = 0;
#ifdef QCOMP_USE_DSP
  for (; i + 4 <= n; i += 4) {
    uint32_t xw, ww;
    memcpy(&xw, x + i, 4);  /* unaligned word loads are allowed on Cortex-M4 */
    memcpy(&ww, w + i, 4);
    acc = __smlad(__sxtb16(xw), __sxtb16(ww), acc);               /* lanes 0, 2 */
    acc = __smlad(sxtb16_ror8(xw), sxtb16_ror8(ww), acc);   /* lanes 1, 3 */
  }
#endif
  for (; i < n; ++i) acc += (int32_t)x[i] * w[i];
  return acc;
}

/* Two rows at once: acc0 + x . w0 and acc1 + x . w1. The unpacked x words serve both rows (CMSIS-NN's
 * trick), so the DSP loop issues 4 SMLADs per 3 word loads and 6 SXTB16s. Same bounds as dot_int8. */
static void dot2_int8(const int8_t *x, const int8_t *w0, const int8_t *w1, int32_t n, int32_t *acc0,
                      int32_t *acc1) {
  int32_t a0 = *acc0, a1 = *acc1, i = 0;
#ifdef QCOMP_USE_DSP
  for (; i + 4 <= n; i += 4) {
    uint32_t xw, w0w, w1w, x_even, x_odd;
    memcpy(&xw, x + i, 4);
    memcpy(&w0w, w0 + i, 4);
    memcpy(&w1w, w1 + i, 4);
    x_even = __sxtb16(xw);
    x_odd = sxtb16_ror8(xw);
    a0 = __smlad(x_even, __sxtb16(w0w), a0);
    a0 = __smlad(x_odd, sxtb16_ror8(w0w), a0);
    a1 = __smlad(x_even, __sxtb16(w1w), a1);
    a1 = __smlad(x_odd, sxtb16_ror8(w1w), a1);
  }
#endif
  for (; i < n; ++i) {
    a0 += (int32_t)x[i] * w0[i];
    a1 += (int32_t)x[i] * w1[i];
  }
  *acc0 = a0;
  *acc1 = a1;
}

/* Four rows at once (w, w + n, w + 2n, w + 3n): the unpacked x words serve all four, so the DSP loop
 * issues 8 SMLADs per 5 word loads and 10 SXTB16s. Same bounds as dot_int8. */
static void dot4_int8(const int8_t *x, const int8_t *w, int32_t n, int32_t *acc) {
  const int8_t *w1 = w + n, *w2 = w1 + n, *w3 = w2 + n;
  int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3], i = 0;
#ifdef QCOMP_USE_DSP
  for (; i + 4 <= n; i += 4) {
    uint32_t xw, ww, x_even, x_odd;
    memcpy(&xw, x + i, 4);
    x_even = __sxtb16(xw);
    x_odd = sxtb16_ror8(xw);
    memcpy(&ww, w + i, 4);
    a0 = __smlad(x_odd, sxtb16_ror8(ww), __smlad(x_even, __sxtb16(ww), a0));
    memcpy(&ww, w1 + i, 4);
    a1 = __smlad(x_odd, sxtb16_ror8(ww), __smlad(x_even, __sxtb16(ww), a1));
    memcpy(&ww, w2 + i, 4);
    a2 = __smlad(x_odd, sxtb16_ror8(ww), __smlad(x_even, __sxtb16(ww), a2));
    memcpy(&ww, w3 + i, 4);
    a3 = __smlad(x_odd, sxtb16_ror8(ww), __smlad(x_even, __sxtb16(ww), a3));
  }
#endif
  for (; i < n; ++i) {
    const int32_t xv = x[i];
    a0 += xv * w[i];
    a1 += xv * w1[i];
    a2 += xv * w2[i];
    a3 += xv * w3[i];
  }
  acc[0] = a0;
  acc[1] = a1;
  acc[2] = a2;
  acc[3] = a3;
}

#endif /* QCOMP_PLAIN */

/* ---- weighted ops ------------------------------------------------------------------------ */

#ifdef QCOMP_PLAIN
/* The plain per-op reference form (-DQCOMP_PLAIN, benchmarks/dsp_cost.py): the definition of the
 * convolution as nested loops, one output value at a time, no patch, no multi-row blocking, no DSP.
 * acc = bias[o] + sum x_padded * w with x_padded = input_zero_point outside the input (the bias
 * holds -zp_in * sum(w[o])). `patch` is unused (NULL). */
void qcomp_conv2d_int8(const int8_t *x, const int8_t *w, const int32_t *bias, const int32_t *multiplier,
                       const int32_t *shift, int8_t *y, int8_t *patch, const qcomp_conv_params *p) {
  const int32_t cg = p->c / p->group, og = p->o / p->group;
  int32_t b, oy, ox, o, ky, kx, c;
  (void)patch;
  for (b = 0; b < p->n; ++b)
    for (oy = 0; oy < p->oh; ++oy)
      for (ox = 0; ox < p->ow; ++ox)
        for (o = 0; o < p->o; ++o) {
          const int32_t g = o / og;
          int32_t acc = bias[o];
          for (ky = 0; ky < p->kh; ++ky)
            for (kx = 0; kx < p->kw; ++kx)
              for (c = 0; c < cg; ++c) {
                const int32_t iy = oy * p->sh - p->pad_top + ky * p->dh;
                const int32_t ix = ox * p->sw - p->pad_left + kx * p->dw;
                const int32_t xv = (iy >= 0 && iy < p->h && ix >= 0 && ix < p->w)
                                       ? x[(((int64_t)b * p->h + iy) * p->w + ix) * p->c + g * cg + c]
                                       : p->input_zero_point;
                acc += xv * w[(((int64_t)o * p->kh + ky) * p->kw + kx) * cg + c];
              }
          y[(((int64_t)b * p->oh + oy) * p->ow + ox) * p->o + o] =
              (int8_t)requantize(acc, multiplier[o], shift[o], p->output_zero_point, p->qmin, p->qmax);
        }
}
#else
/* Depthwise convolution with channel multiplier 1 (group == C == O, weights [C, KH, KW, 1]): per
 * output pixel and block of DW_BLOCK channels, the taps inside the input are visited once with the
 * channels innermost (contiguous in NHWC), into int32 accumulators on the stack (DW_BLOCK * 4 bytes);
 * a tap in the padding adds zp_in * w. Same sums as the patch form, term for term. */
#define DW_BLOCK 64
static void depthwise_int8(const int8_t *x, const int8_t *w, const int32_t *bias, const int32_t *multiplier,
                           const int32_t *shift, int8_t *y, const qcomp_conv_params *p) {
  const int32_t taps = p->kh * p->kw;
  int32_t acc[DW_BLOCK];
  int32_t b, oy, ox, c0, c, n, ky, kx;
  for (b = 0; b < p->n; ++b)
    for (oy = 0; oy < p->oh; ++oy)
      for (ox = 0; ox < p->ow; ++ox) {
        int8_t *out = y + (((int64_t)b * p->oh + oy) * p->ow + ox) * p->o;
        for (c0 = 0; c0 < p->c; c0 += DW_BLOCK) {
          n = p->c - c0 < DW_BLOCK ? p->c - c0 : DW_BLOCK;
          for (c = 0; c < n; ++c) acc[c] = bias[c0 + c];
          for (ky = 0; ky < p->kh; ++ky) {
            const int32_t iy = oy * p->sh - p->pad_top + ky * p->dh;
            for (kx = 0; kx < p->kw; ++kx) {
              const int32_t ix = ox * p->sw - p->pad_left + kx * p->dw;
              const int8_t *wk = w + (int64_t)c0 * taps + ky * p->kw + kx;
              if (iy >= 0 && iy < p->h && ix >= 0 && ix < p->w) {
                const int8_t *xk = x + (((int64_t)b * p->h + iy) * p->w + ix) * p->c + c0;
                for (c = 0; c < n; ++c) acc[c] += xk[c] * wk[c * taps];
              } else {
                for (c = 0; c < n; ++c) acc[c] += p->input_zero_point * wk[c * taps];
              }
            }
          }
          for (c = 0; c < n; ++c)
            out[c0 + c] = (int8_t)requantize(acc[c], multiplier[c0 + c], shift[c0 + c], p->output_zero_point,
                                             p->qmin, p->qmax);
        }
      }
}

/* acc = bias[o] + sum x_padded * w with x_padded = input_zero_point outside the input (the bias
 * holds -zp_in * sum(w[o]), so acc = bias_q + sum (x - zp_in) * w). Depthwise convolutions with
 * channel multiplier 1 take depthwise_int8 above.
 * Per output pixel, the receptive field is first gathered into `patch` (KH * KW * C bytes of the
 * workspace, laid out [group][KH][KW][C / group] like a weight row, padding = zp_in), so every output
 * channel is one contiguous dot product of K = KH * KW * C / group terms (SMLAD on Cortex-M4),
 * taken four output channels of one group at a time (dot4_int8: one pass over the patch), then two,
 * then one. */
void qcomp_conv2d_int8(const int8_t *x, const int8_t *w, const int32_t *bias, const int32_t *multiplier,
                       const int32_t *shift, int8_t *y, int8_t *patch, const qcomp_conv_params *p) {
  const int32_t cg = p->c / p->group, og = p->o / p->group, k = p->kh * p->kw * cg;
  int32_t b, oy, ox, o, ky, kx, g;
  if (cg == 1 && og == 1) {
    depthwise_int8(x, w, bias, multiplier, shift, y, p);
    return;
  }
  for (b = 0; b < p->n; ++b) {
    for (oy = 0; oy < p->oh; ++oy) {
      for (ox = 0; ox < p->ow; ++ox) {
        int8_t *out = y + (((int64_t)b * p->oh + oy) * p->ow + ox) * p->o;
        for (ky = 0; ky < p->kh; ++ky) {
          const int32_t iy = oy * p->sh - p->pad_top + ky * p->dh;
          for (kx = 0; kx < p->kw; ++kx) {
            const int32_t ix = ox * p->sw - p->pad_left + kx * p->dw;
            const int32_t tap = (ky * p->kw + kx) * cg;
            const int inside = iy >= 0 && iy < p->h && ix >= 0 && ix < p->w;
            const int8_t *xk = x + (((int64_t)b * p->h + (inside ? iy : 0)) * p->w + (inside ? ix : 0)) * p->c;
            if (cg == 1) {   /* one byte per group: a store, not a library call */
              for (g = 0; g < p->group; ++g) patch[g * k + tap] = inside ? xk[g] : (int8_t)p->input_zero_point;
            } else {
              for (g = 0; g < p->group; ++g) {
                if (inside) {
                  memcpy(patch + g * k + tap, xk + g * cg, (size_t)cg);
                } else {
                  memset(patch + g * k + tap, p->input_zero_point, (size_t)cg);   /* padding holds zp_in */
                }
              }
            }
          }
        }
        for (o = 0; o < p->o; ++o) {
          int32_t acc = bias[o];
          if (o + 3 < p->o && (o + 3) / og == o / og) {   /* four channels of one group */
            int32_t acc4[4];
            int32_t j;
            for (j = 0; j < 4; ++j) acc4[j] = bias[o + j];
            dot4_int8(patch + (o / og) * k, w + (int64_t)o * k, k, acc4);
            for (j = 0; j < 4; ++j)
              out[o + j] = (int8_t)requantize(acc4[j], multiplier[o + j], shift[o + j], p->output_zero_point,
                                              p->qmin, p->qmax);
            o += 3;
            continue;
          }
          if (o + 1 < p->o && (o + 1) / og == o / og) {   /* two channels of one group */
            int32_t acc1 = bias[o + 1];
            dot2_int8(patch + (o / og) * k, w + (int64_t)o * k, w + (int64_t)(o + 1) * k, k, &acc, &acc1);
            out[o + 1] = (int8_t)requantize(acc1, multiplier[o + 1], shift[o + 1], p->output_zero_point,
                                            p->qmin, p->qmax);
            out[o] = (int8_t)requantize(acc, multiplier[o], shift[o], p->output_zero_point, p->qmin, p->qmax);
            ++o;
            continue;
          }
          acc = dot_int8(patch + (o / og) * k, w + (int64_t)o * k, k, acc);
          out[o] = (int8_t)requantize(acc, multiplier[o], shift[o], p->output_zero_point, p->qmin, p->qmax);
        }
      }
    }
  }
}
#endif /* QCOMP_PLAIN */

/* Gather form of the transposed convolution: output row oy + pad_top of the full output receives
 * input row iy from tap ky when iy * sh + ky * dh == oy + pad_top. acc = bias + sum (x - zp_in) * w:
 * border outputs get fewer terms, so the zero point is subtracted here, not folded. */
void qcomp_conv_transpose2d_int8(const int8_t *x, const int8_t *w, const int32_t *bias,
                                 const int32_t *multiplier, const int32_t *shift, int8_t *y,
                                 const qcomp_conv_params *p) {
  const int32_t cg = p->c / p->group, og = p->o / p->group;
  int32_t b, oy, ox, o, ky, kx, c;
  for (b = 0; b < p->n; ++b) {
    for (oy = 0; oy < p->oh; ++oy) {
      for (ox = 0; ox < p->ow; ++ox) {
        int8_t *out = y + (((int64_t)b * p->oh + oy) * p->ow + ox) * p->o;
        for (o = 0; o < p->o; ++o) {
          const int32_t g = o / og;
          int32_t acc = bias[o];
          for (ky = 0; ky < p->kh; ++ky) {
            const int32_t ny = oy + p->pad_top - ky * p->dh;
            int32_t iy;
            if (ny < 0 || ny % p->sh != 0) continue;
            iy = ny / p->sh;
            if (iy >= p->h) continue;
            for (kx = 0; kx < p->kw; ++kx) {
              const int32_t nx = ox + p->pad_left - kx * p->dw;
              int32_t ix;
              const int8_t *wk, *xk;
              if (nx < 0 || nx % p->sw != 0) continue;
              ix = nx / p->sw;
              if (ix >= p->w) continue;
              wk = w + (((int64_t)o * p->kh + ky) * p->kw + kx) * cg;
              xk = x + (((int64_t)b * p->h + iy) * p->w + ix) * p->c + g * cg;
              for (c = 0; c < cg; ++c) acc += (xk[c] - p->input_zero_point) * wk[c];
            }
          }
          out[o] = (int8_t)requantize(acc, multiplier[o], shift[o], p->output_zero_point, p->qmin, p->qmax);
        }
      }
    }
  }
}

/* acc[r, j] = bias[j] + sum_k x[r, k] * w[j, k]  (bias holds -zp_in * sum(w[j])). The plain form
 * (-DQCOMP_PLAIN) takes one output at a time with a scalar loop; the default four (then two) rows of
 * w per pass over x (dot4_int8, dot2_int8: SMLAD on Cortex-M4). */
void qcomp_dense_int8(const int8_t *x, const int8_t *w, const int32_t *bias, const int32_t *multiplier,
                      const int32_t *shift, int8_t *y, int32_t rows, int32_t k, int32_t n,
                      int32_t output_zero_point, int32_t qmin, int32_t qmax) {
  int32_t r, j;
#ifdef QCOMP_PLAIN
  int32_t kk;
  for (r = 0; r < rows; ++r)
    for (j = 0; j < n; ++j) {
      int32_t acc = bias[j];
      for (kk = 0; kk < k; ++kk) acc += x[(int64_t)r * k + kk] * w[(int64_t)j * k + kk];
      y[(int64_t)r * n + j] = (int8_t)requantize(acc, multiplier[j], shift[j], output_zero_point, qmin, qmax);
    }
#else
  for (r = 0; r < rows; ++r) {
    const int8_t *xr = x + (int64_t)r * k;
    int8_t *yr = y + (int64_t)r * n;
    for (j = 0; j + 3 < n; j += 4) {
      int32_t acc[4], t;
      for (t = 0; t < 4; ++t) acc[t] = bias[j + t];
      dot4_int8(xr, w + (int64_t)j * k, k, acc);
      for (t = 0; t < 4; ++t)
        yr[j + t] = (int8_t)requantize(acc[t], multiplier[j + t], shift[j + t], output_zero_point, qmin, qmax);
    }
    for (; j + 1 < n; j += 2) {
      int32_t acc0 = bias[j], acc1 = bias[j + 1];
      dot2_int8(xr, w + (int64_t)j * k, w + (int64_t)(j + 1) * k, k, &acc0, &acc1);
      yr[j] = (int8_t)requantize(acc0, multiplier[j], shift[j], output_zero_point, qmin, qmax);
      yr[j + 1] = (int8_t)requantize(acc1, multiplier[j + 1], shift[j + 1], output_zero_point, qmin, qmax);
    }
    if (j < n) {
      const int32_t acc = dot_int8(xr, w + (int64_t)j * k, k, bias[j]);
      yr[j] = (int8_t)requantize(acc, multiplier[j], shift[j], output_zero_point, qmin, qmax);
    }
  }
#endif
}

/* acc = sum_k (a - zp_a) * (b - zp_b): K * 255 * 255 < 2^31 (checked by lower_integer). */
void qcomp_matmul_int8(const int8_t *a, const int8_t *b, int8_t *y, int32_t batch, const int32_t *a_offsets,
                       const int32_t *b_offsets, int32_t m, int32_t k, int32_t n, int32_t a_zero_point,
                       int32_t b_zero_point, int32_t multiplier, int32_t shift, int32_t output_zero_point,
                       int32_t qmin, int32_t qmax) {
  int32_t t, i, j, kk;
  for (t = 0; t < batch; ++t) {
    const int8_t *at = a + a_offsets[t], *bt = b + b_offsets[t];
    int8_t *yt = y + (int64_t)t * m * n;
    for (i = 0; i < m; ++i) {
      for (j = 0; j < n; ++j) {
        int32_t acc = 0;
        for (kk = 0; kk < k; ++kk)
          acc += (at[(int64_t)i * k + kk] - a_zero_point) * (bt[(int64_t)kk * n + j] - b_zero_point);
        yt[(int64_t)i * n + j] = (int8_t)requantize(acc, multiplier, shift, output_zero_point, qmin, qmax);
      }
    }
  }
}
