/* qcomp_run_ex of several model.so of the same model (float I/O, 1x1x28x28 or smaller inputs: the
 * bundled example), timed from C with no Python in between: blocks of 20 back-to-back runs, the
 * libraries alternating block by block, 400 blocks each; median and minimum per run.
 *
 *   gcc -O2 -o abi_timing benchmarks/abi_timing.c -ldl
 *   QCOMP_NUM_THREADS=1 ./abi_timing A/model.so B/model.so [C/model.so]
 *
 * benchmarks/RESULTS.md (profiler section) uses it to compare a model.so with the profiler hook
 * (off) against ones built without it, and against a byte-identical copy (the noise floor).
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <stdint.h>
#include <time.h>
typedef int (*run_fn)(void *, size_t, const void *const *, void *const *, int32_t);
typedef size_t (*ws_fn)(void);
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + 1e-9 * t.tv_nsec; }
static int cmp(const void *a, const void *b) { double x = *(const double *)a, y = *(const double *)b; return (x > y) - (x < y); }
int main(int argc, char **argv) {
  int n = argc - 1; run_fn run[4]; void *ws[4];
  static float in[1 << 20], out[1 << 16];
  for (int i = 0; i < n; ++i) {
    void *h = dlopen(argv[i + 1], RTLD_NOW | RTLD_LOCAL);
    if (!h) { printf("%s\n", dlerror()); return 1; }
    run[i] = (run_fn)dlsym(h, "qcomp_run_ex");
    ws[i] = aligned_alloc(64, (((ws_fn)dlsym(h, "qcomp_workspace_size"))() + 63) / 64 * 64);
  }
  for (unsigned i = 0; i < (1u << 20); ++i) in[i] = (float)((int)((i * 7919u) % 200u) - 100) / 50.0f;
  const void *ins[1] = {in}; void *outs[1] = {out};
  enum { BLOCKS = 400, PER = 20 };
  static double t[4][BLOCKS];
  for (int b = 0; b < BLOCKS; ++b)
    for (int i = 0; i < n; ++i) {
      run[i](ws[i], 1u << 30, ins, outs, 0);
      double t0 = now();
      for (int k = 0; k < PER; ++k) run[i](ws[i], 1u << 30, ins, outs, 0);
      t[i][b] = (now() - t0) / PER;
    }
  for (int i = 0; i < n; ++i) { qsort(t[i], BLOCKS, sizeof(double), cmp);
    printf("%s: median %.3f us, min %.3f us\n", argv[i + 1], 1e6 * t[i][BLOCKS / 2], 1e6 * t[i][0]); }
  return 0;
}
