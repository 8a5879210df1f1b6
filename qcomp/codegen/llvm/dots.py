"""The dot-product step of the GEMM micro-kernels, one function per target instruction.

    accumulate(mod, b, spec, acc, u, w) -> acc'
    acc'[j] = acc[j] + sum_{d < depth} u[j*depth + d] * w[j*depth + d]     j < lanes  (int32, wrapping)

u: <block x i8> activations (the offset of spec.activation_offset applied), w: <block x i8> weights,
acc: <lanes x i32>. A target whose ISA has the instruction (VPDPBUSD, SDOT) calls its intrinsic;
a target without one computes the same sum with a short sequence of the instructions it has
(arm-neon: SMULL/SMLAL2/SADALP in its own byte layout, kernels_neon.py; x86 AVX2: VPMADDUBSW +
VPMADDWD, dots_x86.py). SMMLA (arm-i8mm) is not a per-channel-lane step: its micro-kernel is
kernels_mmla.py.

    plan_node(spec, node, graph, packed, pad_value) -> (spec, packed, corrections)
the form of the step for one node, from its packed weights (AVX2: the fast form where it is proved
exact, with residual steps where it is not, or the wide int16 form; others: unchanged, None).
"""
from __future__ import annotations

from llvmlite import ir

from . import dots_x86, kernels_neon
from .irgen import I8, I16, I32
from .isa import DotSpec


def accumulate(mod, b: ir.IRBuilder, spec: DotSpec, acc, u, w):
    """acc + the lane-wise depth-`spec.depth` dot product of u and w (see the module docstring)."""
    if spec.instruction in ("vpdpbusd", "sdot"):
        vi32, vi8 = ir.VectorType(I32, spec.lanes), ir.VectorType(I8, spec.block)
        return b.call(mod.intrinsic(spec.intrinsic, vi32, [vi32, vi8, vi8]), [acc, u, w])
    if spec.instruction in ("smlal", "smull"):
        return kernels_neon.accumulate(mod, b, spec, acc, u, w)
    if spec.instruction == "vpmaddubsw":
        return dots_x86.accumulate(mod, b, spec, acc, u, w)
    raise AssertionError(f"dots.accumulate: no sequence for instruction {spec.instruction!r}")


def plan_node(spec: DotSpec, node, graph, packed, pad_value: int):
    """(spec, packed weights, residual steps or None) of one node's dot step (module docstring)."""
    if spec.instruction == "vpmaddubsw":
        return dots_x86.plan_node(spec, node, graph, packed, pad_value)
    return spec, packed, None


def accumulate_pairs(mod, b: ir.IRBuilder, spec: DotSpec, acc, x16, w16):
    """acc'[j] = acc[j] + x16[2j] w16[2j] + x16[2j+1] w16[2j+1] (int16 pairs into int32 lanes; the
    x86 depthwise step): VPDPWSSD(S) where the ISA has it, else VPMADDWD + add (AVX2)."""
    if spec.instruction == "vpmaddubsw":
        return dots_x86.accumulate_pairs(mod, b, acc, x16, w16)
    vi32, vi16 = ir.VectorType(I32, spec.lanes), ir.VectorType(I16, 2 * spec.lanes)
    return b.call(mod.intrinsic(f"llvm.x86.avx512.vpdpwssds.{32 * spec.lanes}", vi32, [vi32, vi16, vi16]),
                  [acc, x16, w16])
