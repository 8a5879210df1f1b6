/* qcomp_cpu_ok(): nonzero if this CPU (and OS) supports every instruction set the artifact's code
 * was compiled for. Linked into x86-64 and aarch64 model.so files by qcomp's llvm backend, which defines
 * QCOMP_CPU_CHECK as a conjunction of tests of the target's features, __builtin_cpu_supports("...") on x86-64
 * (libgcc's CPUID + XGETBV probe: AVX-512 also needs the OS to save the zmm state), HWCAP bits on aarch64.
 * qcomp_run returns QCOMP_ERR_UNSUPPORTED_CPU when it is zero, instead of faulting with SIGILL. */
#ifndef QCOMP_CPU_CHECK
#define QCOMP_CPU_CHECK 1
#endif
#if defined(__aarch64__) && defined(__linux__)
/* aarch64: the check reads the kernel's HWCAP bits (getauxval(AT_HWCAP) & HWCAP_ASIMDDP, ...) */
#include <sys/auxv.h>
#include <asm/hwcap.h>
#endif

__attribute__((visibility("hidden"))) int qcomp_cpu_ok(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
#endif
  return QCOMP_CPU_CHECK;
}
