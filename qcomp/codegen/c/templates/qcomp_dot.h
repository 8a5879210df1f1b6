/* qcomp's int8 dot-product blocks and the inlined requantization, for qcomp_kernels_conv.c (its only
 * includer: static functions, one copy in its translation unit). The build variant decides the loops:
 * Helium (__ARM_FEATURE_MVE, unless -DQCOMP_NO_MVE), the DSP extension (__ARM_FEATURE_DSP: SXTB16,
 * SMLAD), or scalar C (-DQCOMP_PORTABLE, and any other compiler). Each block adds exact int32 sums of
 * int8 products to its accumulators; the caller's bound (K * 127 * 255 + |bias| < 2^31) covers them. */
#ifndef QCOMP_DOT_H
#define QCOMP_DOT_H

#include <string.h>

#include "qcomp_kernels.h"
#include "qcomp_requant.h"

#if defined(__ARM_FEATURE_MVE) && !defined(QCOMP_PORTABLE) && !defined(QCOMP_NO_MVE)
#include <arm_mve.h>
#define QCOMP_USE_MVE 1
#elif defined(__ARM_FEATURE_DSP) && !defined(QCOMP_PORTABLE)
#include <arm_acle.h>
#define QCOMP_USE_DSP 1
#endif

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

#endif /* QCOMP_DOT_H */
