"""`--mcpu NAME`: the x86 CPU an llvm artifact is compiled for, as data.

A target (targets/*.toml) fixes the instruction set the artifact needs (`features`, checked on the
running CPU); --mcpu picks the CPU LLVM schedules and selects instructions for. LLVM's `cpu` also
turns on every ISA extension of that CPU, so the artifact then needs them too:

    needed(artifact) = target.features  U  isa(mcpu)        (both checked at run time)

isa(mcpu) is this module's table of the vector extensions LLVM may select on its own (AVX-512
subsets, VNNI, GFNI, VAES, ...), each with the name /proc/cpuinfo reports; scalar extensions
(BMI2, MOVBE, ...) are implied by AVX2 on every CPU in the table. A CPU that lacks one of the
target's own features is refused before any compile (LLVM with assertions aborts instead: "Do not
know how to split"); the generic levels x86-64-v3 and x86-64-v4 are baselines that the target's
features add to, not CPUs, and are never refused. `native` is this host: LLVM's name for it, with exactly the tracked
extensions /proc/cpuinfo reports (a hypervisor may hide some that the CPU model has).

Without --mcpu the target's toml `cpu` stands, and the artifact checks the target's features only
(x86-vnni: icelake-server, whose AVX-512 set Ice Lake and later Xeons and Zen 4/5 implement; LLVM
selected none of its extensions beyond the target's features in the benchmark CNNs, checked with
objdump; `--mcpu x86-64-v4` is the strict baseline for Cascade Lake and Cooper Lake).

Kernel shapes: `zmm_halves` marks CPUs that execute a 512-bit operation as two 256-bit halves
(Zen 4). The dot kernels' vector width is the target's (codegen/llvm/isa.py) and their MR x NR
follow the register count, for every CPU: measured on Zen 4, VPDPBUSD sustains 1 zmm or 2 ymm per
cycle, 64 MACs either way, so zmm (half the instructions, twice the int32 lanes in 32 registers)
stays the choice there too; --mcpu changes LLVM's instruction selection and scheduling only.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from ...errors import QcompError
from ...target import Target, host_cpu_flags

NATIVE = "native"

# LLVM feature (without "+") -> /proc/cpuinfo flag: the vector extensions LLVM may select itself
ISA_FLAGS = {
    "avx2": "avx2", "avx512f": "avx512f", "avx512cd": "avx512cd", "avx512dq": "avx512dq",
    "avx512bw": "avx512bw", "avx512vl": "avx512vl", "avx512vnni": "avx512_vnni", "avx512ifma": "avx512ifma",
    "avx512vbmi": "avx512vbmi", "avx512vbmi2": "avx512_vbmi2", "avx512bitalg": "avx512_bitalg",
    "avx512vpopcntdq": "avx512_vpopcntdq", "avx512bf16": "avx512_bf16", "avx512fp16": "avx512_fp16",
    "avx512vp2intersect": "avx512_vp2intersect", "avxvnni": "avx_vnni", "gfni": "gfni", "vaes": "vaes",
    "vpclmulqdq": "vpclmulqdq",
}

_V3 = ("avx2",)
_V4 = _V3 + ("avx512f", "avx512cd", "avx512dq", "avx512bw", "avx512vl")
_CLX = _V4 + ("avx512vnni",)
_ICL = _CLX + ("avx512ifma", "avx512vbmi", "avx512vbmi2", "avx512bitalg", "avx512vpopcntdq", "gfni", "vaes",
               "vpclmulqdq")
_ADL = _V3 + ("avxvnni", "gfni", "vaes", "vpclmulqdq")


@dataclass(frozen=True)
class Cpu:
    name: str                     # LLVM's processor name
    isa: tuple[str, ...]          # ISA_FLAGS keys LLVM enables for it
    vendor: str                   # "intel", "amd" or "generic"
    zmm_halves: bool = False      # 512-bit operations issue as two 256-bit halves


CPUS = {c.name: c for c in [
    Cpu("x86-64-v3", _V3, "generic"), Cpu("x86-64-v4", _V4, "generic"),
    Cpu("haswell", _V3, "intel"), Cpu("broadwell", _V3, "intel"), Cpu("skylake", _V3, "intel"),
    Cpu("skylake-avx512", _V4, "intel"), Cpu("cascadelake", _CLX, "intel"),
    Cpu("cooperlake", _CLX + ("avx512bf16",), "intel"),
    Cpu("icelake-client", _ICL, "intel"), Cpu("icelake-server", _ICL, "intel"), Cpu("rocketlake", _ICL, "intel"),
    Cpu("tigerlake", _ICL + ("avx512vp2intersect",), "intel"),
    Cpu("sapphirerapids", _ICL + ("avx512bf16", "avx512fp16", "avxvnni"), "intel"),
    Cpu("emeraldrapids", _ICL + ("avx512bf16", "avx512fp16", "avxvnni"), "intel"),
    Cpu("alderlake", _ADL, "intel"), Cpu("raptorlake", _ADL, "intel"), Cpu("meteorlake", _ADL, "intel"),
    Cpu("znver2", _V3, "amd"), Cpu("znver3", _V3 + ("vaes", "vpclmulqdq"), "amd"),
    Cpu("znver4", _ICL + ("avx512bf16",), "amd", zmm_halves=True),
    Cpu("znver5", _ICL + ("avx512bf16", "avx512vp2intersect", "avxvnni"), "amd"),
]}


def host_cpu() -> Cpu:
    """This host as LLVM names it, with the tracked extensions its /proc/cpuinfo reports."""
    import llvmlite.binding as llvm   # get_host_cpu_name needs no initialization
    name = llvm.get_host_cpu_name()
    flags = host_cpu_flags()
    known = CPUS.get(name)
    return Cpu(name, tuple(f for f in ISA_FLAGS if ISA_FLAGS[f] in flags), known.vendor if known else "generic",
               known.zmm_halves if known else False)


def resolve(name: str) -> Cpu:
    if name == NATIVE:
        return host_cpu()
    if name not in CPUS:
        raise QcompError(f"--mcpu {name!r} is not a CPU qcomp knows; choose one of: {NATIVE}, "
                         f"{', '.join(CPUS)}")
    return CPUS[name]


def with_mcpu(target: Target, name: str | None) -> Target:
    """`target` compiled for CPU `name` (None: the target as its toml says). The CPU must have every
    feature of the target; its extensions join the features the artifact checks at run time."""
    if name is None:
        return target
    if target.backend != "llvm" or not target.triple.startswith("x86_64"):
        raise QcompError(f"--mcpu is for the x86 llvm targets (x86-vnni, x86-avxvnni, x86-avx2); target "
                         f"{target.name!r} takes its CPU from its toml ({target.cpu or 'none'})")
    cpu = resolve(name)
    wanted = [f[1:] for f in target.features if f.startswith("+")]
    # a generic ISA level (x86-64-v3, x86-64-v4) is a baseline, not a CPU: the target's features add to it
    missing = [] if cpu.vendor == "generic" and name != NATIVE else [f for f in wanted if f not in cpu.isa]
    if missing:
        shown = f"{name} ({cpu.name})" if name == NATIVE else name
        raise QcompError(f"--mcpu {shown} lacks {', '.join(missing)}, which target {target.name!r} needs "
                         f"(its features: {', '.join(target.features)}); choose a CPU with them, or a target "
                         f"without them (`qcomp targets`)")
    extra = [f for f in cpu.isa if f not in wanted]
    features = target.features + tuple(f"+{f}" for f in extra)
    if name == NATIVE:   # exactly this host's extensions: LLVM's CPU model may have some the host hides
        features += tuple(f"-{f}" for f in ISA_FLAGS if f not in cpu.isa)
    host = target.host_features + tuple(ISA_FLAGS[f] for f in extra if ISA_FLAGS[f] not in target.host_features)
    return dataclasses.replace(target, cpu=cpu.name, features=features, host_features=host)


def manifest_entry(target: Target, name: str | None) -> dict:
    """The manifest's record of the CPU: what was asked for and what LLVM compiled for."""
    cpu = CPUS.get(target.cpu)
    return {"mcpu": name or "default", "llvm_cpu": target.cpu,
            "zmm_halves": bool(cpu.zmm_halves) if cpu else False}
