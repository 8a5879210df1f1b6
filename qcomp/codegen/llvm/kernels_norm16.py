"""Integer LayerNorm on int16 activations (QLayerNorm16) in LLVM IR: qcomp/fixedpoint/layernorm16.py
transcribed line for line, with the same names, sharing the row helpers of kernels_norm.py
(qcomp_isqrt_u62, qcomp_row_inverse_std: one module-internal definition each).

    per row (rows of N contiguous int16, N = prod(shape[axis:]) <= 32768):
      total = sum x_c (i64, |.| <= 2^30), sumsq = sum x_c^2 (i64, <= 2^45),
      ss = N * sumsq - total^2 (< 2^60), inv, s = qcomp_row_inverse_std(ss + eps_q)
      per element: d = N x_c - total (i64, |d| < 2^31), zq = (d * inv + 2^(sh-1)) >> sh (sh = 39 - s),
      acc = zq * gamma_q[c] + beta_q[c] (i64 beta, |acc| < 2^62),
      out = clamp(((acc + 2^37) >> 38) + zp_out, qmin, qmax), stored as i16 or i8
Scalar i64 throughout (every target of the llvm backend has 64-bit multiplies); rows are split over
the thread pool's jobs, each writing its own rows, so the result is the same for every thread count.
"""
from __future__ import annotations

import math

from ...ir import DType, Node
from .irgen import I8, I16, I32, I64, c32, c64, job_function, load, loop, parallel_for, store, var
from .kernels_norm import ROWS_PER_JOB_MIN_ELEMENTS, _define_helpers

OUT_TYPES = {"i8": I8, "i16": I16}


def why_not_layer_norm16(node: Node, graph) -> str | None:
    """int16 input, constant int32 gamma_q and int64 beta_q."""
    if graph.types[node.inputs[0]].dtype is not DType.INT16:
        return f"operand {node.inputs[0]!r} is not int16"
    missing = [v for v in node.inputs[1:] if v not in graph.constants]
    return f"{', '.join(map(repr, missing))} must be constant" if missing else None


def emit_layer_norm16(node: Node, k) -> None:
    b, op = k.b, node.op
    _define_helpers(k.mod)
    out_t = OUT_TYPES[op.out_dtype]
    shape = k.graph.types[node.inputs[0]].shape
    n = math.prod(shape[op.axis:])
    rows = math.prod(shape) // n
    per_job = max(1, ROWS_PER_JOB_MIN_ELEMENTS // n)
    jobs = -(-rows // per_job)
    job, jb, (x, gamma, beta, y), index = job_function(k.mod, "layer_norm16_job", 4)
    first = jb.mul(index, c64(per_job))
    count = jb.select(jb.icmp_signed("<", jb.sub(c64(rows), first), c64(per_job)), jb.sub(c64(rows), first),
                      c64(per_job))
    total, sumsq, s_slot = var(jb, I64, c64(0), "total"), var(jb, I64, c64(0), "sumsq"), var(jb, I32, c32(0), "s")
    with loop(jb, count, "row") as rr:
        base = jb.mul(jb.add(first, rr), c64(n))
        jb.store(c64(0), total)
        jb.store(c64(0), sumsq)
        with loop(jb, n, "stat") as c:
            xc = jb.sext(load(jb, x, jb.add(base, c), I16), I64)
            jb.store(jb.add(jb.load(total, typ=I64), xc), total)                            # |total| <= 2^30
            jb.store(jb.add(jb.load(sumsq, typ=I64), jb.mul(xc, xc)), sumsq)                # <= 2^45
        t = jb.load(total, typ=I64)
        ss = jb.sub(jb.mul(c64(n), jb.load(sumsq, typ=I64)), jb.mul(t, t))                  # [0, 2^60)
        inv = jb.call(k.mod.helper("qcomp_row_inverse_std"), [jb.add(ss, c64(op.eps_q)), s_slot])
        sh = jb.sub(c64(39), jb.sext(jb.load(s_slot, typ=I32), I64))                        # [9, 39]
        rounding = jb.shl(c64(1), jb.sub(sh, c64(1)))
        with loop(jb, n, "elem") as c:
            xc = jb.sext(load(jb, x, jb.add(base, c), I16), I64)
            d = jb.sub(jb.mul(c64(n), xc), t)                                               # |d| < 2^31
            zq = jb.ashr(jb.add(jb.mul(d, inv), rounding), sh)                              # |zq| < 2^30
            g = jb.sext(load(jb, gamma, c, I32), I64)
            acc = jb.add(jb.mul(zq, g), load(jb, beta, c, I64))                             # |acc| < 2^62
            out = jb.add(jb.ashr(jb.add(acc, c64(1 << 37)), c64(38)), c64(op.output_zero_point))
            out = jb.select(jb.icmp_signed("<", out, c64(op.qmin)), c64(op.qmin), out)
            out = jb.select(jb.icmp_signed(">", out, c64(op.qmax)), c64(op.qmax), out)
            store(jb, jb.trunc(out, out_t), y, jb.add(base, c), out_t)
    jb.ret_void()
    parallel_for(k.mod, b, job, [k.ins[0], k.ins[1], k.ins[2], k.outs[0]], jobs)

