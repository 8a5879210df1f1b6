/* qcomp's Helium (MVE) depthwise convolution (channel multiplier 1) for Cortex-M55, included by
 * qcomp_kernels_conv.c under QCOMP_USE_MVE (qcomp_dot.h decides it). The sum is the spec's:
 *
 *   acc[pixel, c] = bias[c] + sum_taps x_padded[tap, c] * w[tap, c]     (x_padded = zp_in in the padding)
 *   y[pixel, c]   = requantize(acc, multiplier[c], shift[c], zp_out, qmin, qmax)
 *
 * vectorized across channels, eight per block: VLDRB.S16 widens the eight input bytes of a tap and its
 * eight weights (re-laid [KH, KW, C] at build time, so both are contiguous) to int16 lanes, VMULLB /
 * VMULLT.S16 form the int32 products of the even and the odd channels (|x * w| <= 2^14) and two
 * VADD.I32 accumulate them: 6 instructions per 8 multiply-accumulates. The accumulators start at the
 * bias of the even / odd channels: VLD20 / VLD21 de-interleave bias[c .. c + 8) (dw_full), a predicated
 * gather of bias[c + 0, 2, 4, 6] and bias[c + 1, 3, 5, 7] in the last block of C % 8 channels.
 *
 * A pixel whose every tap lies inside the input reads its taps directly (row, column strides); a pixel
 * on the border first gets one pointer per tap in the scratch area: the input pixel or, for a tap in
 * the padding, a row of C bytes of zp_in, so padding adds zp_in * w exactly as the spec. The last block
 * of C % 8 channels runs under a VCTP.16 predicate (its inactive lanes load nothing and store nothing).
 *
 * Requantization per block, four lanes per vector, multiplier and shift loaded like the bias. Where
 * every shift is <= -2 (total = 31 - shift > 32, see qcomp_requant.h): VMULH.S32 is the high word H of
 * acc * multiplier, VRSHL by shift + 1 = -(total - 32) adds 2^(total - 33) and shifts right; other
 * shifts up to 29 take a saturating left shift first (dw_scale); then zp_out and the clamp, lane by lane;
 * VMOVNT.I32 interleaves the odd channels' results into the top halves of the even ones' (channel order
 * again) and one VSTRB.16 stores the eight bytes. A shift above 29: requant_out per channel. Integer
 * addition is associative, so the order of the products gives the same int32 as the reference. */
#ifndef QCOMP_DW_MVE_H
#define QCOMP_DW_MVE_H

static const uint32_t dw_even[4] = {0, 2, 4, 6}, dw_odd[4] = {1, 3, 5, 7};

/* acc (even, odd) += the taps of one pixel through its tap pointers, n = the block's channels (<= 8)
 * under a VCTP predicate */
static void dw_taps(const int8_t *const *taps, int32_t ntaps, const int8_t *w, int32_t c, int32_t cc,
                    mve_pred16_t pred, int32x4_t *even, int32x4_t *odd) {
  int32x4_t a = *even, b = *odd;
  int32_t t;
  for (t = 0; t < ntaps; ++t, w += cc) {
    const int16x8_t xv = vldrbq_z_s16(taps[t] + c, pred), wv = vldrbq_z_s16(w, pred);
    a = vaddq_s32(a, vmullbq_int_s16(xv, wv));
    b = vaddq_s32(b, vmulltq_int_s16(xv, wv));
  }
  *even = a;
  *odd = b;
}

/* requantize's scaled value (before zp_out) of four lanes. general = 0: every shift <= -2, VMULH + VRSHL
 * as above. general = 1 (shifts up to 29): VQSHL.S32 first shifts acc left by sl = max(shift + 2, 0),
 * VMULH takes the high word H' of acc * 2^sl * multiplier and VRSHL by sr = min(shift + 1, -1) rounds
 * it: for shift >= -1, (H' + 1) >> 1 = floor((acc * multiplier * 2^(shift + 2) + 2^32) / 2^33)
 * = floor((P + 2^(total - 1)) / 2^total) (a floor of a floor), the spec's value. Where the left shift
 * saturates (|acc| * 2^sl >= 2^31) both that value and the spec's are beyond 2^28 in magnitude, of the
 * sign of acc, so the clamp makes them the same qmin or qmax. */
static int32x4_t dw_scale(int32x4_t a, int32x4_t m, int32x4_t s, int general) {
  if (!general) return vrshlq_s32(vmulhq_s32(a, m), vaddq_n_s32(s, 1));
  a = vqshlq_s32(a, vmaxq_s32(vaddq_n_s32(s, 2), vdupq_n_s32(0)));
  return vrshlq_s32(vmulhq_s32(a, m), vminq_s32(vaddq_n_s32(s, 1), vdupq_n_s32(-1)));
}

/* out[0 .. n) = requantize of the block's accumulators (even, odd: channels c + 2i, c + 2i + 1); mode
 * 0 or 1: dw_scale's general, 2: requant_out per channel (a shift above 29) */
static void dw_store(int32x4_t a, int32x4_t b, const int32_t *multiplier, const int32_t *shift, int8_t *out,
                     int32_t n, int mode, const qcomp_conv_params *p) {
  int32_t j;
  if (mode < 2) {
    const mve_pred16_t pe = vctp32q((uint32_t)((n + 1) >> 1)), po = vctp32q((uint32_t)(n >> 1));
    const uint32x4_t ev = vld1q_u32(dw_even), od = vld1q_u32(dw_odd);
    const int32x4_t lo = vdupq_n_s32(p->qmin), hi = vdupq_n_s32(p->qmax);
    a = dw_scale(a, vldrwq_gather_shifted_offset_z_s32(multiplier, ev, pe),
                 vldrwq_gather_shifted_offset_z_s32(shift, ev, pe), mode);
    b = dw_scale(b, vldrwq_gather_shifted_offset_z_s32(multiplier, od, po),
                 vldrwq_gather_shifted_offset_z_s32(shift, od, po), mode);
    a = vminq_s32(vmaxq_s32(vaddq_n_s32(a, p->output_zero_point), lo), hi);
    b = vminq_s32(vmaxq_s32(vaddq_n_s32(b, p->output_zero_point), lo), hi);
    {
      const int16x8_t r = vmovntq_s32(vreinterpretq_s16_s32(a), b);
      if (n == 8) {
        vstrbq_s16(out, r);
      } else {
        vstrbq_p_s16(out, r, vctp16q((uint32_t)n));
      }
    }
    return;
  }
  {
    int32_t e[4], o[4];
    vst1q_s32(e, a);
    vst1q_s32(o, b);
    for (j = 0; j < n; ++j)
      out[j] = (int8_t)requant_out((j & 1) ? o[j >> 1] : e[j >> 1], multiplier[j], shift[j], p->output_zero_point,
                                   p->qmin, p->qmax);
  }
}

/* acc (even, odd) += x * w of one tap, eight channels */
#define DW_TAP(xk, wk)                                                          \
  do {                                                                          \
    const int16x8_t xv_ = vldrbq_s16(xk), wv_ = vldrbq_s16(wk);                 \
    a = vaddq_s32(a, vmullbq_int_s16(xv_, wv_));                                \
    b = vaddq_s32(b, vmulltq_int_s16(xv_, wv_));                                \
  } while (0)

/* One pixel's full block of eight channels (at channel c), from the bias to the stored bytes: VLD20 /
 * VLD21 de-interleave bias, multiplier and shift into the even and odd channels' lanes (no predicate,
 * no offset vectors). An interior pixel (taps == NULL) reads its taps from xp with the row / col steps,
 * a 3-wide kernel row unrolled; a border pixel through its tap pointers. */
static inline void dw_full(const int8_t *xp, const int8_t *const *taps, int32_t c, const int8_t *w,
                           const int32_t *bias, const int32_t *multiplier, const int32_t *shift, int8_t *out,
                           const qcomp_conv_params *p, int32_t row, int32_t col, int mode) {
  const int32_t cc = p->c;
  const int32x4x2_t bv = vld2q_s32(bias);
  int32x4_t a = bv.val[0], b = bv.val[1];
  int32_t ky, kx;
  if (taps != NULL) {
    const int32_t ntaps = p->kh * p->kw;
    for (ky = 0; ky < ntaps; ++ky, w += cc) DW_TAP(taps[ky] + c, w);
  } else {
    for (ky = 0; ky < p->kh; ++ky) {
      const int8_t *xk = xp + (int64_t)ky * row, *wk = w + (int64_t)ky * p->kw * cc;
      if (p->kw == 3) {
        DW_TAP(xk, wk);
        DW_TAP(xk + col, wk + cc);
        DW_TAP(xk + 2 * col, wk + 2 * cc);
        continue;
      }
      for (kx = 0; kx < p->kw; ++kx, xk += col, wk += cc) DW_TAP(xk, wk);
    }
  }
  {
    const int32x4x2_t mv = vld2q_s32(multiplier), sv = vld2q_s32(shift);
    a = dw_scale(a, mv.val[0], sv.val[0], mode);
    b = dw_scale(b, mv.val[1], sv.val[1], mode);
    a = vminq_s32(vmaxq_s32(vaddq_n_s32(a, p->output_zero_point), vdupq_n_s32(p->qmin)), vdupq_n_s32(p->qmax));
    b = vminq_s32(vmaxq_s32(vaddq_n_s32(b, p->output_zero_point), vdupq_n_s32(p->qmin)), vdupq_n_s32(p->qmax));
    vstrbq_s16(out, vmovntq_s32(vreinterpretq_s16_s32(a), b));
  }
}

/* acc (even, odd) of two pixels += x * w of one tap: the weights loaded once for both */
#define DW_TAP2(xk, wk)                                                         \
  do {                                                                          \
    const int16x8_t wv_ = vldrbq_s16(wk);                                       \
    int16x8_t xv_ = vldrbq_s16(xk);                                             \
    a = vaddq_s32(a, vmullbq_int_s16(xv_, wv_));                                \
    b = vaddq_s32(b, vmulltq_int_s16(xv_, wv_));                                \
    xv_ = vldrbq_s16((xk) + next);                                              \
    a1 = vaddq_s32(a1, vmullbq_int_s16(xv_, wv_));                              \
    b1 = vaddq_s32(b1, vmulltq_int_s16(xv_, wv_));                              \
  } while (0)

/* dw_full of two horizontally adjacent interior pixels (the second's taps next bytes further, its
 * outputs cc bytes further): each weight vector and the block's bias, multiplier and shift serve both */
static inline void dw_full2(const int8_t *xp, const int8_t *w, const int32_t *bias, const int32_t *multiplier,
                            const int32_t *shift, int8_t *out, const qcomp_conv_params *p, int32_t row, int32_t col,
                            int32_t next, int mode) {
  const int32_t cc = p->c;
  const int32x4x2_t bv = vld2q_s32(bias);
  int32x4_t a = bv.val[0], b = bv.val[1], a1 = a, b1 = b;
  int32_t ky, kx;
  for (ky = 0; ky < p->kh; ++ky) {
    const int8_t *xk = xp + (int64_t)ky * row, *wk = w + (int64_t)ky * p->kw * cc;
    for (kx = 0; kx < p->kw; ++kx, xk += col, wk += cc) DW_TAP2(xk, wk);
  }
  {
    const int32x4x2_t mv = vld2q_s32(multiplier), sv = vld2q_s32(shift);
    const int32x4_t lo = vdupq_n_s32(p->qmin), hi = vdupq_n_s32(p->qmax);
    a = dw_scale(a, mv.val[0], sv.val[0], mode);
    b = dw_scale(b, mv.val[1], sv.val[1], mode);
    a1 = dw_scale(a1, mv.val[0], sv.val[0], mode);
    b1 = dw_scale(b1, mv.val[1], sv.val[1], mode);
    a = vminq_s32(vmaxq_s32(vaddq_n_s32(a, p->output_zero_point), lo), hi);
    b = vminq_s32(vmaxq_s32(vaddq_n_s32(b, p->output_zero_point), lo), hi);
    vstrbq_s16(out, vmovntq_s32(vreinterpretq_s16_s32(a), b));
    a1 = vminq_s32(vmaxq_s32(vaddq_n_s32(a1, p->output_zero_point), lo), hi);
    b1 = vminq_s32(vmaxq_s32(vaddq_n_s32(b1, p->output_zero_point), lo), hi);
    vstrbq_s16(out + cc, vmovntq_s32(vreinterpretq_s16_s32(a1), b1));
  }
}

static void depthwise_mve(const int8_t *x, const int8_t *w, const int32_t *bias, const int32_t *multiplier,
                          const int32_t *shift, int8_t *y, int8_t *scratch, const qcomp_conv_params *p) {
  const int32_t ntaps = p->kh * p->kw, cc = p->c, row = p->dh * p->w * cc, col = p->dw * cc;
  const int8_t **taps = (const int8_t **)(void *)scratch;   /* the scratch area is QCOMP_WORKSPACE_ALIGN-aligned */
  int8_t *zp_row = scratch + (size_t)ntaps * sizeof(const int8_t *);
  const uint32x4_t ev = vld1q_u32(dw_even), od = vld1q_u32(dw_odd);
  int32_t b, oy, ox, c, ky, kx, y_lo, y_hi, x_lo, x_hi;
  int mode = 0;   /* dw_store's: 0 every shift <= -2, 1 every shift <= 29, else 2 */
  for (c = 0; c < cc; ++c) mode = shift[c] > 29 ? 2 : shift[c] > -2 && mode == 0 ? 1 : mode;
  inside_range(p->h, p->kh, p->sh, p->dh, p->pad_top, &y_lo, &y_hi);
  inside_range(p->w, p->kw, p->sw, p->dw, p->pad_left, &x_lo, &x_hi);
  memset(zp_row, p->input_zero_point, (size_t)cc);
  for (b = 0; b < p->n; ++b)
    for (oy = 0; oy < p->oh; ++oy)
      for (ox = 0; ox < p->ow; ++ox) {
        int8_t *out = y + (((int64_t)b * p->oh + oy) * p->ow + ox) * cc;
        const int32_t iy = oy * p->sh - p->pad_top, ix = ox * p->sw - p->pad_left;
        const int inside = oy >= y_lo && oy <= y_hi && ox >= x_lo && ox <= x_hi;
        const int8_t *xp = inside ? x + (((int64_t)b * p->h + iy) * p->w + ix) * cc : x;   /* tap (0, 0) */
        if (!inside || (cc & 7) || mode == 2)   /* tap pointers: for dw_taps */
          for (ky = 0; ky < p->kh; ++ky)
            for (kx = 0; kx < p->kw; ++kx) {
              const int32_t ty = iy + ky * p->dh, tx = ix + kx * p->dw;
              taps[ky * p->kw + kx] = ty >= 0 && ty < p->h && tx >= 0 && tx < p->w
                                          ? x + (((int64_t)b * p->h + ty) * p->w + tx) * cc : zp_row;
            }
        c = 0;
        if (inside && ox + 1 <= x_hi && mode < 2 && (cc & 7) == 0) {   /* two interior pixels */
          const int32_t next = p->sw * cc;
          if (mode == 0) {
            for (; c < cc; c += 8)
              dw_full2(xp + c, w + c, bias + c, multiplier + c, shift + c, out + c, p, row, col, next, 0);
          } else {
            for (; c < cc; c += 8)
              dw_full2(xp + c, w + c, bias + c, multiplier + c, shift + c, out + c, p, row, col, next, 1);
          }
          ++ox;
          continue;
        }
        if (mode < 2) {   /* the full blocks */
          const int8_t *const *t = inside ? NULL : taps;
          if (mode == 0) {
            for (; c + 8 <= cc; c += 8)
              dw_full(xp + c, t, c, w + c, bias + c, multiplier + c, shift + c, out + c, p, row, col, 0);
          } else {
            for (; c + 8 <= cc; c += 8)
              dw_full(xp + c, t, c, w + c, bias + c, multiplier + c, shift + c, out + c, p, row, col, 1);
          }
        }
        for (; c < cc; c += 8) {   /* the last C % 8 channels, or every block where a shift is above 29 */
          const int32_t n = cc - c < 8 ? cc - c : 8;
          const mve_pred16_t pe = vctp32q((uint32_t)((n + 1) >> 1)), po = vctp32q((uint32_t)(n >> 1));
          int32x4_t a = vldrwq_gather_shifted_offset_z_s32(bias + c, ev, pe);
          int32x4_t o = vldrwq_gather_shifted_offset_z_s32(bias + c, od, po);
          dw_taps(taps, ntaps, w + c, c, cc, vctp16q((uint32_t)n), &a, &o);
          dw_store(a, o, multiplier + c, shift + c, out + c, n, mode, p);
        }
      }
}

#endif /* QCOMP_DW_MVE_H */
