/* Kernels that read run-time integer tensors (token ids, masks): Gather with run-time indices and
 * IntLut (qcomp/ir/qops_intlut.py). Included by qcomp_kernels.h. */
#ifndef QCOMP_KERNELS_INDEX_H
#define QCOMP_KERNELS_INDEX_H

#include <stdint.h>

/* Gather (numpy.take) along an axis of size d: dst (pre, n_idx, row_bytes) = src (pre, idx[j], row_bytes).
 * Negative indices count from the end; an index outside [-d, d) returns QCOMP_ERR_BAD_INPUT before
 * anything is written (0 otherwise). */
int32_t qcomp_gather_i64(uint8_t *dst, const uint8_t *src, const int64_t *idx, int32_t n_idx, int32_t pre,
                         int32_t d, int32_t row_bytes);
int32_t qcomp_gather_i32(uint8_t *dst, const uint8_t *src, const int32_t *idx, int32_t n_idx, int32_t pre,
                         int32_t d, int32_t row_bytes);

/* IntLut: y[i] = table[clamp(x[i], low, low + len - 1) - low] (bool reads as 0 / 1). */
void qcomp_int_lut_i64(const int64_t *x, int8_t *y, int32_t n, int64_t low, const int8_t *table, int32_t len);
void qcomp_int_lut_i32(const int32_t *x, int8_t *y, int32_t n, int64_t low, const int8_t *table, int32_t len);
void qcomp_int_lut_u8(const uint8_t *x, int8_t *y, int32_t n, int64_t low, const int8_t *table, int32_t len);

#endif /* QCOMP_KERNELS_INDEX_H */
