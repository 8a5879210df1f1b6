/* Runs a qcomp artifact through its C ABI only (model.h + model.so), no Python:
 *   driver INPUT.f32 [raw]   reads input 0 as raw float32 (the model's layout), runs qcomp_run
 *   (or qcomp_run_raw on the quantized input with "raw"), prints "name i value" per output element,
 *   then checks the error codes of bad calls and prints "abi-checks ok".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include "model.h"

#define CHECK(cond, what) do { if (!(cond)) { printf("FAILED: %s\n", what); return 1; } } while (0)

static size_t numel(const qcomp_tensor_info *t) {
  size_t n = 1;
  for (int i = 0; i < t->rank; ++i) n *= (size_t)t->shape[i];
  return n;
}

int main(int argc, char **argv) {
  if (argc < 2) { fprintf(stderr, "usage: driver INPUT.f32 [raw]\n"); return 2; }
  int raw = argc > 2 && strcmp(argv[2], "raw") == 0;
  CHECK(qcomp_abi_version() == QCOMP_ABI_VERSION, "abi version");
  CHECK(qcomp_num_inputs() == 1, "one input");
  qcomp_tensor_info in, out;
  CHECK(qcomp_input_info(0, &in) == QCOMP_OK, "input info");
  CHECK(qcomp_output_info(0, &out) == QCOMP_OK, "output info");
  size_t n_in = numel(&in), n_out = numel(&out);
  float *x = malloc(n_in * sizeof(float));
  FILE *f = fopen(argv[1], "rb");
  CHECK(f && fread(x, sizeof(float), n_in, f) == n_in, "read input");
  fclose(f);
  size_t ws_size = qcomp_workspace_size();
  CHECK(ws_size == QCOMP_MODEL_WORKSPACE_SIZE, "workspace size matches model.h");
  unsigned char *ws = aligned_alloc(QCOMP_WORKSPACE_ALIGN, ws_size + QCOMP_WORKSPACE_ALIGN);
  float *y = malloc(n_out * sizeof(float));
  int8_t *xq = malloc(n_in), *yq = malloc(n_out);
  if (raw) {
    /* quantize as the spec does: clamp(rint(x / scale) + zp), float32 division, ties to even */
    for (size_t i = 0; i < n_in; ++i) {
      float r = rintf(x[i] / in.scale) + (float)in.zero_point;
      xq[i] = (int8_t)(r < -128 ? -128 : r > 127 ? 127 : r);
    }
    const int8_t *ins[1] = {xq};
    int8_t *outs[1] = {yq};
    CHECK(qcomp_run_raw(ws, ws_size, ins, outs) == QCOMP_OK, "run raw");
    for (size_t i = 0; i < n_out; ++i) printf("%s %zu %d\n", out.name, i, yq[i]);
  } else {
    const void *ins[1] = {x};
    void *outs[1] = {y};
    CHECK(qcomp_run(ws, ws_size, ins, outs) == QCOMP_OK, "run");
    for (size_t i = 0; i < n_out; ++i) printf("%s %zu %.9g\n", out.name, i, y[i]);
  }
  /* bad arguments return codes, never abort */
  const void *ins[1] = {x};
  void *outs[1] = {y};
  const void *null_ins[1] = {NULL};
  CHECK(qcomp_run(NULL, ws_size, ins, outs) == QCOMP_ERR_NULL_ARGUMENT, "NULL workspace");
  CHECK(qcomp_run(ws, ws_size, NULL, outs) == QCOMP_ERR_NULL_ARGUMENT, "NULL inputs");
  CHECK(qcomp_run(ws, ws_size, null_ins, outs) == QCOMP_ERR_NULL_ARGUMENT, "NULL input 0");
  CHECK(qcomp_run(ws, ws_size - 1, ins, outs) == QCOMP_ERR_BUFFER_TOO_SMALL, "small workspace");
  CHECK(qcomp_run(ws + 1, ws_size, ins, outs) == QCOMP_ERR_MISALIGNED, "misaligned workspace");
  CHECK(qcomp_input_info(1, &in) == QCOMP_ERR_BAD_INDEX, "bad input index");
  CHECK(qcomp_output_info(-1, &out) == QCOMP_ERR_BAD_INDEX, "negative output index");
  CHECK(qcomp_input_info(0, NULL) == QCOMP_ERR_NULL_ARGUMENT, "NULL info");
  CHECK(strcmp(qcomp_status_string(QCOMP_ERR_MISALIGNED), "workspace not aligned to 64 bytes") == 0, "status string");
  CHECK(strcmp(qcomp_status_string((qcomp_status)99), "unknown status") == 0, "unknown status string");
  printf("abi-checks ok\n");
  free(x); free(y); free(xq); free(yq); free(ws);
  return 0;
}
