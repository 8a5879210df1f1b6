"""Lut (y = table[x + 128], int8 -> int8) as vector table lookups: the 256 entries held in registers.

kernels_elem.emit_lut loads one table byte per element (about a cycle each); here one step looks up
a whole vector, exactly the same bytes, where the ISA has a variable permute:

  AVX-512 (x86 with 512-bit VPDPBUSD, whose features include AVX512BW), 32 elements per step:
    u = zext16(x xor 0x80)                       the table index x + 128 in [0, 255], in int16 lanes
    w = u >> 1                                   the index of the 16-bit word holding table[u]
    word = VPERMT2W(W0, w, W1) if w < 64 else VPERMT2W(W2, w, W3)
                                                 W_i: table bytes [64 i, 64 i + 64) as 32 words, little
                                                 endian (word k = table[2k] | table[2k + 1] << 8); the
                                                 permute reads bits 0-5 of w, bit 6 picks the pair
    y = trunc8(word >> 8 * (u & 1))              the low byte for an even u, the high for an odd one
  AArch64 NEON, 16 elements per step:
    u = x xor 0x80                               (as unsigned bytes)
    y = TBL4(T0..T3, u) | TBL4(T4..T7, u - 64) | TBL4(T8..T11, u - 128) | TBL4(T12..T15, u - 192)
                                                 T_i: table bytes [16 i, 16 i + 16); a TBL index >= 64
                                                 gives 0 and u - 64 j wraps modulo 256, so exactly one
                                                 term is non-zero: the one whose 64 entries hold u

The x86 targets without AVX-512 (x86-avx2, x86-avxvnni) keep the scalar loop. The elements split
into vector steps over the pool's jobs (kernels_float_vec._row_jobs), the size mod L tail scalar.
"""
from __future__ import annotations

import math

import numpy as np
from llvmlite import ir

from ...ir import Node
from . import kernels_elem
from .irgen import I8, I16, c64, load, load_i64, loop, store
from .kernels_float_vec import _row_jobs, _rows


def step_of(spec) -> int | None:
    """Elements per vector step on this target, or None (the scalar loop)."""
    if spec.arch == "x86" and spec.lanes == 16:   # 512-bit VPDPBUSD: +avx512bw (isa._REQUIRED_FEATURES)
        return 32
    if spec.arch == "aarch64":
        return 16
    return None


def lookup(k, b: ir.IRBuilder, x, table: np.ndarray):
    """table[x + 128] on the <L x i8> vector x (L = step_of(k.spec))."""
    lanes = x.type.count
    t8 = np.ascontiguousarray(table, dtype=np.int8)
    v8 = ir.VectorType(I8, lanes)
    u8 = b.xor(x, ir.Constant(v8, [-128] * lanes))
    if k.spec.arch == "x86":
        v16 = ir.VectorType(I16, lanes)
        permute = k.mod.intrinsic("llvm.x86.avx512.vpermi2var.hi.512", v16, [v16, v16, v16])
        words = t8.view(np.uint8).astype(np.uint16)
        words = (words[0::2] | (words[1::2] << 8)).view(np.int16)
        regs = [ir.Constant(v16, [int(v) for v in words[32 * i: 32 * i + 32]]) for i in range(4)]
        u = b.zext(u8, v16)
        w = b.lshr(u, ir.Constant(v16, [1] * lanes))
        lo = b.call(permute, [regs[0], w, regs[1]])
        hi = b.call(permute, [regs[2], w, regs[3]])
        upper = b.icmp_unsigned("!=", b.and_(w, ir.Constant(v16, [64] * lanes)), ir.Constant(v16, [0] * lanes))
        word = b.select(upper, hi, lo)
        shift = b.shl(b.and_(u, ir.Constant(v16, [1] * lanes)), ir.Constant(v16, [3] * lanes))
        return b.trunc(b.lshr(word, shift), v8)
    tbl4 = k.mod.intrinsic("llvm.aarch64.neon.tbl4.v16i8", v8, [v8] * 5)
    regs = [ir.Constant(v8, [int(v) for v in t8[16 * i: 16 * i + 16]]) for i in range(16)]
    y = None
    for j in range(4):
        idx = u8 if j == 0 else b.sub(u8, ir.Constant(v8, [64 * j] * lanes))
        part = b.call(tbl4, [*regs[4 * j: 4 * j + 4], idx])
        y = part if y is None else b.or_(y, part)
    return y


def emit_lut(node: Node, k) -> None:
    lanes = step_of(k.spec)
    n = math.prod(k.graph.types[node.outputs[0]].shape)
    if lanes is None or n < lanes:
        return kernels_elem.emit_lut(node, k)
    table = k.graph.constants[node.inputs[1]]
    v8 = ir.VectorType(I8, lanes)

    def body(b, ins, outs, r0, r1):
        with _rows(b, r0, r1) as r:
            at = b.mul(r, c64(lanes))
            x = b.load(b.gep(ins[0], [at], source_etype=I8), typ=v8, align=1)
            b.store(lookup(k, b, x, table), b.gep(outs[0], [at], source_etype=I8), align=1)
    _row_jobs(k, n // lanes, lanes, "lut_job", body)
    if n % lanes:   # the tail: kernels_elem's scalar lookups
        b, tab = k.b, k.mod.table(table, "lut")
        with loop(b, n % lanes, "lut_tail") as t:
            i = b.add(t, c64(n - n % lanes))
            x = load_i64(b, k.ins[0], i, I8)
            store(b, load(b, tab, b.add(x, c64(128)), I8), k.outs[0], i, I8)
