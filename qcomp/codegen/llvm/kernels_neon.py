"""The dot step of arm-neon (AArch64 without dotprod: Cortex-A53/A72): SMULL, SMLAL2, SADALP.

The GEMM micro-kernel (kernels_dot.py) asks dots.accumulate for

    acc[j] += sum_{d < 4} a[d] * w[j][d]        j < 4 channels, a: the pixel's 4 bytes at step kq

with u = the pixel's 4 bytes broadcast to 16 ([a0 a1 a2 a3] x 4) and w = 16 weight bytes. Without
SDOT, int8 products are made by SMULL/SMULL2 (8 int8 x int8 -> 8 int16, exact: |p| <= 2^14) and
widened pairwise into int32 by SADALP (acc[i] += p[2i] + p[2i+1]).

Byte layout (this target's, set at build time by `prepare`): channel j's depth bytes d0 d1 at
positions 2j, 2j+1 and d2 d3 at 8 + 2j, 8 + 2j + 1 of the block:

    w = [w00 w01 w10 w11 w20 w21 w30 w31 | w02 w03 w12 w13 w22 w23 w32 w33]      (w[j][d] = wjd)
    u = [a0  a1  a0  a1  a0  a1  a0  a1  | a2  a3  a2  a3  a2  a3  a2  a3 ]      (one shuffle of
                                                                      the broadcast, shared by the
                                                                      tile's NR weight blocks)
so int16 lane i of a low-half product and lane i of a high-half product belong to the same
channel, and SADALP's pair (2j, 2j+1) is channel j. Two forms of the step:

  exact ("smull"):  acc = sadalp(sadalp(acc, smull(u.lo, w.lo)), smull2(u.hi, w.hi))   4 instructions
  fast  ("smlal"):  acc = sadalp(acc, smlal2(smull(u.lo, w.lo), u.hi, w.hi))           3 instructions

The fast form adds two products in int16 before widening: a[e] w[j][e] + a[e+2] w[j][e+2] (e < 2),
in [-2 * 128 * 127, 2 * 128 * 128] = [-32512, 32768]. It leaves int16 only at 32768, when both
products are (-128) * (-128): both weights of the pair equal -128 (and both activations too,
which the build cannot rule out). `prepare` proves from the node's actual weights that no pair
(w[j][e], w[j][e+2]) is (-128, -128) and picks the fast form, else the exact one; the
accumulator argument of kernels_dot.py (int32 lanes, exact final sum) is unchanged by either.
Weights that qcomp quantizes itself lie in [-127, 127] (symmetric), so they always take the fast
form; pre-quantized weights may hold -128.
"""
from __future__ import annotations

import dataclasses

import numpy as np
from llvmlite import ir

from .irgen import I8, I16, I32
from .isa import DotSpec

# pixels per tile for NR blocks: fewer accumulators than SDOT's tiles (kernels_dot.MR_FOR_NR) leave
# registers for the int16 products of the step (at most 16 accumulators + NR weights + temporaries)
MR_FOR_NR = {1: 12, 2: 8, 3: 5, 4: 4}
# position in this target's block of byte (j, d) of the [lanes][depth] block (module docstring)
_POSITION = np.array([[2 * j + (d % 2) + 8 * (d // 2) for d in range(4)] for j in range(4)])
_SPLIT = [0, 1] * 4 + [2, 3] * 4    # u: [a0 a1 a2 a3] x 4 -> [a0 a1] x 4 ++ [a2 a3] x 4


def int16_pairs_safe(packed: np.ndarray) -> bool:
    """True when no channel's weight pair (w[j][e], w[j][e+2]), e < 2, is (-128, -128) in the
    [..., lanes=4, depth=4] packed weights: the fast form's int16 sums cannot overflow."""
    both = (packed[..., 0:2] == -128) & (packed[..., 2:4] == -128)
    return not bool(both.any())


def prepare(packed: np.ndarray, spec: DotSpec) -> tuple[np.ndarray, DotSpec]:
    """The node's weights [G][OB][KQ][4][4] in this target's byte order ([G][OB][KQ][16]), and the
    spec of its dot step: instruction "smlal" (fast) when int16_pairs_safe, else "smull" (exact)."""
    out = np.zeros(packed.shape[:-2] + (16,), np.int8)
    out[..., _POSITION.ravel()] = packed.reshape(packed.shape[:-2] + (16,))
    form = "smlal" if int16_pairs_safe(packed) else "smull"
    return np.ascontiguousarray(out), dataclasses.replace(spec, instruction=form)


def accumulate(mod, b: ir.IRBuilder, spec: DotSpec, acc, u, w):
    """acc + the depth-4 dot products of u and w in this target's layout (module docstring)."""
    v8, v16, v4 = ir.VectorType(I8, 8), ir.VectorType(I16, 8), ir.VectorType(I32, 4)
    smull = mod.intrinsic("llvm.aarch64.neon.smull.v8i16", v16, [v8, v8])
    saddlp = mod.intrinsic("llvm.aarch64.neon.saddlp.v4i32.v8i16", v4, [v16])
    pairs = b.shuffle_vector(u, ir.Constant(u.type, None), ir.Constant(ir.VectorType(I32, 16), _SPLIT))

    def half(v, h):
        return b.shuffle_vector(v, ir.Constant(v.type, None), ir.Constant(ir.VectorType(I32, 8),
                                                                          list(range(8 * h, 8 * h + 8))))
    lo = b.call(smull, [half(pairs, 0), half(w, 0)])          # SMULL
    hi = b.call(smull, [half(pairs, 1), half(w, 1)])          # SMULL2
    if spec.instruction == "smlal":
        return b.add(acc, b.call(saddlp, [b.add(lo, hi)]))    # SMLAL2, SADALP (int16 sum: see prepare)
    return b.add(b.add(acc, b.call(saddlp, [lo])), b.call(saddlp, [hi]))   # SADALP, SADALP
