/* qcomp float <-> int16 at the model boundary (qcomp/fixedpoint/boundary.py), int16 models only.
 *
 *   quantize    y = clamp(rint(x / scale) + zero_point, -32768, 32767)   float32 -> int16
 *   dequantize  y = (q - zero_point) * scale                             int16 -> float32
 *
 * Both reuse the int8 boundary's scalar primitives of qcomp_kernels.c (quantize, dequantize): one
 * float32 division rounded to nearest even by rintf, an exact clamp before adding the zero point;
 * an exact int32 difference (|q - zp| < 2^24, so its float32 conversion is exact) and one float32
 * multiply. Neither has a multiply-add an FMA contraction could fuse, so every compiler with IEEE
 * float32 (host C, the Cortex-M4F/M7/M55 FPUs) gives the reference's bits. With -DQCOMP_NO_FLOAT neither exists: the
 * raw form then exchanges the int16 values themselves (model.c copies them).
 */
#include "qcomp_kernels16.h"

#ifndef QCOMP_NO_FLOAT
void qcomp_quantize16_f32(const float *x, int16_t *y, int32_t n, float scale, int32_t zero_point) {
  int32_t i;
  for (i = 0; i < n; ++i) y[i] = (int16_t)quantize(x[i], scale, zero_point, -32768, 32767);
}

void qcomp_dequantize16_f32(const int16_t *x, float *y, int32_t n, float scale, int32_t zero_point) {
  int32_t i;
  for (i = 0; i < n; ++i) y[i] = dequantize(x[i], scale, zero_point);
}
#endif
