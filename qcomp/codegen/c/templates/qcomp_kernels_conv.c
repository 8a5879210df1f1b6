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
 * and runs the same block (on Cortex-M4/M7 a row of KW taps inside the input, without dilation along x,
 * is one inline word copy of KW * C bytes, on Cortex-M55 predicated 16-byte vector copies: copy_run).
 * Dense takes two rows of x at a time the same way. Depthwise convolutions (channel multiplier 1) run
 * depthwise_int8 (on Cortex-M4/M7 two adjacent pixels with every tap inside the input at a time:
 * depthwise_pair; on Cortex-M55 depthwise_mve of qcomp_dw_mve.h). The requantization is once per output
 * (requant_out below: the multiplier and shift loaded once per channel and block).
 *
 * Instructions per 4 terms of K in a 2x2 block: Cortex-M4/M7 (DSP extension) 4 word loads, 8 SXTB16
 * and 8 SMLAD for 16 multiply-accumulates; Cortex-M55 (Helium, __ARM_FEATURE_MVE) 16 terms per VLDRB
 * of each operand and one VMLADAVA.S8 per pair (16 multiply-accumulates), the K % 16 tail under a VCTP
 * predicate (the inactive lanes load nothing and add nothing); -DQCOMP_NO_MVE runs the DSP-extension
 * loops there instead. -DQCOMP_PORTABLE keeps scalar loops. */
#include "qcomp_kernels.h"

#ifndef QCOMP_PLAIN
#include "qcomp_dot.h"

/* Depthwise convolution with channel multiplier 1 (group == C == O), weights re-laid [KH, KW, C] at build
 * time (emit_compute.conv2d), so a tap's weights of consecutive channels are contiguous like the input
 * pixel's channels. Per output pixel, `taps` (the scratch area) first gets one pointer per tap: the
 * input pixel, or for a tap in the padding a row of C bytes holding zp_in (after the pointers), so every
 * tap takes the same loop. Then per block of four channels, over the taps (Cortex-M4/M7): one word
 * load of x and of w, SXTB16 of both (lanes 0, 2 and 1, 3), SMLABB / SMLATT per channel, four
 * accumulators in registers; scalar C: four multiply-adds. Helium: depthwise_mve (qcomp_dw_mve.h). */
#define DW_STEP 4
static void depthwise_block(const int8_t *const *taps, int32_t ntaps, const int8_t *w, int32_t stride,
                            int32_t c, int32_t n, int32_t *acc) {
  int32_t t;
  int32_t a0 = acc[0], a1 = acc[1], a2 = acc[2], a3 = acc[3];
  const int8_t *wk = w + c;
#ifdef QCOMP_USE_DSP
  if (n == 4) {
    for (t = 0; t < ntaps; ++t, wk += stride) {
      uint32_t xv, wv, xe, xo, we, wo;
      memcpy(&xv, taps[t] + c, 4);
      memcpy(&wv, wk, 4);
      xe = __sxtb16(xv);
      xo = sxtb16_ror8(xv);
      we = __sxtb16(wv);
      wo = sxtb16_ror8(wv);
      a0 = __smlabb(xe, we, a0);
      a2 = __smlatt(xe, we, a2);
      a1 = __smlabb(xo, wo, a1);
      a3 = __smlatt(xo, wo, a3);
    }
    n = 0;
  }
#endif
  if (n == 4) {
    for (t = 0; t < ntaps; ++t, wk += stride) {
      const int8_t *xk = taps[t] + c;
      a0 += xk[0] * wk[0];
      a1 += xk[1] * wk[1];
      a2 += xk[2] * wk[2];
      a3 += xk[3] * wk[3];
    }
  } else if (n > 0) {
    for (t = 0; t < ntaps; ++t, wk += stride) {
      const int8_t *xk = taps[t] + c;
      a0 += xk[0] * wk[0];
      if (n > 1) a1 += xk[1] * wk[1];
      if (n > 2) a2 += xk[2] * wk[2];
    }
  }
  acc[0] = a0;
  acc[1] = a1;
  acc[2] = a2;
  acc[3] = a3;
}

#ifdef QCOMP_USE_DSP
/* Two horizontally adjacent output pixels whose every tap lies inside the input (y0, y0 + C: their
 * outputs; x0: pixel 0's tap (0, 0); pixel 1's taps are sw * C bytes further): no tap pointers, the
 * taps addressed directly, and each tap's weight word unpacked once (SXTB16 x 2) for both pixels:
 * per tap and four channels 3 word loads, 6 SXTB16, 8 SMLAxy for 8 multiply-accumulates (one pixel at a
 * time: 3 loads, 4 SXTB16, 4 SMLAxy for 4). Channels past the last multiple of four: scalar. */
static void depthwise_pair(const int8_t *x0, const int8_t *w, const int32_t *bias, const int32_t *multiplier,
                           const int32_t *shift, int8_t *y0, const qcomp_conv_params *p) {
  const int32_t cc = p->c, next = p->sw * cc, row = p->dh * p->w * cc, col = p->dw * cc;
  int8_t *y1 = y0 + cc;
  int32_t c, ky, kx, j;
  for (c = 0; c + 4 <= cc; c += 4) {
    int32_t a0 = bias[c], a1 = bias[c + 1], a2 = bias[c + 2], a3 = bias[c + 3];
    int32_t b0 = a0, b1 = a1, b2 = a2, b3 = a3;
    const int8_t *wk = w + c;
    for (ky = 0; ky < p->kh; ++ky) {
      const int8_t *xk = x0 + (int64_t)ky * row + c;
      for (kx = 0; kx < p->kw; ++kx, xk += col, wk += cc) {
        uint32_t v, we, wo, e, o;
        memcpy(&v, wk, 4);
        we = __sxtb16(v);
        wo = sxtb16_ror8(v);
        memcpy(&v, xk, 4);
        e = __sxtb16(v);
        o = sxtb16_ror8(v);
        a0 = __smlabb(e, we, a0);
        a2 = __smlatt(e, we, a2);
        a1 = __smlabb(o, wo, a1);
        a3 = __smlatt(o, wo, a3);
        memcpy(&v, xk + next, 4);
        e = __sxtb16(v);
        o = sxtb16_ror8(v);
        b0 = __smlabb(e, we, b0);
        b2 = __smlatt(e, we, b2);
        b1 = __smlabb(o, wo, b1);
        b3 = __smlatt(o, wo, b3);
      }
    }
    {
      const int32_t acc0[4] = {a0, a1, a2, a3}, acc1[4] = {b0, b1, b2, b3};
      for (j = 0; j < 4; ++j) {
        const int32_t m = multiplier[c + j], s = shift[c + j];
        y0[c + j] = (int8_t)requant_out(acc0[j], m, s, p->output_zero_point, p->qmin, p->qmax);
        y1[c + j] = (int8_t)requant_out(acc1[j], m, s, p->output_zero_point, p->qmin, p->qmax);
      }
    }
  }
  for (; c < cc; ++c) {
    int32_t a = bias[c], b = bias[c];
    const int8_t *wk = w + c;
    for (ky = 0; ky < p->kh; ++ky) {
      const int8_t *xk = x0 + (int64_t)ky * row + c;
      for (kx = 0; kx < p->kw; ++kx, xk += col, wk += cc) {
        a += xk[0] * wk[0];
        b += xk[next] * wk[0];
      }
    }
    y0[c] = (int8_t)requant_out(a, multiplier[c], shift[c], p->output_zero_point, p->qmin, p->qmax);
    y1[c] = (int8_t)requant_out(b, multiplier[c], shift[c], p->output_zero_point, p->qmin, p->qmax);
  }
}
#endif

#if defined(QCOMP_USE_DSP) || defined(QCOMP_USE_MVE)
/* The first and last output index whose taps all lie inside an input extent (size) along one axis:
 * lo = ceil(pad / stride), hi = floor((size - 1 - (k - 1) * dilation + pad) / stride); none when hi < lo. */
static void inside_range(int32_t size, int32_t k, int32_t stride, int32_t dilation, int32_t pad, int32_t *lo,
                         int32_t *hi) {
  const int32_t top = size - 1 - (k - 1) * dilation + pad;
  *lo = (pad + stride - 1) / stride;
  *hi = top < 0 ? -1 : top / stride;
}
#endif
#ifdef QCOMP_USE_MVE
#include "qcomp_dw_mve.h"
#endif

static void depthwise_int8(const int8_t *x, const int8_t *w, const int32_t *bias, const int32_t *multiplier,
                           const int32_t *shift, int8_t *y, int8_t *scratch, const qcomp_conv_params *p) {
  const int32_t ntaps = p->kh * p->kw;
  const int8_t **taps = (const int8_t **)(void *)scratch;   /* the scratch area is QCOMP_WORKSPACE_ALIGN-aligned */
  int8_t *zp_row = scratch + (size_t)ntaps * sizeof(const int8_t *);
  int32_t b, oy, ox, c, j, ky, kx;
  int32_t acc[DW_STEP];
#ifdef QCOMP_USE_MVE
  depthwise_mve(x, w, bias, multiplier, shift, y, scratch, p);
  return;
#endif
#ifdef QCOMP_USE_DSP
  int32_t y_lo, y_hi, x_lo, x_hi;
  inside_range(p->h, p->kh, p->sh, p->dh, p->pad_top, &y_lo, &y_hi);
  inside_range(p->w, p->kw, p->sw, p->dw, p->pad_left, &x_lo, &x_hi);
#endif
  memset(zp_row, p->input_zero_point, (size_t)p->c);
  for (b = 0; b < p->n; ++b)
    for (oy = 0; oy < p->oh; ++oy)
      for (ox = 0; ox < p->ow; ++ox) {
        int8_t *out = y + (((int64_t)b * p->oh + oy) * p->ow + ox) * p->o;
#ifdef QCOMP_USE_DSP
        if (oy >= y_lo && oy <= y_hi && ox >= x_lo && ox + 1 <= x_hi) {   /* two pixels, all taps inside */
          const int32_t iy = oy * p->sh - p->pad_top, ix = ox * p->sw - p->pad_left;
          depthwise_pair(x + (((int64_t)b * p->h + iy) * p->w + ix) * p->c, w, bias, multiplier, shift, out, p);
          ++ox;
          continue;
        }
#endif
        for (ky = 0; ky < p->kh; ++ky) {
          const int32_t iy = oy * p->sh - p->pad_top + ky * p->dh;
          for (kx = 0; kx < p->kw; ++kx) {
            const int32_t ix = ox * p->sw - p->pad_left + kx * p->dw;
            taps[ky * p->kw + kx] = iy >= 0 && iy < p->h && ix >= 0 && ix < p->w
                                        ? x + (((int64_t)b * p->h + iy) * p->w + ix) * p->c : zp_row;
          }
        }
        for (c = 0; c < p->c; c += DW_STEP) {
          const int32_t n = p->c - c < DW_STEP ? p->c - c : DW_STEP;
          for (j = 0; j < n; ++j) acc[j] = bias[c + j];
          depthwise_block(taps, ntaps, w, p->c, c, n, acc);
          for (j = 0; j < n; ++j)
            out[c + j] = (int8_t)requant_out(acc[j], multiplier[c + j], shift[c + j], p->output_zero_point, p->qmin,
                                             p->qmax);
        }
      }
}

#ifdef QCOMP_USE_DSP
/* dst[0 .. n) = src[0 .. n): word loads and stores (unaligned ones are allowed on Cortex-M4 / M7), the
 * last n % 4 bytes one by one; inline, where a memcpy call per short run costs more than the copy. */
static void copy_run(int8_t *dst, const int8_t *src, int32_t n) {
  int32_t i = 0;
  for (; i + 4 <= n; i += 4) {
    uint32_t v;
    memcpy(&v, src + i, 4);
    memcpy(dst + i, &v, 4);
  }
  for (; i < n; ++i) dst[i] = src[i];
}
#elif defined(QCOMP_USE_MVE)
/* the same with Helium: 16 bytes per VLDRB.8 / VSTRB.8, the last run under a VCTP.8 predicate */
static void copy_run(int8_t *dst, const int8_t *src, int32_t n) {
  int32_t i;
  for (i = 0; i < n; i += 16) {
    const mve_pred16_t t = vctp8q((uint32_t)(n - i));
    vstrbq_p_s8(dst + i, vldrbq_z_s8(src + i, t), t);
  }
}
#endif

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
#if defined(QCOMP_USE_DSP) || defined(QCOMP_USE_MVE)
    {   /* one group, no dilation along x, the row's KW taps inside: KW * C contiguous input bytes */
      const int32_t ix0 = ox * p->sw - p->pad_left;
      if (p->group == 1 && p->dw == 1 && iy >= 0 && iy < p->h && ix0 >= 0 && ix0 + p->kw <= p->w) {
        copy_run(patch + ky * p->kw * cg, x + (((int64_t)b * p->h + iy) * p->w + ix0) * p->c, p->kw * cg);
        continue;
      }
    }
#endif
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
    depthwise_int8(x, w, bias, multiplier, shift, y, patch, p);
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
