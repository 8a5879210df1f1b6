"""The AVX2 dot step (no dot instruction): VPMADDUBSW + VPMADDWD, and the build-time proof it is exact.

    VPMADDUBSW (u8 x s8):  t[i] = sat16(u[2i] w[2i] + u[2i+1] w[2i+1])        i < 16   (int16, saturating)
    VPMADDWD by ones:      s[j] = t[2j] + t[2j+1]                             j < 8    (int32, exact)
    acc[j] += s[j] = sum_{d < 4} u[4j+d] w[4j+d]                           -- when no pair saturates

Saturation proof, per weight pair of each node, from its packed weights and its activation range: with
u = x + 128 in [u_lo, u_hi] (0 <= u_lo <= u_hi <= 255: the range of x, padding value included),
a weight pair (w0, w1) sums u0 w0 + u1 w1 to at most hi = sum_i max(u_lo w_i, u_hi w_i) and at
least lo = sum_i min(u_lo w_i, u_hi w_i) (each term is linear in its own u_i), so the pair cannot
saturate iff -32768 <= lo and hi <= 32767. For u over [0, 255]: iff the pair's positive weights sum
to at most 128 and its negative ones to at least -128 (255 * 129 = 32895 > 32767). The pairs are
bytes (2i, 2i+1) of the packed layout [G][OB][KQ][lanes][depth]: (d0, d1) and (d2, d3) of each
lane (padding bytes are zero weights). An int8 per-channel quantized layer has a weight of
magnitude 127 in every channel, so for u over [0, 255] the proof fails for some pairs of most
layers. Each node gets one of three forms, decided here at build time (never at run time; the
result is the reference's in each):

  fast      every pair proved safe: the packed weights as they are, one VPMADDUBSW + VPMADDWD per step.
  fast+fix  some pairs unsafe: each unsafe pair's weights w = h + l, h = floor(w / 2) in [-64, 63],
            l = w - h in [-64, 64] (a pair of either sums within 255 * 128 = 32640 in magnitude: never
            saturates). The main loop runs the fast form on "main" (w where the pair is safe, h where
            not), then per output block a second loop runs the fast form on the residual l at the
            steps (kq) where the block has an unsafe pair, reading A at that kq again
            (Corrections: the kq list and residual rows per block, tables in the module).
            sum u w = sum u main + sum u residual, exactly (int32 lanes, wrapping, bounded total).
  wide      more than MAX_CORRECTED of the steps need a residual: u's byte pairs zero-extended to
            int16 in every lane (u in [0, 255]), the weights packed as int16 pairs per step,
            [G][OB][KQ][2][lanes][2] (DotSpec.weight_parts = 2), two VPMADDWD + two adds:
            |u w| <= 255 * 128 and a pair sum within int32: exact for any weights.

Cost per step, in VPMADDUBSW/VPMADDWD-class instructions (the two vector multiply pipes of the
core bound all three): fast 2, fast+fix 2 (1 + f) for a fraction f of corrected steps, wide 2 plus
two byte shuffles, which measure about 1.75 times the fast form on Zen 4.

Depthwise (no VPDPWSSD on AVX2): acc[j] += VPMADDWD(x16, w16)[j] = x[2j] w[2j] + x[2j+1] w[2j+1],
int16 operands |x|, |w| <= 128: the int32 pair sum is exact.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
from llvmlite import ir

from ...ir import Node, qops
from .irgen import I8, I16, I32, I64, PTR, c64, load_i64, loop, var
from .isa import DotSpec

INT16_MIN, INT16_MAX = -(1 << 15), (1 << 15) - 1
MADDUBS = "llvm.x86.avx2.pmadd.ub.sw"
MADD = "llvm.x86.avx2.pmadd.wd"
# share of (block, step)s with a residual above which the wide form is cheaper than the fast form
# with corrections: fast + a fraction f corrected costs about 1 + 1.2 f fast steps (a residual
# step broadcasts its A bytes for one block only), wide 1.75
MAX_CORRECTED = 0.6


def activation_range(node: Node, graph, pad_value: int) -> tuple[int, int]:
    """[lo, hi] of the int8 values a dot node's A matrix reads: its input's producer's clamp
    [qmin, qmax] when it has one (a requantizing op), else the int8 range; and the padding value."""
    lo, hi = -128, 127
    producer = graph.producers().get(node.inputs[0])
    if producer is not None and type(producer.op) in qops.INTEGER_OPS.values() and hasattr(producer.op, "qmin"):
        lo, hi = max(lo, producer.op.qmin), min(hi, producer.op.qmax)
    return min(lo, pad_value), max(hi, pad_value)


def saturation_free(packed: np.ndarray, u_lo: int, u_hi: int) -> bool:
    """True when no VPMADDUBSW pair of these weights can saturate for u in [u_lo, u_hi] (the proof)."""
    return not unsafe_pairs(packed, u_lo, u_hi).any()


def widen_weights(packed: np.ndarray) -> np.ndarray:
    """[..., KQ, lanes, 4] int8 -> [..., KQ, 2, lanes, 2] int16: per step the VPMADDWD operands
    (w[j, 0], w[j, 1]) and (w[j, 2], w[j, 3]) of every lane j."""
    shape = packed.shape
    pairs = packed.astype(np.int16).reshape(*shape[:-1], 2, 2)          # [..., KQ, lanes, 2, 2]
    return np.ascontiguousarray(np.swapaxes(pairs, -3, -2))


@dataclass
class Corrections:
    """The residual steps of a node in the fast form with corrections, per output block:
    meta[g * OB + ob] = (first row, count) of the block's rows in idx (the kq of each step, int32)
    and panel ([row][lanes * depth] int8 residual weights)."""
    meta: np.ndarray
    idx: np.ndarray
    panel: np.ndarray

    @staticmethod
    def arg_types() -> list:
        return [PTR, PTR, PTR]

    def job_args(self, mod, b: ir.IRBuilder, first_block) -> list:
        """[meta at the chunk's first block (g * OB + ob), idx, panel] for the micro-kernel."""
        meta = mod.table(self.meta, "fix_meta")
        return [b.gep(meta, [b.mul(first_block, c64(16))], source_etype=I8), mod.table(self.idx, "fix_idx"),
                mod.table(self.panel, "fix_w")]

    def emit(self, mod, b: ir.IRBuilder, spec: DotSpec, accs: list, a, a_stride: int, args) -> list:
        """accs[r][j] + block j's residual steps (fast form), each reading A at its own kq."""
        meta, idx, panel = args
        lanes, block = spec.lanes, spec.block
        vi32, vi8 = ir.VectorType(I32, lanes), ir.VectorType(I8, block)
        slots = [[var(b, vi32, acc, "fix_acc") for acc in row] for row in accs]
        for j in range(len(accs[0])):
            first = load_i64(b, meta, c64(2 * j), I64)
            with loop(b, load_i64(b, meta, c64(2 * j + 1), I64), "fix") as i:
                row = b.add(first, i)
                kq = load_i64(b, idx, row, I32)
                w = b.load(b.gep(panel, [b.mul(row, c64(block))], source_etype=I8), typ=vi8, align=1)
                for r, slot in enumerate(row[j] for row in slots):
                    word = b.load(b.gep(a, [b.add(c64(r * a_stride), b.mul(kq, c64(spec.depth)))], source_etype=I8),
                                  typ=I32, align=1)
                    first_lane = b.insert_element(ir.Constant(vi32, None), word, ir.Constant(I32, 0))
                    u = b.bitcast(b.shuffle_vector(first_lane, ir.Constant(vi32, None),
                                                   ir.Constant(vi32, [0] * lanes)), vi8)
                    b.store(accumulate(mod, b, spec, b.load(slot, typ=vi32), u, w), slot)
        return [[b.load(slot, typ=vi32) for slot in row] for row in slots]


def unsafe_pairs(packed: np.ndarray, u_lo: int, u_hi: int) -> np.ndarray:
    """[..., lanes * depth / 2] bool: the pairs (bytes 2i, 2i+1 of each step) that may saturate."""
    w = packed.reshape(*packed.shape[:-2], -1, 2).astype(np.int64)
    ends = np.stack([u_lo * w, u_hi * w])
    return (ends.min(axis=0).sum(axis=-1) < INT16_MIN) | (ends.max(axis=0).sum(axis=-1) > INT16_MAX)


def plan_node(spec: DotSpec, node: Node, graph, packed: np.ndarray, pad_value: int):
    """The form of this node's dot step: (spec, packed weights, Corrections or None); packed is
    [G][OB][KQ][lanes][depth] (see the module docstring)."""
    lo, hi = activation_range(node, graph, pad_value)
    bad = unsafe_pairs(packed, lo + spec.activation_offset, hi + spec.activation_offset)   # [G, OB, KQ, pairs]
    if not bad.any():
        return spec, packed, None
    steps = bad.any(axis=-1)                                                         # [G, OB, KQ]
    if steps.mean() > MAX_CORRECTED:
        return dataclasses.replace(spec, weight_parts=2), widen_weights(packed), None
    bad_bytes = np.repeat(bad, 2, axis=-1).reshape(packed.shape)
    h = packed >> 1                                      # floor(w / 2) in [-64, 63]
    main = np.where(bad_bytes, h, packed).astype(np.int8)
    residual = np.where(bad_bytes, packed - h, 0).astype(np.int8)                   # in [-64, 64]
    g, ob, kq = np.nonzero(steps)                        # C order: by block, then kq
    counts = steps.reshape(-1, steps.shape[-1]).sum(axis=1)
    meta = np.stack([np.cumsum(counts) - counts, counts], axis=1).astype(np.int64)  # [G * OB, 2]
    panel = residual[g, ob, kq].reshape(len(kq), -1)
    return spec, np.ascontiguousarray(main), Corrections(meta, kq.astype(np.int32), np.ascontiguousarray(panel))


def accumulate(mod, b: ir.IRBuilder, spec: DotSpec, acc, u, w):
    """acc + sum_{d<4} u[4j+d] w[4j+d] per lane. Fast form (w: <block x i8>): VPMADDUBSW, VPMADDWD
    by ones, add. Wide form (spec.weight_parts 2, w: the step's int16 pairs, 2 * block bytes): u's
    pairs zero-extended to int16 in every lane (one byte shuffle each), two VPMADDWD, two adds."""
    block = spec.block
    vi8, vi16, vi32 = ir.VectorType(I8, block), ir.VectorType(I16, block // 2), ir.VectorType(I32, spec.lanes)
    madd = mod.intrinsic(MADD, vi32, [vi16, vi16])
    if spec.weight_parts == 1:
        maddubs = mod.intrinsic(MADDUBS, vi16, [vi8, vi8])
        return b.add(acc, b.call(madd, [b.call(maddubs, [u, w]), ir.Constant(vi16, [1] * (block // 2))]))
    w16 = b.bitcast(w, ir.VectorType(I16, block))
    zero = ir.Constant(vi8, [0] * block)
    for p in range(2):
        # bytes (u[2p], 0, u[2p+1], 0) in every int32 lane: the pair (u[2p], u[2p+1]) as two int16
        mask = [v for _ in range(spec.lanes) for v in (2 * p, block, 2 * p + 1, block)]
        up = b.bitcast(b.shuffle_vector(u, zero, ir.Constant(ir.VectorType(I32, block), mask)), vi16)
        wp = b.shuffle_vector(w16, w16, ir.Constant(ir.VectorType(I32, block // 2),
                                                     list(range(p * block // 2, (p + 1) * block // 2))))
        acc = b.add(acc, b.call(madd, [up, wp]))
    return acc


def accumulate_pairs(mod, b: ir.IRBuilder, acc, x16, w16):
    """acc + VPMADDWD(x16, w16): int16 pairs into int32 lanes (the depthwise step without VPDPWSSD)."""
    vi32 = ir.VectorType(I32, x16.type.count // 2)
    madd = mod.intrinsic(MADD, vi32, [x16.type, x16.type])
    return b.add(acc, b.call(madd, [x16, w16]))
