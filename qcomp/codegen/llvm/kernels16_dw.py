"""Depthwise QConv2D16, vectorized across channels (kernels16_dot.py has the requantize integers).

    acc[p, c] = sum over the taps t inside the input of x[taps[p, t] + c] * w[t, c]     (int32)
    y[p, c]   = clamp(((bias[c] + acc) * M[c] + R[c]) >> T[c]) + output_zero_point, qmin, qmax)   (int64)

`lanes` channels per block (x86: VPMULLD-class int32 products of sign-extended int16; AArch64: SMLAL /
SMLAL2), the C % lanes tail one channel at a time, jobs over output pixel ranges (the thread pool).
Bound: T <= 511 taps (emit_dot16 sends larger windows to the scalar loops), |x w| <= 2^22, so
|acc| <= 511 * 2^22 < 2^31: the int32 sum is exact, and the int64 bias is added after it.
"""
from __future__ import annotations

import numpy as np
from llvmlite import ir

from ...ir import Node
from .irgen import I16, I32, I64, c64, load_i64, loop, parallel_for, var
from .kernels16 import out_type
from .kernels16_dot import _requant_lanes, requant_tables, step16
from .kernels_depthwise import _pixel_jobs, _ptr


def emit_depthwise16(node: Node, k, taps) -> None:
    """Per output pixel and block of `lanes` channels (the C % lanes tail one channel at a time):
    int32 sum over the taps inside the input of sext(x) * sext(w) (T <= 511: exact), then + the
    int64 bias and the requantize in int64 lanes."""
    graph, op = k.graph, node.op
    st = step16(k.spec)
    lanes = st.lanes
    c = graph.types[node.inputs[0]].shape[-1]
    n_taps = taps.shape[1]
    w = graph.constants[node.inputs[1]]                       # [C, KH, KW, 1]
    w_g = k.mod.table(np.ascontiguousarray(w.reshape(c, n_taps).T.astype(np.int16)), "wdw16")
    tabs = [k.mod.table(np.asarray(graph.constants[node.inputs[2]], np.int64), "bias16")]
    tabs += [k.mod.table(np.asarray(t, np.int64), name) for t, name in
             zip(requant_tables(graph, node, op.acc_bits), ("m16", "t16", "r16"))]
    taps_g = k.mod.table(taps, "taps")
    ot = out_type(op)
    osize = ot.width // 8
    pixels = taps.shape[0]
    f, b, (x_ptr, out_ptr), p0, p1, n_jobs = _pixel_jobs(k, "dw16_job", pixels, pixels * n_taps * c)

    def block(p, c0, v: int):
        vi32, vi16, v64 = ir.VectorType(I32, v), ir.VectorType(I16, v), ir.VectorType(I64, v)
        acc = var(b, vi32, ir.Constant(vi32, [0] * v), "acc")
        with loop(b, n_taps, "t") as t:
            base = load_i64(b, taps_g, b.add(b.mul(p, c64(n_taps)), t), I32)
            with b.if_then(b.icmp_signed(">=", base, c64(0))):
                xv = b.load(_ptr(b, x_ptr, b.mul(b.add(base, c0), c64(2))), typ=vi16, align=2)
                wv = b.load(_ptr(b, w_g, b.mul(b.add(b.mul(t, c64(c)), c0), c64(2))), typ=vi16, align=2)
                b.store(b.add(b.load(acc, typ=vi32), b.mul(b.sext(xv, vi32), b.sext(wv, vi32))), acc)
        q = [b.load(_ptr(b, t, b.mul(c0, c64(8))), typ=v64, align=8) for t in tabs]
        acc64 = b.add(q[0], b.sext(b.load(acc, typ=vi32), v64))
        y = _requant_lanes(b, acc64, q[1], q[2], q[3], op)
        b.store(y, _ptr(b, out_ptr, b.mul(b.add(b.mul(p, c64(c)), c0), c64(osize))), align=1)

    with loop(b, b.sub(p1, p0), "p") as dp:
        p = b.add(p0, dp)
        if c // lanes:
            with loop(b, c // lanes, "cb") as cb:
                block(p, b.mul(cb, c64(lanes)), lanes)
        if c % lanes:
            with loop(b, c % lanes, "ct") as ct:
                block(p, b.add(ct, c64(c // lanes * lanes)), 1)
    b.ret_void()
    parallel_for(k.mod, k.b, f, [k.ins[0], k.outs[0]], n_jobs)
