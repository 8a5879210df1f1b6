"""What the LLVM backend takes from a target description: the dot-product instruction and its shape.

A target's `dot` table (targets/*.toml) names an int8 dot instruction; this module maps it, with
the vector width, to the LLVM intrinsic that computes

    acc[j] += sum_{d < depth} a[j*depth + d] * b[j*depth + d]      j < lanes   (int32, wrapping)

  vpdpbusd (x86 AVX512-VNNI): a u8, b s8, 512 bits: 16 lanes x 4;  256 bits (AVX512VL): 8 x 4
  sdot     (AArch64 dotprod): a s8, b s8, 128 bits:  4 lanes x 4
  smlal    (AArch64 without dotprod): SMULL/SMLAL2/SADALP sequences, 4 lanes x 4 (kernels_neon.py)
  smmla    (AArch64 i8mm): a 2x2 int32 tile of two pixels x two channels, depth 8; its GEMM
           micro-kernel is kernels_mmla.py (a block = 4 channels = two channel pairs)
  vpdpbusd (x86 AVX-VNNI, VEX): the 256-bit form under +avxvnni, without AVX-512: 8 x 4
  vpmaddubsw (x86 AVX2): no dot instruction; VPMADDUBSW + VPMADDWD by ones (dots_x86.py): 8 x 4
The activation offset makes a u8 operand of an int8 activation: u = x + 128 (x86); 0 for sdot. The
backend folds offset * sum(w) into the bias (ARCHITECTURE.md section 3), so no result changes.
Non-saturating forms only (VPDPBUSD, not VPDPBUSDS): int32 lanes wrap, and the final sum, which
the compiler proved fits int32, is exact modulo 2^32.
"""
from __future__ import annotations

from dataclasses import dataclass

from ...errors import QcompError
from ...target import Target


@dataclass(frozen=True)
class DotSpec:
    intrinsic: str        # LLVM intrinsic name
    lanes: int            # int32 accumulators per instruction
    depth: int            # int8 products summed per lane
    activation_offset: int  # added to int8 activations (128 for a u8 operand, else 0)
    instruction: str = "" # the target's [dot] instruction: dots.accumulate emits its sequence
    arch: str = ""        # "x86" or "aarch64": the kernels' ISA-specific paths branch on it
    registers: int = 32   # vector registers of the ISA (micro-kernel tile shapes fit in them)
    weight_parts: int = 1 # weight vectors per dot step (2: AVX2's wide int16 form, dots_x86.py)

    @property
    def weight_block(self) -> int:
        """Bytes of packed weights per dot step."""
        return self.block * self.weight_parts

    @property
    def block(self) -> int:
        """Bytes of each operand per instruction."""
        return self.lanes * self.depth


# (instruction, vector bits) -> (intrinsic, lanes)
_INTRINSICS = {
    ("vpdpbusd", 512): ("llvm.x86.avx512.vpdpbusd.512", 16),
    ("vpdpbusd", 256): ("llvm.x86.avx512.vpdpbusd.256", 8),
    ("sdot", 128): ("llvm.aarch64.neon.sdot.v4i32.v16i8", 4),
    ("smlal", 128): ("llvm.aarch64.neon.smull.v8i16", 4),
    ("smmla", 128): ("llvm.aarch64.neon.smmla.v4i32.v16i8", 4),
    ("vpmaddubsw", 256): ("llvm.x86.avx2.pmadd.ub.sw", 8),
}
_DEPTHS = {("smmla", 128): 8}   # int8 products per lane, where not 4
# instruction -> target features LLVM needs before it may select it (an intrinsic without them
# aborts LLVM with "Do not know how to split" or "Cannot select": validated before any compile)
_REQUIRED_FEATURES = {
    ("vpdpbusd", 512): ("+avx512f", "+avx512bw", "+avx512vnni"),
    ("vpdpbusd", 256): ("+avx512f", "+avx512vl", "+avx512vnni"),
    ("sdot", 128): ("+neon", "+dotprod"),
    ("smlal", 128): ("+neon",),
    ("smmla", 128): ("+neon", "+i8mm"),
    ("vpmaddubsw", 256): ("+avx2",),
}
# other feature sets that also select the instruction: VEX VPDPBUSD ymm under AVX-VNNI
_ALTERNATIVE_FEATURES = {("vpdpbusd", 256): ("+avx2", "+avxvnni")}
_OFFSETS = {"u8": 128, "s8": 0}
# vector registers the micro-kernels may plan for (AVX-512: zmm0-31; AArch64: v0-31)
# (a target's [dot] `registers` overrides it: 16 for the VEX-only x86 targets, ymm0-15)
_REGISTERS = {("vpdpbusd", 512): 32, ("vpdpbusd", 256): 32, ("sdot", 128): 32, ("smlal", 128): 32,
              ("smmla", 128): 32, ("vpmaddubsw", 256): 16}


def dot_spec(target: Target) -> DotSpec:
    """The dot instruction of `target`, checked against its features (a clear error, not SIGABRT)."""
    if target.dot is None:
        raise QcompError(f"target {target.name!r} has no [dot] table: the llvm backend needs one "
                         f"(instruction, activation, weight, lanes, depth)")
    key = (target.dot.instruction, target.vector_bits)
    if key not in _INTRINSICS:
        known = ", ".join(f"{i} at {b} bits" for i, b in _INTRINSICS)
        raise QcompError(f"target {target.name!r}: dot instruction {key[0]!r} at vector_bits={key[1]} is not "
                         f"supported by the llvm backend (supported: {known})")
    missing = [f for f in _REQUIRED_FEATURES[key] if f not in target.features]
    if missing and key in _ALTERNATIVE_FEATURES and all(f in target.features for f in _ALTERNATIVE_FEATURES[key]):
        missing = []
    if missing:
        raise QcompError(f"target {target.name!r}: {key[0]} at {key[1]} bits needs features "
                         f"{', '.join(missing)}, which the target's `features` lack; add them to its toml")
    if target.dot.activation not in _OFFSETS or target.dot.weight != "s8":
        raise QcompError(f"target {target.name!r}: dot operands {target.dot.activation} x {target.dot.weight} "
                         f"are not supported (u8 x s8 or s8 x s8)")
    intrinsic, lanes = _INTRINSICS[key]
    depth = _DEPTHS.get(key, 4)
    if (lanes, depth) != (target.dot.lanes, target.dot.depth):
        raise QcompError(f"target {target.name!r}: {key[0]} at {key[1]} bits has {lanes} lanes of depth {depth}, "
                         f"but the toml says {target.dot.lanes} x {target.dot.depth}")
    arch = "x86" if intrinsic.startswith("llvm.x86.") else "aarch64"
    registers = target.dot.registers or _REGISTERS[key]
    return DotSpec(intrinsic, lanes, depth, _OFFSETS[target.dot.activation], key[0], arch, registers)
