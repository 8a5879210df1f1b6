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

/* GatherElements, GatherND, ScatterElements, ScatterND (qcomp/codegen/index_plan.py): row r of `rows`
 * reads its k index values idx[r*k ..] (int64 when idx64, else int32) and addresses inner elements of
 * elem_bytes bytes at off(r) = base[r] (0 when base is null) + sum_j wrap(idx, dims[j]) * strides[j].
 * Every index is checked before anything is written: QCOMP_ERR_BAD_INPUT when one is outside
 * [-dims[j], dims[j]). Gather: y[r, :] = data[off(r) ..]. Scatter: y = data (total elements), then
 * for r in order y[off(r) + i] = f(y[...], updates[r, i]); f: 0 replaces, 1 max, 2 min (int8). */
int32_t qcomp_index_gather(uint8_t *y, const uint8_t *data, const void *idx, int32_t idx64, int32_t rows,
                           int32_t k, const int32_t *base, const int32_t *dims, const int32_t *strides,
                           int32_t inner, int32_t elem_bytes);
int32_t qcomp_index_scatter(uint8_t *y, const uint8_t *data, const void *idx, int32_t idx64,
                            const uint8_t *updates, int32_t rows, int32_t k, const int32_t *base,
                            const int32_t *dims, const int32_t *strides, int32_t inner, int32_t elem_bytes,
                            int32_t total, int32_t reduction);

#endif /* QCOMP_KERNELS_INDEX_H */
