"""The AVX2 dot step (no dot instruction): VPMADDUBSW + VPMADDWD, and the build-time proof it is exact.

    VPMADDUBSW (u8 x s8):  t[i] = sat16(u[2i] w[2i] + u[2i+1] w[2i+1])        i < 16   (int16, saturating)
    VPMADDWD by ones:      s[j] = t[2j] + t[2j+1]                             j < 8    (int32, exact)
    acc[j] += s[j] = sum_{d < 4} u[4j+d] w[4j+d]                           -- when no pair saturates

Saturation proof, per node, from its packed weights and its activation range: with
u = x + 128 in [u_lo, u_hi] (0 <= u_lo <= u_hi <= 255: the range of x, padding value included),
a weight pair (w0, w1) sums u0 w0 + u1 w1 to at most hi = sum_i max(u_lo w_i, u_hi w_i) and at
least lo = sum_i min(u_lo w_i, u_hi w_i) (each term is linear in its own u_i), so the pair cannot
saturate iff -32768 <= lo and hi <= 32767. For u over [0, 255]: iff the pair's positive weights sum
to at most 128 and its negative ones to at least -128 (255 * 129 = 32895 > 32767). The pairs are
bytes (2i, 2i+1) of the packed layout [G][OB][KQ][lanes][depth]: (d0, d1) and (d2, d3) of each
lane (padding bytes are zero weights). An int8 per-channel quantized layer has a weight of
magnitude 127 in every channel, so the proof often fails for u over [0, 255]: then

Exact form: w = h + l with h = floor(w / 2) in [-64, 63] and l = w - h in [-64, 64]; a pair of
either sums within 255 * 128 = 32640 in magnitude, so neither VPMADDUBSW saturates:
    acc[j] += madd(maddubs(u, h), 1)[j] + madd(maddubs(u, l), 1)[j]        (int32, exact)
The node's packed weights then hold h and l per step, [G][OB][KQ][2][lanes][depth]
(DotSpec.weight_parts = 2): twice the weight bytes and two instruction pairs per step instead of one.
Which form a node uses is decided here, at build time, never at run time: the result is the
reference's either way.

Depthwise (no VPDPWSSD on AVX2): acc[j] += VPMADDWD(x16, w16)[j] = x[2j] w[2j] + x[2j+1] w[2j+1],
int16 operands |x|, |w| <= 128: the int32 pair sum is exact.
"""
from __future__ import annotations

import dataclasses

import numpy as np
from llvmlite import ir

from ...ir import Node, qops
from .irgen import I8, I16, I32
from .isa import DotSpec

INT16_MIN, INT16_MAX = -(1 << 15), (1 << 15) - 1
MADDUBS = "llvm.x86.avx2.pmadd.ub.sw"
MADD = "llvm.x86.avx2.pmadd.wd"


def activation_range(node: Node, graph, pad_value: int) -> tuple[int, int]:
    """[lo, hi] of the int8 values a dot node's A matrix reads: its input's producer's clamp
    [qmin, qmax] when it has one (a requantizing op), else the int8 range; and the padding value."""
    lo, hi = -128, 127
    producer = graph.producers().get(node.inputs[0])
    if producer is not None and type(producer.op) in qops.INTEGER_OPS.values() and hasattr(producer.op, "qmin"):
        lo, hi = max(lo, producer.op.qmin), min(hi, producer.op.qmax)
    return min(lo, pad_value), max(hi, pad_value)


def pair_sum_bounds(packed: np.ndarray, u_lo: int, u_hi: int) -> tuple[int, int]:
    """(min, max) over every weight pair (bytes 2i, 2i+1) and u0, u1 in [u_lo, u_hi] of u0 w0 + u1 w1."""
    w = packed.reshape(-1, 2).astype(np.int64)
    if w.size == 0:
        return 0, 0
    ends = np.stack([u_lo * w, u_hi * w])
    return int(ends.min(axis=0).sum(axis=1).min()), int(ends.max(axis=0).sum(axis=1).max())


def saturation_free(packed: np.ndarray, u_lo: int, u_hi: int) -> bool:
    """True when no VPMADDUBSW pair of these weights can saturate for u in [u_lo, u_hi] (the proof)."""
    lo, hi = pair_sum_bounds(packed, u_lo, u_hi)
    return INT16_MIN <= lo and hi <= INT16_MAX


def split_weights(packed: np.ndarray) -> np.ndarray:
    """[..., KQ, lanes, depth] -> [..., KQ, 2, lanes, depth]: h = floor(w / 2), l = w - h per step."""
    h = packed >> 1                       # arithmetic shift: floor(w / 2) in [-64, 63]
    low = packed - h                      # in [-64, 64]: no int8 overflow
    return np.ascontiguousarray(np.stack([h, low], axis=-3))


def plan_node(spec: DotSpec, node: Node, graph, packed: np.ndarray, pad_value: int) -> tuple[DotSpec, np.ndarray]:
    """The form of the dot step for this node: (spec, packed) unchanged when the proof holds, else
    the exact split form (spec.weight_parts = 2, packed h and l)."""
    lo, hi = activation_range(node, graph, pad_value)
    if saturation_free(packed, lo + spec.activation_offset, hi + spec.activation_offset):
        return spec, packed
    return dataclasses.replace(spec, weight_parts=2), split_weights(packed)


def accumulate(mod, b: ir.IRBuilder, spec: DotSpec, acc, u, w):
    """acc + sum_{d<4} u[4j+d] w[4j+d] per lane: one VPMADDUBSW + VPMADDWD pair per weight part
    (w: <weight_block x i8>, the node's form: see the module docstring)."""
    block = spec.block
    vi8, vi16, vi32 = ir.VectorType(I8, block), ir.VectorType(I16, block // 2), ir.VectorType(I32, spec.lanes)
    maddubs = mod.intrinsic(MADDUBS, vi16, [vi8, vi8])
    madd = mod.intrinsic(MADD, vi32, [vi16, vi16])
    ones = ir.Constant(vi16, [1] * (block // 2))
    parts = [w] if spec.weight_parts == 1 else \
        [b.shuffle_vector(w, w, ir.Constant(ir.VectorType(I32, block), list(range(p * block, (p + 1) * block))))
         for p in range(spec.weight_parts)]
    sums = [b.call(madd, [b.call(maddubs, [u, part]), ones]) for part in parts]
    total = sums[0]
    for s in sums[1:]:
        total = b.add(total, s)
    return b.add(acc, total)


def accumulate_pairs(mod, b: ir.IRBuilder, acc, x16, w16):
    """acc + VPMADDWD(x16, w16): int16 pairs into int32 lanes (the depthwise step without VPDPWSSD)."""
    vi32 = ir.VectorType(I32, x16.type.count // 2)
    madd = mod.intrinsic(MADD, vi32, [x16.type, x16.type])
    return b.add(acc, b.call(madd, [x16, w16]))
