/* qcomp fixed-point kernels (see qcomp_kernels.h). Transcribed from qcomp/fixedpoint.py and the
 * docstrings of qcomp/ir/qops.py; every accumulator bound is argued next to its loop. */
#include "qcomp_kernels.h"

#include <string.h>
#ifndef QCOMP_NO_FLOAT
#include <math.h>
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


/* ---- weighted ops ------------------------------------------------------------------------ */

#ifdef QCOMP_PLAIN   /* the default build's Conv2D and Dense: qcomp_kernels_conv.c */
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

/* acc[r, j] = bias[j] + sum_k x[r, k] * w[j, k]  (bias holds -zp_in * sum(w[j])), one output at a
 * time with a scalar loop (the default build's blocked form: qcomp_kernels_conv.c). */
void qcomp_dense_int8(const int8_t *x, const int8_t *w, const int32_t *bias, const int32_t *multiplier,
                      const int32_t *shift, int8_t *y, int32_t rows, int32_t k, int32_t n,
                      int32_t output_zero_point, int32_t qmin, int32_t qmax) {
  int32_t r, j, kk;
  for (r = 0; r < rows; ++r)
    for (j = 0; j < n; ++j) {
      int32_t acc = bias[j];
      for (kk = 0; kk < k; ++kk) acc += x[(int64_t)r * k + kk] * w[(int64_t)j * k + kk];
      y[(int64_t)r * n + j] = (int8_t)requantize(acc, multiplier[j], shift[j], output_zero_point, qmin, qmax);
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
