/* qcomp fixed-point kernels for the dsp-c backend (C99, no malloc, no recursion).
 *
 * The scalar primitives are line-for-line transcriptions of qcomp/fixedpoint.py, with the same
 * names: multiply_by_quantized_multiplier, requantize, quantize, dequantize, add_int8 / sub_int8,
 * mul_int8, avg_int8, mean_int8. The kernels below them are the integer ops of qcomp/ir/qops.py;
 * every one is bit-exact to qcomp.ref.run_integer (tests/opcases, tests/backends/c).
 *
 * The only floats are quantize / dequantize (model I/O); -DQCOMP_NO_FLOAT removes them.
 * Build variants, same results bit for bit: by default the dot products of Conv and Dense use the
 * Cortex-M DSP extension (SXTB16 + SMLAD) when __ARM_FEATURE_DSP is defined; -DQCOMP_PORTABLE keeps
 * the scalar loops; -DQCOMP_PLAIN selects the plain per-op reference form of Conv and Dense (textbook
 * nested loops, no patch, no blocking, no DSP: the baseline of benchmarks/dsp_cost.py).
 * Stack: no recursion, no VLA; the deepest frame is a depthwise convolution's 64 int32 accumulators.
 * Right shifts of negative int64 values are arithmetic: C99 leaves this implementation-defined,
 * and every supported compiler (gcc, arm-none-eabi-gcc, clang) defines it so.
 */
#ifndef QCOMP_KERNELS_H
#define QCOMP_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#define QCOMP_MAX_RANK 8

/* ---- the spec (qcomp/fixedpoint.py) ---- */
int64_t multiply_by_quantized_multiplier(int32_t acc, int32_t multiplier, int32_t shift);
int32_t requantize(int32_t acc, int32_t multiplier, int32_t shift, int32_t zero_point,
                   int32_t qmin, int32_t qmax);

typedef struct {
  int32_t a_zero_point, b_zero_point, left_shift;
  int32_t a_multiplier, a_shift, b_multiplier, b_shift;
  int32_t out_multiplier, out_shift, out_zero_point, qmin, qmax;
} AddParams;

typedef struct {
  int32_t a_zero_point, b_zero_point, multiplier, shift, out_zero_point, qmin, qmax;
} MulParams;

typedef struct {
  int32_t count, in_zero_point, multiplier, shift, out_zero_point, qmin, qmax;
} MeanParams;

int32_t add_int8(int32_t a, int32_t b, const AddParams *params);
int32_t sub_int8(int32_t a, int32_t b, const AddParams *params);
int32_t mul_int8(int32_t a, int32_t b, const MulParams *params);
int32_t avg_int8(int32_t window_sum, int32_t count, int32_t in_zero_point, const int32_t *multipliers,
                 const int32_t *shifts, int32_t out_zero_point, int32_t qmin, int32_t qmax);
int32_t mean_int8(int32_t window_sum, const MeanParams *params);

#ifndef QCOMP_NO_FLOAT
int32_t quantize(float x, float scale, int32_t zero_point, int32_t qmin, int32_t qmax);
float dequantize(int32_t q, float scale, int32_t zero_point);
void qcomp_quantize_f32(const float *x, int8_t *y, int32_t n, float scale, int32_t zero_point,
                        int32_t qmin, int32_t qmax);
void qcomp_dequantize_f32(const int8_t *x, float *y, int32_t n, float scale, int32_t zero_point);
#endif

/* ---- weighted ops ---- */
typedef struct {
  int32_t n, h, w, c;          /* input  NHWC */
  int32_t oh, ow, o;           /* output N,OH,OW,O */
  int32_t kh, kw;              /* kernel; weights [O, KH, KW, C / group] */
  int32_t sh, sw, dh, dw;      /* strides, dilations */
  int32_t pad_top, pad_left;
  int32_t group;
  int32_t input_zero_point, output_zero_point, qmin, qmax;
} qcomp_conv_params;

/* patch: KH * KW * C bytes of scratch (the workspace's scratch area) */
void qcomp_conv2d_int8(const int8_t *x, const int8_t *w, const int32_t *bias, const int32_t *multiplier,
                       const int32_t *shift, int8_t *y, int8_t *patch, const qcomp_conv_params *p);
void qcomp_conv_transpose2d_int8(const int8_t *x, const int8_t *w, const int32_t *bias,
                                 const int32_t *multiplier, const int32_t *shift, int8_t *y,
                                 const qcomp_conv_params *p);
void qcomp_dense_int8(const int8_t *x, const int8_t *w, const int32_t *bias, const int32_t *multiplier,
                      const int32_t *shift, int8_t *y, int32_t rows, int32_t k, int32_t n,
                      int32_t output_zero_point, int32_t qmin, int32_t qmax);
void qcomp_matmul_int8(const int8_t *a, const int8_t *b, int8_t *y, int32_t batch, const int32_t *a_offsets,
                       const int32_t *b_offsets, int32_t m, int32_t k, int32_t n, int32_t a_zero_point,
                       int32_t b_zero_point, int32_t multiplier, int32_t shift, int32_t output_zero_point,
                       int32_t qmin, int32_t qmax);

/* ---- elementwise ---- */
/* out element i (flat, over out_shape) reads a[offset(i, a_strides)], b[offset(i, b_strides)]:
 * numpy broadcasting with stride 0 on broadcast axes. op: 0 add, 1 sub. */
void qcomp_add_int8(const int8_t *a, const int8_t *b, int8_t *y, int32_t rank, const int32_t *out_shape,
                    const int32_t *a_strides, const int32_t *b_strides, const AddParams *params, int32_t sub);
void qcomp_mul_int8(const int8_t *a, const int8_t *b, int8_t *y, int32_t rank, const int32_t *out_shape,
                    const int32_t *a_strides, const int32_t *b_strides, const MulParams *params);
void qcomp_lut_int8(const int8_t *x, const int8_t *table, int8_t *y, int32_t n);
void qcomp_requantize_int8(const int8_t *x, int8_t *y, int32_t n, int32_t input_zero_point,
                           int32_t multiplier, int32_t shift, int32_t output_zero_point,
                           int32_t qmin, int32_t qmax);

/* ---- pooling and reductions ---- */
typedef struct {
  int32_t n, h, w, c, oh, ow;
  int32_t kh, kw, sh, sw, dh, dw, pad_top, pad_left;
} qcomp_pool_params;

void qcomp_maxpool2d_int8(const int8_t *x, int8_t *y, const qcomp_pool_params *p);
/* count_h[oh] * count_w[ow] is the divisor of each window (precomputed, at least 1). */
void qcomp_avgpool2d_int8(const int8_t *x, int8_t *y, const qcomp_pool_params *p, const int32_t *count_h,
                          const int32_t *count_w, int32_t in_zero_point, const int32_t *multipliers,
                          const int32_t *shifts, int32_t out_zero_point, int32_t qmin, int32_t qmax);
/* Reductions: out element j = reduce over the inner odometer (inner_shape, inner_strides) from the
 * input offset of j on the outer odometer (outer_shape, outer_strides). */
void qcomp_mean_int8(const int8_t *x, int8_t *y, int32_t outer_rank, const int32_t *outer_shape,
                     const int32_t *outer_strides, int32_t inner_rank, const int32_t *inner_shape,
                     const int32_t *inner_strides, const MeanParams *params);
void qcomp_reduce_max_int8(const int8_t *x, int8_t *y, int32_t outer_rank, const int32_t *outer_shape,
                           const int32_t *outer_strides, int32_t inner_rank, const int32_t *inner_shape,
                           const int32_t *inner_strides);

/* ---- data movement (any element size) ---- */
/* y[i_0, ..., i_{r-1}] = x[sum_d table_d[i_d]] (tables concatenated in `tables`, one entry per
 * output index of each axis, in elements); a negative entry on any axis means padding: `pad`. */
void qcomp_gather_axes(const void *x, void *y, int32_t elem_size, int32_t rank, const int32_t *out_shape,
                       const int32_t *tables, const void *pad);
/* rows blocks of `chunk` bytes: dst + r * dst_stride <- src + r * src_stride (Concat, Split). */
void qcomp_copy_blocks(void *dst, int32_t dst_stride, const void *src, int32_t src_stride, int32_t rows,
                       int32_t chunk);

#endif /* QCOMP_KERNELS_H */
