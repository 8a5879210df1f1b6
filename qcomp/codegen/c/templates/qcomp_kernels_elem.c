/* qcomp fixed-point kernels, part 2 (see qcomp_kernels.h): elementwise ops, pooling, reductions
 * and data movement. The arithmetic is that of qcomp_kernels.c (requantize, add_int8, ...). */
#include "qcomp_kernels.h"
#include "qcomp_requant.h"

#include <string.h>

/* ---- elementwise ------------------------------------------------------------------------- */

/* An odometer over `shape` (row-major) that carries the element offsets of up to two tensors with
 * their own strides (stride 0 on broadcast axes): no division per element, which on Cortex-M4
 * would be a call to libgcc's 64-bit __aeabi_ldivmod. */
typedef struct {
  int32_t rank;
  const int32_t *shape, *strides_a, *strides_b;
  int32_t idx[QCOMP_MAX_RANK];
  int64_t a, b;
} odometer;

static void odometer_start(odometer *it, int32_t rank, const int32_t *shape, const int32_t *strides_a,
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

/* One step: the last axis fastest; an axis that wraps rewinds its offsets and carries. */
static void odometer_next(odometer *it) {
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

static int64_t numel(int32_t rank, const int32_t *shape) {
  int64_t n = 1;
  int32_t d;
  for (d = 0; d < rank; ++d) n *= shape[d];
  return n;
}

/* From this many elements on, Add / Sub look their two input rescales up in 256-entry tables (2 KiB of
 * stack, built with 512 rescales): fewer instructions than two 64-bit products per element. */
#define ADD_TABLE_MIN 1024

void qcomp_add_int8(const int8_t *a, const int8_t *b, int8_t *y, int32_t rank, const int32_t *out_shape,
                    const int32_t *a_strides, const int32_t *b_strides, const AddParams *params, int32_t sub) {
  const int64_t n = numel(rank, out_shape);
  int64_t i;
  odometer it;
  odometer_start(&it, rank, out_shape, a_strides, b_strides);
  const AddParams p = *params;
  const int32_t sign = sub ? -1 : 1, one = (int32_t)1 << p.left_shift;
  /* add_int8 / sub_int8 of qcomp_kernels.c, inlined (qcomp_requant.h): the same integers; the
   * odometer only for broadcasting (equal shapes arrive as one flat axis of stride 1) */
  if (rank == 1 && a_strides[0] == 1 && b_strides[0] == 1 && n >= ADD_TABLE_MIN) {
    /* each input's rescale depends on one int8 value: 256-entry tables of the same mbqm_out results
     * replace the two 64-bit products per element (the sums, hence the outputs, are unchanged) */
    int32_t ta[256], tb[256], v;
    for (v = -128; v < 128; ++v) {
      ta[v + 128] = mbqm_out((v - p.a_zero_point) * one, p.a_multiplier, p.a_shift);
      tb[v + 128] = sign * mbqm_out((v - p.b_zero_point) * one, p.b_multiplier, p.b_shift);
    }
    for (i = 0; i < n; ++i)
      y[i] = (int8_t)requant_out(ta[a[i] + 128] + tb[b[i] + 128], p.out_multiplier, p.out_shift,
                                 p.out_zero_point, p.qmin, p.qmax);
    return;
  }
  if (rank == 1 && a_strides[0] == 1 && b_strides[0] == 1) {
    for (i = 0; i < n; ++i) {
      const int32_t acc = mbqm_out((a[i] - p.a_zero_point) * one, p.a_multiplier, p.a_shift) +
                          sign * mbqm_out((b[i] - p.b_zero_point) * one, p.b_multiplier, p.b_shift);
      y[i] = (int8_t)requant_out(acc, p.out_multiplier, p.out_shift, p.out_zero_point, p.qmin, p.qmax);
    }
    return;
  }
  for (i = 0; i < n; ++i, odometer_next(&it)) {
    const int32_t acc = mbqm_out((a[it.a] - p.a_zero_point) * one, p.a_multiplier, p.a_shift) +
                        sign * mbqm_out((b[it.b] - p.b_zero_point) * one, p.b_multiplier, p.b_shift);
    y[i] = (int8_t)requant_out(acc, p.out_multiplier, p.out_shift, p.out_zero_point, p.qmin, p.qmax);
  }
}

void qcomp_mul_int8(const int8_t *a, const int8_t *b, int8_t *y, int32_t rank, const int32_t *out_shape,
                    const int32_t *a_strides, const int32_t *b_strides, const MulParams *params) {
  const int64_t n = numel(rank, out_shape);
  int64_t i;
  odometer it;
  odometer_start(&it, rank, out_shape, a_strides, b_strides);
  for (i = 0; i < n; ++i, odometer_next(&it)) y[i] = (int8_t)mul_int8(a[it.a], b[it.b], params);
}

/* Min / Max of int8 values sharing their quant params (the quantizer requantized both operands to
 * the output's): the integer min / max is the quantized real one. is_max: 0 Min, 1 Max. */
void qcomp_minmax_int8(const int8_t *a, const int8_t *b, int8_t *y, int32_t rank, const int32_t *out_shape,
                       const int32_t *a_strides, const int32_t *b_strides, int32_t is_max) {
  const int64_t n = numel(rank, out_shape);
  int64_t i;
  odometer it;
  odometer_start(&it, rank, out_shape, a_strides, b_strides);
  for (i = 0; i < n; ++i, odometer_next(&it)) {
    const int8_t av = a[it.a], bv = b[it.b];
    y[i] = is_max ? (av > bv ? av : bv) : (av < bv ? av : bv);
  }
}

void qcomp_lut_int8(const int8_t *x, const int8_t *table, int8_t *y, int32_t n) {
  int32_t i;
  for (i = 0; i < n; ++i) y[i] = table[x[i] + 128];
}

/* |x - zp_in| <= 255. */
void qcomp_requantize_int8(const int8_t *x, int8_t *y, int32_t n, int32_t input_zero_point,
                           int32_t multiplier, int32_t shift, int32_t output_zero_point,
                           int32_t qmin, int32_t qmax) {
  int32_t i;
  for (i = 0; i < n; ++i)
    y[i] = (int8_t)requantize(x[i] - input_zero_point, multiplier, shift, output_zero_point, qmin, qmax);
}

/* ---- pooling and reductions -------------------------------------------------------------- */

/* Padding and the ceil_mode overhang never win: the maximum starts at the int8 minimum. Per output
 * pixel the window's taps inside the input are visited once, channels innermost (contiguous in NHWC),
 * the output row serving as the running maximum. */
void qcomp_maxpool2d_int8(const int8_t *x, int8_t *y, const qcomp_pool_params *p) {
  int32_t b, oy, ox, c, ky, kx;
  for (b = 0; b < p->n; ++b)
    for (oy = 0; oy < p->oh; ++oy)
      for (ox = 0; ox < p->ow; ++ox) {
        int8_t *out = y + (((int64_t)b * p->oh + oy) * p->ow + ox) * p->c;
        for (c = 0; c < p->c; ++c) out[c] = -128;
        for (ky = 0; ky < p->kh; ++ky) {
          const int32_t iy = oy * p->sh - p->pad_top + ky * p->dh;
          if (iy < 0 || iy >= p->h) continue;
          for (kx = 0; kx < p->kw; ++kx) {
            const int32_t ix = ox * p->sw - p->pad_left + kx * p->dw;
            const int8_t *xk;
            if (ix < 0 || ix >= p->w) continue;
            xk = x + (((int64_t)b * p->h + iy) * p->w + ix) * p->c;
            for (c = 0; c < p->c; ++c)
              if (xk[c] > out[c]) out[c] = xk[c];
          }
        }
      }
}

/* window_sum = sum of the window's inputs + (counted padding) * zp_in, so that
 * window_sum - count * zp_in = sum over the inputs of (x - zp_in): |.| <= 255 * KH * KW. */
void qcomp_avgpool2d_int8(const int8_t *x, int8_t *y, const qcomp_pool_params *p, const int32_t *count_h,
                          const int32_t *count_w, int32_t in_zero_point, const int32_t *multipliers,
                          const int32_t *shifts, int32_t out_zero_point, int32_t qmin, int32_t qmax) {
  int32_t b, oy, ox, c, ky, kx;
  for (b = 0; b < p->n; ++b)
    for (oy = 0; oy < p->oh; ++oy)
      for (ox = 0; ox < p->ow; ++ox)
        for (c = 0; c < p->c; ++c) {
          const int32_t count = count_h[oy] * count_w[ox];
          int32_t centred = 0;
          for (ky = 0; ky < p->kh; ++ky) {
            const int32_t iy = oy * p->sh - p->pad_top + ky * p->dh;
            if (iy < 0 || iy >= p->h) continue;
            for (kx = 0; kx < p->kw; ++kx) {
              const int32_t ix = ox * p->sw - p->pad_left + kx * p->dw;
              if (ix < 0 || ix >= p->w) continue;
              centred += x[(((int64_t)b * p->h + iy) * p->w + ix) * p->c + c] - in_zero_point;
            }
          }
          y[(((int64_t)b * p->oh + oy) * p->ow + ox) * p->c + c] = (int8_t)avg_int8(
              centred + count * in_zero_point, count, in_zero_point, multipliers, shifts, out_zero_point,
              qmin, qmax);
        }
}

/* window_sum of `count` int8 values: |.| <= 128 * count < 2^31 (count <= MAX_WINDOW_COUNT). */
void qcomp_mean_int8(const int8_t *x, int8_t *y, int32_t outer_rank, const int32_t *outer_shape,
                     const int32_t *outer_strides, int32_t inner_rank, const int32_t *inner_shape,
                     const int32_t *inner_strides, const MeanParams *params) {
  const int64_t n_out = numel(outer_rank, outer_shape), n_in = numel(inner_rank, inner_shape);
  int64_t j, i;
  odometer outer, inner;
  odometer_start(&outer, outer_rank, outer_shape, outer_strides, 0);
  for (j = 0; j < n_out; ++j, odometer_next(&outer)) {
    const int8_t *base = x + outer.a;
    int32_t window_sum = 0;
    odometer_start(&inner, inner_rank, inner_shape, inner_strides, 0);
    for (i = 0; i < n_in; ++i, odometer_next(&inner)) window_sum += base[inner.a];
    y[j] = (int8_t)mean_int8(window_sum, params);
  }
}

/* The largest (is_max) or smallest int8 value of each reduced group: a selection, exact on values
 * that keep their input's quant params. */
static void reduce_extreme_int8(const int8_t *x, int8_t *y, int32_t outer_rank, const int32_t *outer_shape,
                                const int32_t *outer_strides, int32_t inner_rank, const int32_t *inner_shape,
                                const int32_t *inner_strides, int32_t is_max) {
  const int64_t n_out = numel(outer_rank, outer_shape), n_in = numel(inner_rank, inner_shape);
  int64_t j, i;
  odometer outer, inner;
  odometer_start(&outer, outer_rank, outer_shape, outer_strides, 0);
  for (j = 0; j < n_out; ++j, odometer_next(&outer)) {
    const int8_t *base = x + outer.a;
    int32_t best = is_max ? -128 : 127;
    odometer_start(&inner, inner_rank, inner_shape, inner_strides, 0);
    for (i = 0; i < n_in; ++i, odometer_next(&inner)) {
      const int32_t v = base[inner.a];
      if (is_max ? v > best : v < best) best = v;
    }
    y[j] = (int8_t)best;
  }
}

void qcomp_reduce_max_int8(const int8_t *x, int8_t *y, int32_t outer_rank, const int32_t *outer_shape,
                           const int32_t *outer_strides, int32_t inner_rank, const int32_t *inner_shape,
                           const int32_t *inner_strides) {
  reduce_extreme_int8(x, y, outer_rank, outer_shape, outer_strides, inner_rank, inner_shape, inner_strides, 1);
}

void qcomp_reduce_min_int8(const int8_t *x, int8_t *y, int32_t outer_rank, const int32_t *outer_shape,
                           const int32_t *outer_strides, int32_t inner_rank, const int32_t *inner_shape,
                           const int32_t *inner_strides) {
  reduce_extreme_int8(x, y, outer_rank, outer_shape, outer_strides, inner_rank, inner_shape, inner_strides, 0);
}

/* ---- comparison, selection and index ops (qcomp/codegen/c/emit_logic.py) ------------------- */

/* a OP b on int8 codes sharing their quant params (or a code against a threshold code): exact.
 * mode: 0 eq, 1 gt, 2 ge, 3 lt, 4 le; y is bool, one byte 0 / 1. */
void qcomp_compare_int8(const int8_t *a, const int8_t *b, uint8_t *y, int32_t rank, const int32_t *out_shape,
                        const int32_t *a_strides, const int32_t *b_strides, int32_t mode) {
  const int64_t n = numel(rank, out_shape);
  int64_t i;
  odometer it;
  odometer_start(&it, rank, out_shape, a_strides, b_strides);
  for (i = 0; i < n; ++i, odometer_next(&it)) {
    const int32_t av = a[it.a], bv = b[it.b];
    int32_t r = av == bv;
    if (mode == 1) r = av > bv;
    else if (mode == 2) r = av >= bv;
    else if (mode == 3) r = av < bv;
    else if (mode == 4) r = av <= bv;
    y[i] = (uint8_t)r;
  }
}

/* Not (mode 0, b unused: pass a), And (1), Or (2), Xor (3) of bools (bytes 0 / 1). */
void qcomp_logical_bool(const uint8_t *a, const uint8_t *b, uint8_t *y, int32_t rank, const int32_t *out_shape,
                        const int32_t *a_strides, const int32_t *b_strides, int32_t mode) {
  const int64_t n = numel(rank, out_shape);
  int64_t i;
  odometer it;
  odometer_start(&it, rank, out_shape, a_strides, b_strides);
  for (i = 0; i < n; ++i, odometer_next(&it)) {
    const uint8_t av = a[it.a], bv = b[it.b];
    y[i] = (uint8_t)(mode == 0 ? av ^ 1u : mode == 1 ? av & bv : mode == 2 ? av | bv : av ^ bv);
  }
}

/* cond ? x : y on int8 values already at the output's quant params (two odometers: three operands). */
void qcomp_where_int8(const uint8_t *cond, const int8_t *x, const int8_t *y, int8_t *out, int32_t rank,
                      const int32_t *out_shape, const int32_t *c_strides, const int32_t *x_strides,
                      const int32_t *y_strides) {
  const int64_t n = numel(rank, out_shape);
  int64_t i;
  odometer it, iy;
  odometer_start(&it, rank, out_shape, c_strides, x_strides);
  odometer_start(&iy, rank, out_shape, y_strides, 0);
  for (i = 0; i < n; ++i, odometer_next(&it), odometer_next(&iy)) out[i] = cond[it.a] ? x[it.b] : y[iy.a];
}

/* The int64 index of the first (last) largest (is_max) or smallest int8 code along one axis of
 * `length` elements `stride` apart, for each position of the other axes. */
void qcomp_arg_extreme_int8(const int8_t *x, int64_t *y, int32_t outer_rank, const int32_t *outer_shape,
                            const int32_t *outer_strides, int32_t length, int32_t stride, int32_t is_max,
                            int32_t last) {
  const int64_t n_out = numel(outer_rank, outer_shape);
  int64_t j;
  int32_t i;
  odometer outer;
  odometer_start(&outer, outer_rank, outer_shape, outer_strides, 0);
  for (j = 0; j < n_out; ++j, odometer_next(&outer)) {
    const int8_t *base = x + outer.a;
    int32_t best = base[0], where = 0;
    for (i = 1; i < length; ++i) {
      const int32_t v = base[(int64_t)i * stride];
      const int32_t wins = is_max ? (last ? v >= best : v > best) : (last ? v <= best : v < best);
      if (wins) {
        best = v;
        where = i;
      }
    }
    y[j] = where;
  }
}

/* ---- data movement ----------------------------------------------------------------------- */

/* Bytes (int8, uint8, bool): the last two axes as two plain loops (a table lookup and a byte move per
 * element, no call; a padded row is one memset), the odometer over the axes before them. The same
 * entries and padding rule as qcomp_gather_axes. */
static void gather_bytes(const uint8_t *src, uint8_t *dst, int32_t rank, const int32_t *out_shape,
                         const int32_t *tables, const void *pad) {
  const uint8_t fill = pad != NULL ? *(const uint8_t *)pad : 0;
  const int32_t outer_rank = rank > 2 ? rank - 2 : 0;
  const int32_t rows = rank >= 2 ? out_shape[rank - 2] : 1, inner = out_shape[rank - 1];
  const int32_t *second = tables, *last;
  int32_t idx[QCOMP_MAX_RANK], d, j, i;
  int64_t outer = 1, r;
  for (d = 0; d < outer_rank; ++d) {
    idx[d] = 0;
    outer *= out_shape[d];
    second += out_shape[d];
  }
  last = rank >= 2 ? second + rows : second;
  for (r = 0; r < outer; ++r) {
    int64_t base = 0;
    int32_t padded = 0;
    const int32_t *table = tables;
    for (d = 0; d < outer_rank; ++d) {
      if (table[idx[d]] < 0) padded = 1;
      base += table[idx[d]];
      table += out_shape[d];
    }
    for (j = 0; j < rows; ++j, dst += inner) {
      const int32_t s = rank >= 2 ? second[j] : 0;
      const uint8_t *row = src + base + s;
      if (padded || s < 0) {
        memset(dst, fill, (size_t)inner);
        continue;
      }
      for (i = 0; i < inner; ++i) dst[i] = last[i] < 0 ? fill : row[last[i]];
    }
    for (d = outer_rank - 1; d >= 0; --d) {  /* odometer step over the outer axes */
      if (++idx[d] < out_shape[d]) break;
      idx[d] = 0;
    }
  }
}

void qcomp_gather_axes(const void *x, void *y, int32_t elem_size, int32_t rank, const int32_t *out_shape,
                       const int32_t *tables, const void *pad) {
  const uint8_t *src = (const uint8_t *)x;
  uint8_t *dst = (uint8_t *)y;
  const int32_t inner = out_shape[rank - 1];
  const int32_t *last = tables;
  int32_t idx[QCOMP_MAX_RANK];
  int32_t d, i;
  int64_t outer = 1, r;
  if (elem_size == 1) {
    gather_bytes(src, dst, rank, out_shape, tables, pad);
    return;
  }
  for (d = 0; d < rank - 1; ++d) {
    idx[d] = 0;
    outer *= out_shape[d];
    last += out_shape[d];
  }
  for (r = 0; r < outer; ++r) {
    /* base = sum of the outer axes' entries; any negative entry makes the whole row padding */
    int64_t base = 0;
    int32_t padded = 0;
    const int32_t *table = tables;
    for (d = 0; d < rank - 1; ++d) {
      if (table[idx[d]] < 0) padded = 1;
      base += table[idx[d]];
      table += out_shape[d];
    }
    for (i = 0; i < inner; ++i, dst += elem_size) {
      if (padded || last[i] < 0) {
        memcpy(dst, pad, (size_t)elem_size);
      } else {
        memcpy(dst, src + (base + last[i]) * elem_size, (size_t)elem_size);
      }
    }
    for (d = rank - 2; d >= 0; --d) {  /* odometer step over the outer axes */
      if (++idx[d] < out_shape[d]) break;
      idx[d] = 0;
    }
  }
}

void qcomp_xor_bytes(void *dst, const void *src, int32_t n, int32_t mask) {
  int32_t i;
  for (i = 0; i < n; ++i) ((uint8_t *)dst)[i] = (uint8_t)(((const uint8_t *)src)[i] ^ (uint8_t)mask);
}

void qcomp_copy_blocks(void *dst, int32_t dst_stride, const void *src, int32_t src_stride, int32_t rows,
                       int32_t chunk) {
  int32_t r;
  for (r = 0; r < rows; ++r)
    memcpy((uint8_t *)dst + (int64_t)r * dst_stride, (const uint8_t *)src + (int64_t)r * src_stride,
           (size_t)chunk);
}
