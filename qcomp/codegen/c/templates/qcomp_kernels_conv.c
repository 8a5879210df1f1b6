/* qcomp's Conv2D and Dense kernels for the default build (qcomp_kernels.h; the plain per-op form of
 * -DQCOMP_PLAIN is in qcomp_kernels.c). Every sum is the spec's, term for term:
 *
 *   acc[pixel, o] = bias[o] + sum_k patch[pixel, k] * w[o, k]     (bias holds -zp_in * sum_k w[o, k])
 *   y[pixel, o]   = requantize(acc, multiplier[o], shift[o], zp_out, qmin, qmax)
 *
 * with patch = the receptive field of the pixel, zp_in in the padding. Integer addition is
 * associative, so any blocking and any order of the products gives the same int32 (the caller's
 * bound K * 127 * 255 + |bias| < 2^31, checked by lower_integer, covers every partial sum).
 *
 * The blocking (CMSIS-NN's): two output pixels x two output channels per pass over K (mac2x2_int8),
 * so each loaded activation word serves two channels and each loaded weight word two pixels. A 1x1
 * convolution (stride any, no padding read) reads its input pixels in place, without a patch; any
 * other convolution of one group gathers the patches of two pixels (2 * KH * KW * C bytes of scratch)
 * and runs the same block. Dense takes two rows of x at a time the same way. Depthwise
 * convolutions (channel multiplier 1) run depthwise_int8. The requantization is once per output
 * (requant_out below: the multiplier and shift loaded once per channel and block).
 *
 * Instructions per 4 terms of K in a 2x2 block: Cortex-M4/M7 (DSP extension) 4 word loads, 8 SXTB16
 * and 8 SMLAD for 16 multiply-accumulates; Cortex-M55 (Helium, __ARM_FEATURE_MVE) 16 terms per VLDRB
 * of each operand and one VMLADAVA.S8 per pair (16 multiply-accumulates), the K % 16 tail under a VCTP
 * predicate (the inactive lanes load nothing and add nothing); -DQCOMP_NO_MVE runs the DSP-extension
 * loops there instead. -DQCOMP_PORTABLE keeps scalar loops. */
#include "qcomp_kernels.h"

#include <string.h>

#ifndef QCOMP_PLAIN
#if defined(__ARM_FEATURE_MVE) && !defined(QCOMP_PORTABLE) && !defined(QCOMP_NO_MVE)
#include <arm_mve.h>
#define QCOMP_USE_MVE 1
#elif defined(__ARM_FEATURE_DSP) && !defined(QCOMP_PORTABLE)
#include <arm_acle.h>
#define QCOMP_USE_DSP 1
#endif

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

#ifdef QCOMP_USE_MVE
/* acc + x . w over n terms: 16 per VLDRB.8 pair and VMLADAVA.S8, the tail predicated (VCTP.8). */
static int32_t dot_int8(const int8_t *x, const int8_t *w, int32_t n, int32_t acc) {
  int32_t i = 0;
  for (; i + 16 <= n; i += 16) acc = vmladavaq_s8(acc, vld1q_s8(x + i), vld1q_s8(w + i));
  if (i < n) {
    const mve_pred16_t t = vctp8q((uint32_t)(n - i));
    acc = vmladavaq_p_s8(acc, vld1q_z_s8(x + i, t), vld1q_z_s8(w + i, t), t);
  }
  return acc;
}

static void dot2_int8(const int8_t *x, const int8_t *w0, const int8_t *w1, int32_t n, int32_t *acc0,
                      int32_t *acc1) {
  int32_t a0 = *acc0, a1 = *acc1, i = 0;
  for (; i + 16 <= n; i += 16) {
    const int8x16_t xv = vld1q_s8(x + i);
    a0 = vmladavaq_s8(a0, xv, vld1q_s8(w0 + i));
    a1 = vmladavaq_s8(a1, xv, vld1q_s8(w1 + i));
  }
  if (i < n) {
    const mve_pred16_t t = vctp8q((uint32_t)(n - i));
    const int8x16_t xv = vld1q_z_s8(x + i, t);
    a0 = vmladavaq_p_s8(a0, xv, vld1q_z_s8(w0 + i, t), t);
    a1 = vmladavaq_p_s8(a1, xv, vld1q_z_s8(w1 + i, t), t);
  }
  *acc0 = a0;
  *acc1 = a1;
}

static void dot4_int8(const int8_t *x, const int8_t *w, int32_t n, int32_t *acc) {
  dot2_int8(x, w, w + n, n, &acc[0], &acc[1]);
  dot2_int8(x, w + 2 * n, w + 3 * n, n, &acc[2], &acc[3]);
}

/* acc[0] += x0 . w0, acc[1] += x0 . w1, acc[2] += x1 . w0, acc[3] += x1 . w1 */
static void mac2x2_int8(const int8_t *x0, const int8_t *x1, const int8_t *w0, const int8_t *w1, int32_t n,
                        int32_t *acc) {
  int32_t a00 = acc[0], a01 = acc[1], a10 = acc[2], a11 = acc[3], i = 0;
  for (; i + 16 <= n; i += 16) {
    const int8x16_t u = vld1q_s8(x0 + i), v = vld1q_s8(x1 + i), p = vld1q_s8(w0 + i), q = vld1q_s8(w1 + i);
    a00 = vmladavaq_s8(a00, u, p);
    a01 = vmladavaq_s8(a01, u, q);
    a10 = vmladavaq_s8(a10, v, p);
    a11 = vmladavaq_s8(a11, v, q);
  }
  if (i < n) {
    const mve_pred16_t t = vctp8q((uint32_t)(n - i));
    const int8x16_t u = vld1q_z_s8(x0 + i, t), v = vld1q_z_s8(x1 + i, t);
    const int8x16_t p = vld1q_z_s8(w0 + i, t), q = vld1q_z_s8(w1 + i, t);
    a00 = vmladavaq_p_s8(a00, u, p, t);
    a01 = vmladavaq_p_s8(a01, u, q, t);
    a10 = vmladavaq_p_s8(a10, v, p, t);
    a11 = vmladavaq_p_s8(a11, v, q, t);
  }
  acc[0] = a00;
  acc[1] = a01;
  acc[2] = a10;
  acc[3] = a11;
}
#else

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


/* acc[0] += x0 . w0, acc[1] += x0 . w1, acc[2] += x1 . w0, acc[3] += x1 . w1: each unpacked activation
 * word serves two channels, each unpacked weight word two pixels (8 SMLADs per 4 word loads). */
static void mac2x2_int8(const int8_t *x0, const int8_t *x1, const int8_t *w0, const int8_t *w1, int32_t n,
                        int32_t *acc) {
  int32_t a00 = acc[0], a01 = acc[1], a10 = acc[2], a11 = acc[3], i = 0;
#ifdef QCOMP_USE_DSP
  for (; i + 4 <= n; i += 4) {
    uint32_t v, ue, uo, ve, vo, we, wo;
    memcpy(&v, x0 + i, 4);
    ue = __sxtb16(v);
    uo = sxtb16_ror8(v);
    memcpy(&v, x1 + i, 4);
    ve = __sxtb16(v);
    vo = sxtb16_ror8(v);
    memcpy(&v, w0 + i, 4);
    we = __sxtb16(v);
    wo = sxtb16_ror8(v);
    a00 = __smlad(uo, wo, __smlad(ue, we, a00));
    a10 = __smlad(vo, wo, __smlad(ve, we, a10));
    memcpy(&v, w1 + i, 4);
    we = __sxtb16(v);
    wo = sxtb16_ror8(v);
    a01 = __smlad(uo, wo, __smlad(ue, we, a01));
    a11 = __smlad(vo, wo, __smlad(ve, we, a11));
  }
#endif
  for (; i < n; ++i) {
    const int32_t u = x0[i], v = x1[i], p = w0[i], q = w1[i];
    a00 += u * p;
    a01 += u * q;
    a10 += v * p;
    a11 += v * q;
  }
  acc[0] = a00;
  acc[1] = a01;
  acc[2] = a10;
  acc[3] = a11;
}
#endif /* QCOMP_USE_MVE */

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
            out[c0 + c] = (int8_t)requant_out(acc[c], multiplier[c0 + c], shift[c0 + c], p->output_zero_point,
                                               p->qmin, p->qmax);
        }
      }
}

/* The receptive field of output pixel (b, oy, ox) as K * group contiguous bytes, laid out
 * [group][KH][KW][C / group] like a weight row, zp_in in the padding: the input pixel itself for a 1x1
 * convolution that reads no padding (`direct`), else gathered into `patch`. */
static const int8_t *pixel_patch(const int8_t *x, const qcomp_conv_params *p, int32_t b, int32_t oy, int32_t ox,
                                 int8_t *patch, int direct) {
  const int32_t cg = p->c / p->group, k = p->kh * p->kw * cg;
  int32_t ky, kx, g;
  if (direct) return x + (((int64_t)b * p->h + oy * p->sh) * p->w + ox * p->sw) * p->c;
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
  return patch;
}

/* One pixel's outputs, any group count: four output channels of one group per pass over the patch
 * (dot4_int8), then two, then one. */
static void conv_pixel(const int8_t *xp, const int8_t *w, const int32_t *bias, const int32_t *multiplier,
                       const int32_t *shift, int8_t *out, const qcomp_conv_params *p) {
  const int32_t og = p->o / p->group, k = p->kh * p->kw * (p->c / p->group);
  int32_t o;
  for (o = 0; o < p->o; ++o) {
    int32_t acc = bias[o];
    if (o + 3 < p->o && (o + 3) / og == o / og) {
      int32_t acc4[4], j;
      for (j = 0; j < 4; ++j) acc4[j] = bias[o + j];
      dot4_int8(xp + (o / og) * k, w + (int64_t)o * k, k, acc4);
      for (j = 0; j < 4; ++j)
        out[o + j] = (int8_t)requant_out(acc4[j], multiplier[o + j], shift[o + j], p->output_zero_point,
                                         p->qmin, p->qmax);
      o += 3;
      continue;
    }
    if (o + 1 < p->o && (o + 1) / og == o / og) {
      int32_t acc1 = bias[o + 1];
      dot2_int8(xp + (o / og) * k, w + (int64_t)o * k, w + (int64_t)(o + 1) * k, k, &acc, &acc1);
      out[o] = (int8_t)requant_out(acc, multiplier[o], shift[o], p->output_zero_point, p->qmin, p->qmax);
      out[o + 1] = (int8_t)requant_out(acc1, multiplier[o + 1], shift[o + 1], p->output_zero_point, p->qmin,
                                       p->qmax);
      ++o;
      continue;
    }
    acc = dot_int8(xp + (o / og) * k, w + (int64_t)o * k, k, acc);
    out[o] = (int8_t)requant_out(acc, multiplier[o], shift[o], p->output_zero_point, p->qmin, p->qmax);
  }
}

/* Two pixels' outputs (x0, x1: their K terms; y0, y1: their N outputs), one group: mac2x2_int8 per
 * pair of output channels, the multiplier and shift of each channel loaded once for both pixels. */
static void block2(const int8_t *x0, const int8_t *x1, const int8_t *w, const int32_t *bias,
                   const int32_t *multiplier, const int32_t *shift, int8_t *y0, int8_t *y1, int32_t k, int32_t n,
                   int32_t zero_point, int32_t qmin, int32_t qmax) {
  int32_t j;
  for (j = 0; j + 1 < n; j += 2) {
    const int32_t m0 = multiplier[j], s0 = shift[j], m1 = multiplier[j + 1], s1 = shift[j + 1];
    int32_t acc[4];
    acc[0] = acc[2] = bias[j];
    acc[1] = acc[3] = bias[j + 1];
    mac2x2_int8(x0, x1, w + (int64_t)j * k, w + (int64_t)(j + 1) * k, k, acc);
    y0[j] = (int8_t)requant_out(acc[0], m0, s0, zero_point, qmin, qmax);
    y0[j + 1] = (int8_t)requant_out(acc[1], m1, s1, zero_point, qmin, qmax);
    y1[j] = (int8_t)requant_out(acc[2], m0, s0, zero_point, qmin, qmax);
    y1[j + 1] = (int8_t)requant_out(acc[3], m1, s1, zero_point, qmin, qmax);
  }
  if (j < n) {
    int32_t a0 = bias[j], a1 = bias[j];
    dot2_int8(w + (int64_t)j * k, x0, x1, k, &a0, &a1);
    y0[j] = (int8_t)requant_out(a0, multiplier[j], shift[j], zero_point, qmin, qmax);
    y1[j] = (int8_t)requant_out(a1, multiplier[j], shift[j], zero_point, qmin, qmax);
  }
}

/* acc = bias[o] + sum x_padded * w with x_padded = input_zero_point outside the input (the bias
 * holds -zp_in * sum(w[o]), so acc = bias_q + sum (x - zp_in) * w). Depthwise convolutions with
 * channel multiplier 1 take depthwise_int8; one group: two pixels at a time (block2, the patches of
 * both in `patch`: 2 * KH * KW * C bytes, or none for a 1x1 convolution), an odd last pixel and
 * grouped convolutions one pixel at a time (conv_pixel). */
void qcomp_conv2d_int8(const int8_t *x, const int8_t *w, const int32_t *bias, const int32_t *multiplier,
                       const int32_t *shift, int8_t *y, int8_t *patch, const qcomp_conv_params *p) {
  const int32_t cg = p->c / p->group, og = p->o / p->group, k = p->kh * p->kw * cg;
  const int32_t pixels = p->oh * p->ow;
  const int direct = p->kh == 1 && p->kw == 1 && p->group == 1 && p->pad_top == 0 && p->pad_left == 0 &&
                     (p->oh - 1) * p->sh < p->h && (p->ow - 1) * p->sw < p->w;
  int32_t b, i;
  if (cg == 1 && og == 1) {
    depthwise_int8(x, w, bias, multiplier, shift, y, p);
    return;
  }
  for (b = 0; b < p->n; ++b) {
    int8_t *yb = y + (int64_t)b * pixels * p->o;
    i = 0;
    if (p->group == 1) {
      for (; i + 1 < pixels; i += 2) {
        const int8_t *x0 = pixel_patch(x, p, b, i / p->ow, i % p->ow, patch, direct);
        const int8_t *x1 = pixel_patch(x, p, b, (i + 1) / p->ow, (i + 1) % p->ow, patch + k, direct);
        block2(x0, x1, w, bias, multiplier, shift, yb + (int64_t)i * p->o, yb + (int64_t)(i + 1) * p->o, k, p->o,
               p->output_zero_point, p->qmin, p->qmax);
      }
    }
    for (; i < pixels; ++i)
      conv_pixel(pixel_patch(x, p, b, i / p->ow, i % p->ow, patch, direct), w, bias, multiplier, shift,
                 yb + (int64_t)i * p->o, p);
  }
}

/* acc[r, j] = bias[j] + sum_k x[r, k] * w[j, k]  (bias holds -zp_in * sum(w[j])): two rows of x at a
 * time (block2), an odd last row four (then two, one) rows of w per pass over x (dot4_int8). */
void qcomp_dense_int8(const int8_t *x, const int8_t *w, const int32_t *bias, const int32_t *multiplier,
                      const int32_t *shift, int8_t *y, int32_t rows, int32_t k, int32_t n,
                      int32_t output_zero_point, int32_t qmin, int32_t qmax) {
  int32_t r = 0, j;
  for (; r + 1 < rows; r += 2)
    block2(x + (int64_t)r * k, x + (int64_t)(r + 1) * k, w, bias, multiplier, shift, y + (int64_t)r * n,
           y + (int64_t)(r + 1) * n, k, n, output_zero_point, qmin, qmax);
  for (; r < rows; ++r) {
    const int8_t *xr = x + (int64_t)r * k;
    int8_t *yr = y + (int64_t)r * n;
    for (j = 0; j + 3 < n; j += 4) {
      int32_t acc[4], t;
      for (t = 0; t < 4; ++t) acc[t] = bias[j + t];
      dot4_int8(xr, w + (int64_t)j * k, k, acc);
      for (t = 0; t < 4; ++t)
        yr[j + t] = (int8_t)requant_out(acc[t], multiplier[j + t], shift[j + t], output_zero_point, qmin, qmax);
    }
    for (; j + 1 < n; j += 2) {
      int32_t acc0 = bias[j], acc1 = bias[j + 1];
      dot2_int8(xr, w + (int64_t)j * k, w + (int64_t)(j + 1) * k, k, &acc0, &acc1);
      yr[j] = (int8_t)requant_out(acc0, multiplier[j], shift[j], output_zero_point, qmin, qmax);
      yr[j + 1] = (int8_t)requant_out(acc1, multiplier[j + 1], shift[j + 1], output_zero_point, qmin, qmax);
    }
    if (j < n) {
      const int32_t acc = dot_int8(xr, w + (int64_t)j * k, k, bias[j]);
      yr[j] = (int8_t)requant_out(acc, multiplier[j], shift[j], output_zero_point, qmin, qmax);
    }
  }
}
#endif /* QCOMP_PLAIN */
