/* Kernels that read run-time integer tensors: Gather with run-time indices (token ids) and IntLut
 * (an integer tensor such as an attention mask to int8 through a table). Every index is checked
 * before any byte moves: an out-of-range token id is QCOMP_ERR_BAD_INPUT, never a read outside the
 * table (qcomp/ref/float_movement.py raises the same error). */
#include <string.h>

#include "qcomp.h"
#include "qcomp_kernels_index.h"

/* The wrapped index k + (k < 0 ? d : 0) of every idx[j], or -1 when one is outside [-d, d). */
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
