"""Run-time CPU check inside the library: qcomp_run returns QCOMP_ERR_UNSUPPORTED_CPU instead of
executing an instruction the CPU lacks (SIGILL), for C callers that skip the Python runtime's check.

On x86-64 the target's LLVM features map to GCC's __builtin_cpu_supports names; runtime/llvm/
cpu_check.c is compiled with that conjunction (-DQCOMP_CPU_CHECK=...) and linked into model.so, and
qcomp_run calls its qcomp_cpu_ok() first. (llvmlite has no assembler parser, so CPUID cannot be
inline assembly in the LLVM module.) Other architectures: no check in the library.
"""
from __future__ import annotations

from ...errors import QcompError
from ...target import Target

# LLVM feature -> GCC __builtin_cpu_supports name
X86_FEATURES = {
    "+avx2": "avx2", "+avx512f": "avx512f", "+avx512dq": "avx512dq", "+avx512bw": "avx512bw",
    "+avx512vl": "avx512vl", "+avx512vnni": "avx512vnni", "+avx512vbmi": "avx512vbmi",
    "+avxvnni": "avxvnni", "+amx-tile": "amx-tile", "+amx-int8": "amx-int8",
}
SYMBOL = "qcomp_cpu_ok"


def cpu_check_expr(target: Target) -> str | None:
    """The C expression of the check, or None when the target's code needs none in the library."""
    if not target.triple.startswith("x86_64"):
        return None
    unknown = [f for f in target.features if f not in X86_FEATURES]
    if unknown:
        raise QcompError(f"target {target.name!r}: no CPU check is known for features {', '.join(unknown)} "
                         f"(known: {', '.join(sorted(X86_FEATURES))})")
    return " && ".join(f'__builtin_cpu_supports("{X86_FEATURES[f]}")' for f in target.features) or "1"
