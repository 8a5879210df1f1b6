/* qcomp A16W8 kernels for the dsp-c backend: int16 activations, int8 weights (qcomp/ir/qops16.py).
 *
 * The scalar primitives transcribe qcomp/fixedpoint/int16.py and lut16.py line for line, with the
 * same names: multiply_by_quantized_multiplier_64, requantize64, requantize_acc, lut16_lookup. The
 * kernels below them are the ops of qcomp/ir/qops16.py, bit-exact to qcomp.ref.run_integer.
 *
 * Outputs are int16 or int8 (`out16` 1 / 0: the op's out_dtype); [qmin, qmax] lies inside that type.
 * The dot products (Conv, Dense) read weights widened to int16 at build time ([O][K], the row
 * length rounded up to even with a zero, emit16.py), so that a 32-bit load holds two int16 terms of
 * activations and of weights alike: on Cortex-M4/M7/M55 (__ARM_FEATURE_DSP, unless -DQCOMP_PORTABLE)
 * SMLAD adds both products to an int32 in one instruction; on Cortex-M55 (__ARM_FEATURE_MVE, unless
 * -DQCOMP_NO_MVE) Helium's VMLADAVA.S16 adds eight; elsewhere scalar C does the same sums.
 * Right shifts of negative values are arithmetic (as qcomp_kernels.h states for every kernel).
 */
#ifndef QCOMP_KERNELS16_H
#define QCOMP_KERNELS16_H

#include <stddef.h>
#include <stdint.h>

#include "qcomp_kernels.h"

/* ---- the spec (qcomp/fixedpoint/int16.py, lut16.py) ---- */
int64_t multiply_by_quantized_multiplier_64(int64_t acc, int32_t multiplier, int32_t shift);
int32_t requantize64(int64_t acc, int32_t multiplier, int32_t shift, int32_t zero_point, int32_t qmin,
                     int32_t qmax);
int32_t requantize_acc(int64_t acc, int32_t multiplier, int32_t shift, int32_t acc_bits, int32_t zero_point,
                       int32_t qmin, int32_t qmax);
int32_t lut16_lookup(int32_t x, const int16_t *table);

/* ---- weighted ops ---- */
typedef struct {
  int32_t n, h, w, c;          /* input  NHWC, int16 */
  int32_t oh, ow, o;           /* output N,OH,OW,O */
  int32_t kh, kw;              /* kernel */
  int32_t sh, sw, dh, dw;      /* strides, dilations */
  int32_t pad_top, pad_left;
  int32_t group;
  int32_t k, kp;               /* K = KH * KW * C / group; kp: K rounded up to even (widened row length) */
  int32_t acc_bits, output_zero_point, qmin, qmax, out16;
} qcomp_conv16_params;

/* w16: int16 [O][kp] (row o: the [KH][KW][C/group] weights of channel o); patch: 2 * kp int16 of scratch */
void qcomp_conv2d16(const int16_t *x, const int16_t *w16, const int64_t *bias, const int32_t *multiplier,
                    const int32_t *shift, void *y, int16_t *patch, const qcomp_conv16_params *p);
/* w16: int16 [N][kp] */
void qcomp_dense16(const int16_t *x, const int16_t *w16, const int64_t *bias, const int32_t *multiplier,
                   const int32_t *shift, void *y, int32_t rows, int32_t k, int32_t kp, int32_t n, int32_t acc_bits,
                   int32_t output_zero_point, int32_t qmin, int32_t qmax, int32_t out16);
void qcomp_matmul16(const int16_t *a, const int16_t *b, void *y, int32_t batch, const int32_t *a_offsets,
                    const int32_t *b_offsets, int32_t m, int32_t k, int32_t n, int32_t multiplier, int32_t shift,
                    int32_t acc_bits, int32_t output_zero_point, int32_t qmin, int32_t qmax, int32_t out16);

/* ---- elementwise (numpy broadcasting by strides, as qcomp_add_int8) ---- */
/* AddParams of qcomp/ir/qops16.py QAdd16.add_attrs (zero points 0, left_shift 15); sub: 0 add, 1 sub */
void qcomp_add16(const int16_t *a, const int16_t *b, int16_t *y, int32_t rank, const int32_t *out_shape,
                 const int32_t *a_strides, const int32_t *b_strides, const AddParams *params, int32_t sub);
void qcomp_mul16(const int16_t *a, const int16_t *b, int16_t *y, int32_t rank, const int32_t *out_shape,
                 const int32_t *a_strides, const int32_t *b_strides, const MulParams *params);
/* fixedpoint.convert: x int16 (x16 = 1) or int8, y int16 (y16 = 1) or int8 */
void qcomp_convert16(const void *x, int32_t x16, void *y, int32_t y16, int32_t n, int32_t input_zero_point,
                     int32_t multiplier, int32_t shift, int32_t output_zero_point, int32_t qmin, int32_t qmax);
void qcomp_lut16(const int16_t *x, const int16_t *table, void *y, int32_t n, int32_t out16);

/* ---- pooling and reductions ---- */
void qcomp_avgpool2d16(const int16_t *x, int16_t *y, const qcomp_pool_params *p, const int32_t *count_h,
                       const int32_t *count_w, const int32_t *multipliers, const int32_t *shifts, int32_t qmin,
                       int32_t qmax);
void qcomp_mean16(const int16_t *x, int16_t *y, int32_t outer_rank, const int32_t *outer_shape,
                  const int32_t *outer_strides, int32_t inner_rank, const int32_t *inner_shape,
                  const int32_t *inner_strides, int32_t multiplier, int32_t shift, int32_t qmin, int32_t qmax);

/* ---- type-generic ops on int16 values (as their int8 forms; the lowest value is -32768) ---- */
void qcomp_maxpool2d_int16(const int16_t *x, int16_t *y, const qcomp_pool_params *p);
void qcomp_reduce_max_int16(const int16_t *x, int16_t *y, int32_t outer_rank, const int32_t *outer_shape,
                            const int32_t *outer_strides, int32_t inner_rank, const int32_t *inner_shape,
                            const int32_t *inner_strides);

/* ---- int16 Softmax (qcomp_softmax16.c: qcomp/fixedpoint/softmax16.py) ---- */
void qcomp_softmax16(const int16_t *x, const int16_t *exp_lut, const int16_t *recip_lut, int16_t *y, int32_t outer,
                     int32_t depth, int32_t inner, int32_t input_multiplier, int32_t input_shift);

/* ---- float <-> int16 at the model boundary (qcomp_boundary16.c: qcomp/fixedpoint/boundary.py) ---- */
#ifndef QCOMP_NO_FLOAT
void qcomp_quantize16_f32(const float *x, int16_t *y, int32_t n, float scale, int32_t zero_point);
void qcomp_dequantize16_f32(const int16_t *x, float *y, int32_t n, float scale, int32_t zero_point);
#endif

#endif /* QCOMP_KERNELS16_H */
