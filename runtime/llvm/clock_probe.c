/* The core clock, measured: `qcomp bench --per-layer` states the VNNI peak at this clock.
 *
 * 16 dependent register adds take 16 cycles on every x86-64 core (one add per cycle, each waiting
 * for the previous one; register operands give the renamer nothing to fold). 101 repetitions of
 * 640000 adds (well under a scheduler time slice each), median: robust on a shared machine.
 * Prints the clock in Hz.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define REPS 101

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + 1e-9 * t.tv_nsec;
}

static int cmp(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

int main(void) {
  static double hz[REPS];
  const long n = 40000;
  uint64_t one = 1;
  for (int rep = 0; rep < REPS; ++rep) {
    uint64_t x = 0;
    double t0 = now();
    for (long i = 0; i < n; ++i)
      __asm__ volatile("add %1,%0\n\tadd %1,%0\n\tadd %1,%0\n\tadd %1,%0\n\tadd %1,%0\n\tadd %1,%0\n\tadd %1,%0\n\t"
                       "add %1,%0\n\tadd %1,%0\n\tadd %1,%0\n\tadd %1,%0\n\tadd %1,%0\n\tadd %1,%0\n\tadd %1,%0\n\t"
                       "add %1,%0\n\tadd %1,%0"
                       : "+r"(x) : "r"(one));
    hz[rep] = 16.0 * n / (now() - t0);
  }
  qsort(hz, REPS, sizeof(double), cmp);
  printf("%.6e\n", hz[REPS / 2]);
  return 0;
}
