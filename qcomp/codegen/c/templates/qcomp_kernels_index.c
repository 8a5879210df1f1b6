/* Kernels that read run-time integer tensors: Gather with run-time indices (token ids) and IntLut
 * (an integer tensor such as an attention mask to int8 through a table). Every index is checked
 * before any byte moves: an out-of-range token id is QCOMP_ERR_BAD_INPUT, never a read outside the
 * table (qcomp/ref/float_movement.py raises the same error). */
#include <string.h>

#include "qcomp.h"
#include "qcomp_kernels.h"

/* Every idx[j] checked against [-d, d) first (QCOMP_ERR_BAD_INPUT, nothing written), then each row copied
 * from the wrapped index idx[j] + (idx[j] < 0 ? d : 0). */
#define QCOMP_GATHER_BODY(IDX_T)                                                                  \
  int32_t j, p;                                                                                   \
  for (j = 0; j < n_idx; ++j)                                                                     \
    if (idx[j] < -(IDX_T)d || idx[j] >= (IDX_T)d) return QCOMP_ERR_BAD_INPUT;                     \
  for (p = 0; p < pre; ++p) {                                                                     \
    for (j = 0; j < n_idx; ++j) {                                                                 \
      const int64_t k = (int64_t)idx[j] + (idx[j] < 0 ? d : 0);                                   \
      memcpy(dst + ((size_t)p * (size_t)n_idx + (size_t)j) * (size_t)row_bytes,                   \
             src + ((size_t)p * (size_t)d + (size_t)k) * (size_t)row_bytes, (size_t)row_bytes);   \
    }                                                                                             \
  }                                                                                               \
  return QCOMP_OK;

int32_t qcomp_gather_i64(uint8_t *dst, const uint8_t *src, const int64_t *idx, int32_t n_idx, int32_t pre,
                         int32_t d, int32_t row_bytes) {
  QCOMP_GATHER_BODY(int64_t)
}

int32_t qcomp_gather_i32(uint8_t *dst, const uint8_t *src, const int32_t *idx, int32_t n_idx, int32_t pre,
                         int32_t d, int32_t row_bytes) {
  QCOMP_GATHER_BODY(int32_t)
}

/* clamp in int64: low and low + len - 1 are within int64 (len <= 4096, lower_int_boundary.MAX_TABLE). */
#define QCOMP_INT_LUT_BODY                                                                        \
  const int64_t high = low + len - 1;                                                             \
  int32_t i;                                                                                      \
  for (i = 0; i < n; ++i) {                                                                       \
    const int64_t v = (int64_t)x[i];                                                              \
    y[i] = table[(v < low ? low : (v > high ? high : v)) - low];                                  \
  }

void qcomp_int_lut_i64(const int64_t *x, int8_t *y, int32_t n, int64_t low, const int8_t *table, int32_t len) {
  QCOMP_INT_LUT_BODY
}

void qcomp_int_lut_i32(const int32_t *x, int8_t *y, int32_t n, int64_t low, const int8_t *table, int32_t len) {
  QCOMP_INT_LUT_BODY
}

void qcomp_int_lut_u8(const uint8_t *x, int8_t *y, int32_t n, int64_t low, const int8_t *table, int32_t len) {
  QCOMP_INT_LUT_BODY
}

/* off(r) of qcomp/codegen/index_plan.py in elements; -1 when an index is out of range. */
static int64_t qcomp_index_offset(const void *idx, int32_t idx64, int32_t r, int32_t k, const int32_t *base,
                                  const int32_t *dims, const int32_t *strides) {
  int64_t off = base != 0 ? base[r] : 0;
  int32_t j;
  for (j = 0; j < k; ++j) {
    const int64_t v = idx64 ? ((const int64_t *)idx)[(size_t)r * (size_t)k + (size_t)j]
                            : (int64_t)((const int32_t *)idx)[(size_t)r * (size_t)k + (size_t)j];
    if (v < -(int64_t)dims[j] || v >= (int64_t)dims[j]) return -1;
    off += (v + (v < 0 ? dims[j] : 0)) * strides[j];
  }
  return off;
}

static int32_t qcomp_index_check(const void *idx, int32_t idx64, int32_t rows, int32_t k, const int32_t *base,
                                 const int32_t *dims, const int32_t *strides) {
  int32_t r;
  for (r = 0; r < rows; ++r)
    if (qcomp_index_offset(idx, idx64, r, k, base, dims, strides) < 0) return QCOMP_ERR_BAD_INPUT;
  return QCOMP_OK;
}

int32_t qcomp_index_gather(uint8_t *y, const uint8_t *data, const void *idx, int32_t idx64, int32_t rows,
                           int32_t k, const int32_t *base, const int32_t *dims, const int32_t *strides,
                           int32_t inner, int32_t elem_bytes) {
  const size_t row_bytes = (size_t)inner * (size_t)elem_bytes;
  int32_t r;
  if (qcomp_index_check(idx, idx64, rows, k, base, dims, strides) != QCOMP_OK) return QCOMP_ERR_BAD_INPUT;
  for (r = 0; r < rows; ++r) {
    const int64_t off = qcomp_index_offset(idx, idx64, r, k, base, dims, strides);
    memcpy(y + (size_t)r * row_bytes, data + (size_t)off * (size_t)elem_bytes, row_bytes);
  }
  return QCOMP_OK;
}

int32_t qcomp_index_scatter(uint8_t *y, const uint8_t *data, const void *idx, int32_t idx64,
                            const uint8_t *updates, int32_t rows, int32_t k, const int32_t *base,
                            const int32_t *dims, const int32_t *strides, int32_t inner, int32_t elem_bytes,
                            int32_t total, int32_t reduction) {
  const size_t row_bytes = (size_t)inner * (size_t)elem_bytes;
  int32_t r, i;
  if (qcomp_index_check(idx, idx64, rows, k, base, dims, strides) != QCOMP_OK) return QCOMP_ERR_BAD_INPUT;
  memcpy(y, data, (size_t)total * (size_t)elem_bytes);
  for (r = 0; r < rows; ++r) {
    const int64_t off = qcomp_index_offset(idx, idx64, r, k, base, dims, strides);
    if (reduction == 0) {
      memcpy(y + (size_t)off * (size_t)elem_bytes, updates + (size_t)r * row_bytes, row_bytes);
    } else {   /* int8: max (1) or min (2) */
      int8_t *dst = (int8_t *)y + off;
      const int8_t *src = (const int8_t *)updates + (size_t)r * (size_t)inner;
      for (i = 0; i < inner; ++i)
        dst[i] = (reduction == 1) == (src[i] > dst[i]) ? src[i] : dst[i];
    }
  }
  return QCOMP_OK;
}
