"""Integer LayerNorm (QLayerNorm) in LLVM IR: qcomp/fixedpoint/layernorm.py transcribed line for line,
with the same names, the row helpers as internal functions created once per module.

    qcomp_isqrt_u62(w)          floor(sqrt(w)), w < 2^62: the digit-by-digit method, 32 branch-free
                                steps (unsigned compare, select), as the spec and the C kernel
    qcomp_row_inverse_std(v, &s) s = (ctlz64(v) - 2) >> 1, sigma = isqrt(v << 2s),
                                inv = udiv(2^61 + (sigma >> 1), sigma): the exact floor quotient that the
                                C kernel's restoring loop computes (x86 DIV, AArch64 UDIV)
    per row (rows of N contiguous int8, N = prod(shape[axis:])):
      total = sum x_c (i32), sumsq = sum x_c^2 (i64), ss = N * sumsq - total^2, inv, s
      per element: d = N x_c - total, zq = (d * inv + 2^(sh-1)) >> sh (sh = 45 - s),
      acc = zq * gamma_q[c] + (beta_q[c] << 16), out = clamp(((acc + 2^31) >> 32) + zp_out, qmin, qmax)
Every range is the spec's (i64 wherever it exceeds int32). Rows are split over the thread pool's jobs
(parallel_for): each job writes its own rows, so the result is the same for every thread count.
"""
from __future__ import annotations

import math

from llvmlite import ir

from ...ir import DType, Node
from .irgen import I1, I8, I32, I64, PTR, c32, c64, job_function, load, loop, parallel_for, store, var

ROWS_PER_JOB_MIN_ELEMENTS = 4096   # a job handles at least this many elements (a few rows of a token model)


def why_not_layer_norm(node: Node, graph) -> str | None:
    """int8 input, constant int32 gamma_q and beta_q."""
    if graph.types[node.inputs[0]].dtype is not DType.INT8:
        return f"operand {node.inputs[0]!r} is not int8"
    missing = [v for v in node.inputs[1:] if v not in graph.constants]
    return f"{', '.join(map(repr, missing))} must be constant" if missing else None


def _define_helpers(mod) -> None:
    if mod.has_helper("qcomp_row_inverse_std"):
        return
    f, b = mod.define_helper("qcomp_isqrt_u62", I64, [I64])
    w0, = f.args
    w, res, bit = var(b, I64, w0, "w"), var(b, I64, c64(0), "res"), var(b, I64, c64(1 << 62), "bit")
    with loop(b, 32, "step"):
        wv, rv, bv = b.load(w, typ=I64), b.load(res, typ=I64), b.load(bit, typ=I64)
        t = b.add(rv, bv)
        ge = b.icmp_unsigned(">=", wv, t)
        b.store(b.select(ge, b.sub(wv, t), wv), w)
        half = b.lshr(rv, c64(1))
        b.store(b.select(ge, b.add(half, bv), half), res)
        b.store(b.lshr(bv, c64(2)), bit)
    b.ret(b.load(res, typ=I64))

    ctlz = mod.intrinsic("llvm.ctlz.i64", I64, [I64, I1])
    f, b = mod.define_helper("qcomp_row_inverse_std", I64, [I64, PTR])   # (v, &s)
    v, s_slot = f.args
    shift = b.ashr(b.sub(b.call(ctlz, [v, ir.Constant(I1, 1)]), c64(2)), c64(1))   # v >= 1
    sigma = b.call(mod.helper("qcomp_isqrt_u62"), [b.shl(v, b.add(shift, shift))])
    num = b.add(c64(1 << 61), b.lshr(sigma, c64(1)))
    b.store(b.trunc(shift, I32), s_slot)
    b.ret(b.udiv(num, sigma))


def emit_layer_norm(node: Node, k) -> None:
    b, op = k.b, node.op
    _define_helpers(k.mod)
    shape = k.graph.types[node.inputs[0]].shape
    n = math.prod(shape[op.axis:])
    rows = math.prod(shape) // n
    per_job = max(1, ROWS_PER_JOB_MIN_ELEMENTS // n)
    jobs = -(-rows // per_job)
    job, jb, (x, gamma, beta, y), index = job_function(k.mod, "layer_norm_job", 4)
    first = jb.mul(index, c64(per_job))
    count = jb.select(jb.icmp_signed("<", jb.sub(c64(rows), first), c64(per_job)), jb.sub(c64(rows), first),
                      c64(per_job))
    total, sumsq, s_slot = var(jb, I32, c32(0), "total"), var(jb, I64, c64(0), "sumsq"), var(jb, I32, c32(0), "s")
    with loop(jb, count, "row") as rr:
        base = jb.mul(jb.add(first, rr), c64(n))
        jb.store(c32(0), total)
        jb.store(c64(0), sumsq)
        with loop(jb, n, "stat") as c:
            xc = jb.sub(jb.sext(load(jb, x, jb.add(base, c), I8), I32), c32(op.input_zero_point))
            jb.store(jb.add(jb.load(total, typ=I32), xc), total)
            sq = jb.sext(jb.mul(xc, xc), I64)
            jb.store(jb.add(jb.load(sumsq, typ=I64), sq), sumsq)
        t = jb.load(total, typ=I32)
        t64 = jb.sext(t, I64)
        ss = jb.sub(jb.mul(c64(n), jb.load(sumsq, typ=I64)), jb.mul(t64, t64))          # [0, 2^48)
        inv = jb.call(k.mod.helper("qcomp_row_inverse_std"), [jb.add(ss, c64(op.eps_q)), s_slot])
        sh = jb.sub(c64(45), jb.sext(jb.load(s_slot, typ=I32), I64))                     # [15, 45]
        rounding = jb.shl(c64(1), jb.sub(sh, c64(1)))
        with loop(jb, n, "elem") as c:
            xc = jb.sub(jb.sext(load(jb, x, jb.add(base, c), I8), I32), c32(op.input_zero_point))
            d = jb.sub(jb.mul(c32(n), xc), t)                                               # |d| < 2^25
            zq = jb.ashr(jb.add(jb.mul(jb.sext(d, I64), inv), rounding), sh)                # |zq| < 2^25
            g = jb.sext(load(jb, gamma, c, I32), I64)
            bq = jb.shl(jb.sext(load(jb, beta, c, I32), I64), c64(16))
            acc = jb.add(jb.mul(zq, g), bq)                                                 # |acc| < 2^48
            out = jb.add(jb.ashr(jb.add(acc, c64(1 << 31)), c64(32)), c64(op.output_zero_point))
            out = jb.select(jb.icmp_signed("<", out, c64(op.qmin)), c64(op.qmin), out)
            out = jb.select(jb.icmp_signed(">", out, c64(op.qmax)), c64(op.qmax), out)
            store(jb, jb.trunc(out, I8), y, jb.add(base, c), I8)
    jb.ret_void()
    parallel_for(k.mod, b, job, [k.ins[0], k.ins[1], k.ins[2], k.outs[0]], jobs)
