/* Minimal Cortex-M startup for qcomp's dsp-c runner under QEMU (mps2-an386 / mps2-an500 /
 * mps3-an547): vector table, the FPU (and Helium) on where the build uses it, copy .data from flash,
 * zero .bss, semihosting I/O, exit(main()).
 * Link with mps2.ld, --specs=rdimon.specs -nostartfiles. */
#include <stdint.h>
#include <stdlib.h>

extern uint32_t __data_load__, __data_start__, __data_end__, __bss_start__, __bss_end__;
extern int main(void);
extern void initialise_monitor_handles(void);

void qcomp_reset_handler(void);
void qcomp_fault_handler(void);
void qcomp_systick_handler(void);

/* SysTick wrap count: the runner's cost measurement (runner.c, QCOMP_COST_SYSTICK) reads it. */
volatile uint32_t qcomp_systick_wraps;

/* Entries 1-15 of the vector table; entry 0 (the initial stack pointer) is written by mps2.ld. */
__attribute__((section(".vectors"), used)) static void (*const vectors[15])(void) = {
    qcomp_reset_handler, qcomp_fault_handler, qcomp_fault_handler,
    qcomp_fault_handler, qcomp_fault_handler, qcomp_fault_handler, 0, 0, 0, 0,
    qcomp_fault_handler, qcomp_fault_handler, 0, qcomp_fault_handler, qcomp_systick_handler,
};

void qcomp_reset_handler(void) {
#if defined(__ARM_FP) || defined(__ARM_FEATURE_MVE)
  /* CPACR: full access to coprocessors 10 and 11 (the FPU and MVE); a hard-float build faults on its
   * first floating-point or vector instruction without it */
  *(volatile uint32_t *)0xE000ED88u |= 0xFu << 20;
  __asm__ volatile("dsb\n\tisb" ::: "memory");
#endif
  uint32_t *src = &__data_load__, *dst = &__data_start__;
  while (dst < &__data_end__) *dst++ = *src++;
  for (dst = &__bss_start__; dst < &__bss_end__;) *dst++ = 0;
  initialise_monitor_handles();
  exit(main());
}

void qcomp_systick_handler(void) { qcomp_systick_wraps++; }

/* A fault ends the program with status 3 (a hung QEMU would otherwise wait for its timeout). */
void qcomp_fault_handler(void) { exit(3); }


/* newlib's exit() runs __libc_fini_array, which calls _fini (normally from crti.o, not linked
 * with -nostartfiles); there are no constructors or destructors to run. */
void _init(void);
void _fini(void);
void _init(void) {}
void _fini(void) {}
