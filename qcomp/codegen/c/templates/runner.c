/* qcomp dsp-c runner: reads qcomp_in.bin (one mode byte: bit 0 = raw int8 outputs, QCOMP_MODEL_CODES =
 * the model's own codes for its codes tensors; then every input's bytes), runs the model, writes qcomp_out.bin (every output's bytes). Buffers are 8-byte aligned.
 * The same program runs on the host and, through semihosting file I/O, on Cortex-M under QEMU.
 * Exit code: 0, or 10+ for I/O failures, 20 + qcomp_status for a failed run.
 * With -DQCOMP_COST_SYSTICK (Cortex-M builds) it prints `qcomp_cost_ticks N`: SysTick ticks of the
 * processor clock spent in qcomp_run_mode (QEMU -icount shift=0 on mps2-an386: one tick per 40
 * instructions, see qcomp/runtime/c.py), and `qcomp_stack_bytes N`: the peak stack use of that call,
 * measured by painting QCOMP_STACK_PAINT bytes below the stack pointer with a pattern before it and
 * finding the lowest overwritten word after it (N = QCOMP_STACK_PAINT: the painted area was too small).
 * With -DQCOMP_COST_NODES as well (benchmarks/mlperf_tiny.py), model.c calls qcomp_cost_node(i) after
 * its i-th kernel call and the runner prints `qcomp_node_ticks i N`: the ticks since the previous mark
 * (the marks' own calls, a few instructions each, are counted too). */
#include <stdio.h>
#include <string.h>

#include "model.h"

static uint8_t arena[QCOMP_MODEL_ARENA_BYTES > 0 ? QCOMP_MODEL_ARENA_BYTES : 1] QCOMP_ALIGNED(QCOMP_WORKSPACE_ALIGN);
static uint8_t io[QCOMP_MODEL_IO_BYTES] QCOMP_ALIGNED(QCOMP_WORKSPACE_ALIGN);

#ifdef QCOMP_COST_SYSTICK
#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018u)
extern volatile uint32_t qcomp_systick_wraps;   /* runtime/dsp/startup_cortex_m.c */
#define QCOMP_STACK_PAINT 16384u
#define QCOMP_STACK_PATTERN 0xC0DEC0DEu
#ifdef QCOMP_COST_NODES
#define QCOMP_COST_MAX_NODES 1024
static uint32_t node_ticks[QCOMP_COST_MAX_NODES], node_mark;
static int32_t node_calls;

/* ticks since SysTick started: wraps * 2^24 + (2^24 - 1 - CVR), read until the wrap count is stable */
static uint32_t ticks_now(void) {
  uint32_t wraps, cvr;
  do {
    wraps = qcomp_systick_wraps;
    cvr = SYST_CVR;
  } while (wraps != qcomp_systick_wraps);
  return wraps * 0x1000000u + (0xFFFFFFu - cvr);
}

void qcomp_cost_node(int32_t call);
void qcomp_cost_node(int32_t call) {
  const uint32_t now = ticks_now();
  if (call >= 0 && call < QCOMP_COST_MAX_NODES) {
    node_ticks[call] = now - node_mark;
    if (call >= node_calls) node_calls = call + 1;
  }
  node_mark = now;
}
#endif
#endif

static size_t padded(int32_t bytes) { return ((size_t)bytes + 7u) & ~(size_t)7u; }

int main(void) {
  const void *inputs[QCOMP_MODEL_NUM_INPUTS];
  void *outputs[QCOMP_MODEL_NUM_OUTPUTS];
  unsigned char mode = 0;
  int32_t codes;
  size_t off = 0;
  int32_t i;
  qcomp_status status;
  FILE *f = fopen("qcomp_in.bin", "rb");
  if (f == NULL) return 10;
  if (fread(&mode, 1, 1, f) != 1) return 11;
  codes = (mode & QCOMP_MODEL_CODES) != 0;
  for (i = 0; i < QCOMP_MODEL_NUM_INPUTS; ++i) {
    inputs[i] = io + off;
    const int32_t bytes = codes && qcomp_model_input_code_bytes[i] ? qcomp_model_input_code_bytes[i]
                                                                   : qcomp_model_input_bytes[i];
    if (fread(io + off, 1, (size_t)bytes, f) != (size_t)bytes) return 12;
    off += padded(qcomp_model_input_bytes[i]);   /* a code is never wider than its float */
  }
  fclose(f);
  for (i = 0; i < QCOMP_MODEL_NUM_OUTPUTS; ++i) {
    outputs[i] = io + off;
    off += padded(qcomp_model_output_bytes[i] > qcomp_model_output_raw_bytes[i] ? qcomp_model_output_bytes[i]
                                                                                 : qcomp_model_output_raw_bytes[i]);
  }
#ifdef QCOMP_COST_SYSTICK
  {
    uint32_t start, end, sp;
    volatile uint32_t *lo, *top, *q;
    /* nothing lives below the stack pointer (AAPCS: no red zone) and no call happens between the
     * painting and qcomp_run_mode */
    __asm__ volatile("mov %0, sp" : "=r"(sp));
    top = (volatile uint32_t *)(uintptr_t)(sp & ~3u);
    lo = top - QCOMP_STACK_PAINT / 4u;
    for (q = lo; q < top; ++q) *q = QCOMP_STACK_PATTERN;
    SYST_RVR = 0xFFFFFFu;  /* 24-bit down-counter on the processor clock, interrupt on each wrap */
    SYST_CVR = 0;
    qcomp_systick_wraps = 0;
    SYST_CSR = 7u;
    start = SYST_CVR;
    if (start == 0) start = 0x1000000u;  /* reloads before its first decrement */
#ifdef QCOMP_COST_NODES
    node_mark = 0xFFFFFFu - start;   /* ticks_now() at `start` (-1 if SysTick had not reloaded yet) */
#endif
    status = qcomp_run_mode(arena, sizeof arena, inputs, outputs, 0, mode & 1, codes);
    end = SYST_CVR;
    SYST_CSR = 0;
    for (q = lo; q < top && *q == QCOMP_STACK_PATTERN; ++q) {
    }
    printf("qcomp_cost_ticks %lu\n", (unsigned long)qcomp_systick_wraps * 0x1000000ul + start - end);
    printf("qcomp_stack_bytes %lu\n", (unsigned long)((uintptr_t)top - (uintptr_t)q));
#ifdef QCOMP_COST_NODES
    for (i = 0; i < node_calls; ++i) printf("qcomp_node_ticks %ld %lu\n", (long)i, (unsigned long)node_ticks[i]);
#endif
  }
#else
  status = qcomp_run_mode(arena, sizeof arena, inputs, outputs, 0, mode & 1, codes);
#endif
  if (status != QCOMP_OK) return 20 + (int)status;
  f = fopen("qcomp_out.bin", "wb");
  if (f == NULL) return 13;
  for (i = 0; i < QCOMP_MODEL_NUM_OUTPUTS; ++i) {
    const size_t bytes = (size_t)(codes && qcomp_model_output_code_bytes[i] ? qcomp_model_output_code_bytes[i]
                                  : (mode & 1) ? qcomp_model_output_raw_bytes[i] : qcomp_model_output_bytes[i]);
    if (fwrite(outputs[i], 1, bytes, f) != bytes) return 14;
  }
  fclose(f);
  return 0;
}
