"""The dot-product step of the GEMM micro-kernels, one function per target instruction.

    accumulate(mod, b, spec, acc, u, w) -> acc'
    acc'[j] = acc[j] + sum_{d < depth} u[j*depth + d] * w[j*depth + d]     j < lanes  (int32, wrapping)

u: <block x i8> activations (the offset of spec.activation_offset applied), w: <block x i8> weights,
acc: <lanes x i32>. A target whose ISA has the instruction (VPDPBUSD, SDOT) calls its intrinsic;
a target without one computes the same sum with a short sequence of the instructions it has
(arm-neon: SMULL/SMLAL2/SADALP in its own byte layout, kernels_neon.py). SMMLA (arm-i8mm) is not
a per-channel-lane step: its micro-kernel is kernels_mmla.py.
"""
from __future__ import annotations

from llvmlite import ir

from . import kernels_neon
from .irgen import I8, I32
from .isa import DotSpec


def accumulate(mod, b: ir.IRBuilder, spec: DotSpec, acc, u, w):
    """acc + the lane-wise depth-`spec.depth` dot product of u and w (see the module docstring)."""
    if spec.instruction in ("vpdpbusd", "sdot"):
        vi32, vi8 = ir.VectorType(I32, spec.lanes), ir.VectorType(I8, spec.block)
        return b.call(mod.intrinsic(spec.intrinsic, vi32, [vi32, vi8, vi8]), [acc, u, w])
    if spec.instruction in ("smlal", "smull"):
        return kernels_neon.accumulate(mod, b, spec, acc, u, w)
    raise AssertionError(f"dots.accumulate: no sequence for instruction {spec.instruction!r}")
