"""Run-time CPU checks inside the artifact: qcomp_run returns QCOMP_ERR_UNSUPPORTED_CPU instead of
executing an instruction the CPU lacks (SIGILL), for C callers that skip the Python runtime's check.

The target's LLVM features map to a C test that runtime/llvm/cpu_check.c is compiled with
(-DQCOMP_CPU_CHECK=...) and linked into model.so / libmodel.a; qcomp_run calls its qcomp_cpu_ok()
first. (llvmlite has no assembler parser, so CPUID cannot be inline assembly in the LLVM module.)

  x86-64:  GCC's __builtin_cpu_supports("avx512vnni") && ...  (CPUID + XGETBV through libgcc)
  aarch64: Linux's auxiliary vector, (getauxval(AT_HWCAP) & HWCAP_ASIMDDP) && ...  (the kernel
           reports what the core implements; user space cannot read the ID registers portably)

The stand-alone runner of a cross artifact (runtime/llvm/runner.c) gets the aarch64 features as a
table (runner_defines), so it can name the missing one before it runs anything.
Other architectures: no check in the library.
"""
from __future__ import annotations

from ...errors import QcompError
from ...target import Target

# LLVM feature -> GCC __builtin_cpu_supports name
X86_FEATURES = {
    "+avx2": "avx2", "+avx512f": "avx512f", "+avx512dq": "avx512dq", "+avx512bw": "avx512bw",
    "+avx512vl": "avx512vl", "+avx512vnni": "avx512vnni", "+avx512vbmi": "avx512vbmi",
    "+avxvnni": "avxvnni", "+amx-tile": "amx-tile", "+amx-int8": "amx-int8",
    # the extensions --mcpu may add (qcomp/codegen/llvm/cpus.py ISA_FLAGS)
    "+avx512cd": "avx512cd", "+avx512ifma": "avx512ifma", "+avx512vbmi2": "avx512vbmi2",
    "+avx512bitalg": "avx512bitalg", "+avx512vpopcntdq": "avx512vpopcntdq", "+avx512bf16": "avx512bf16",
    "+avx512fp16": "avx512fp16", "+avx512vp2intersect": "avx512vp2intersect", "+gfni": "gfni",
    "+vaes": "vaes", "+vpclmulqdq": "vpclmulqdq",
}
# LLVM feature -> (auxv word, Linux <asm/hwcap.h> bit, /proc/cpuinfo name)
AARCH64_FEATURES = {
    "+neon": ("AT_HWCAP", "HWCAP_ASIMD", "asimd"), "+fp-armv8": ("AT_HWCAP", "HWCAP_FP", "fp"),
    "+dotprod": ("AT_HWCAP", "HWCAP_ASIMDDP", "asimddp"), "+fullfp16": ("AT_HWCAP", "HWCAP_ASIMDHP", "asimdhp"),
    "+i8mm": ("AT_HWCAP2", "HWCAP2_I8MM", "i8mm"), "+sve": ("AT_HWCAP", "HWCAP_SVE", "sve"),
}
SYMBOL = "qcomp_cpu_ok"


def _aarch64_features(target: Target) -> list[tuple[str, str, str]]:
    unknown = [f for f in target.features if f not in AARCH64_FEATURES]
    if unknown:
        raise QcompError(f"target {target.name!r}: no CPU check is known for features {', '.join(unknown)} "
                         f"(known: {', '.join(sorted(AARCH64_FEATURES))})")
    return [AARCH64_FEATURES[f] for f in target.features]


def cpu_check_expr(target: Target) -> str | None:
    """The C expression of the check, or None when the target's code needs none in the library."""
    if target.triple.startswith("aarch64"):
        return " && ".join(f"(getauxval({word}) & {bit}) != 0" for word, bit, _ in _aarch64_features(target)) or "1"
    if not target.triple.startswith("x86_64"):
        return None
    enabled = [f for f in target.features if not f.startswith("-")]   # "-f" (--mcpu native) needs no check
    unknown = [f for f in enabled if f not in X86_FEATURES]
    if unknown:
        raise QcompError(f"target {target.name!r}: no CPU check is known for features {', '.join(unknown)} "
                         f"(known: {', '.join(sorted(X86_FEATURES))})")
    return " && ".join(f'__builtin_cpu_supports("{X86_FEATURES[f]}")' for f in enabled) or "1"


def runner_defines(target: Target) -> list[str]:
    """-D flags of runtime/llvm/runner.c: the {auxv word, bit, name} rows it checks before running
    (aarch64 Linux), and the target's feature string for its message."""
    defines = [f'-DQCOMP_TARGET_FEATURES="{",".join(target.features)}"']
    if target.triple.startswith("aarch64") and target.features:
        rows = ",".join(f'{{{word},{bit},"{name}"}}' for word, bit, name in _aarch64_features(target))
        defines.append(f"-DQCOMP_HWCAP_FEATURES={{{rows}}}")
    return defines
