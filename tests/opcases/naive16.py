"""Naive evaluation of the A16W8 ops (qcomp/ir/qops16.py), written from their docstrings on Python ints.

Independent of qcomp.ref and qcomp.fixedpoint, like naive.py. The two requantize formulas:

    acc_bits 32:  clamp(((acc * m + 2^(30 - shift)) >> (31 - shift)) + zp, qmin, qmax)
    acc_bits 64:  r = min((m + 2^15) >> 16, 2^15 - 1);  t = 15 - shift
                  clamp(((acc * r + 2^(t - 1)) >> t) + zp, qmin, qmax)
int16 Add/Sub: a' = mbqm(a << 15, a_m, a_s), b' alike; out = requantize(a' +- b', out_m, out_s, 0).
Mul: requantize(a * b). The 513-entry table: index 256 + (x >> 7), offset x & 127,
out = t[i] + ((t[i + 1] - t[i]) * offset + 64 >> 7). Pooling and mean: requantize(window_sum).
"""
from __future__ import annotations

import itertools

import numpy as np

from qcomp.ir import Graph, Node, qops16

from .naive import _out_len, _windows, mbqm

_DT = {"i8": np.int8, "i16": np.int16}


def _rq(acc: int, m: int, s: int, acc_bits: int, zp: int, qmin: int, qmax: int) -> int:
    if acc_bits == 32:
        assert -(1 << 31) <= acc < (1 << 31), "an acc_bits 32 accumulator out of int32"
        v = mbqm(acc, m, s)
    else:
        assert abs(acc) < (1 << 47), "an acc_bits 64 accumulator beyond 2^47"
        r, t = min((m + (1 << 15)) >> 16, (1 << 15) - 1), 15 - s
        v = (acc * r + (1 << (t - 1))) >> t
    return min(max(v + zp, qmin), qmax)


def _requantize(op, acc: np.ndarray, multiplier, shift) -> np.ndarray:
    channels = acc.shape[-1] if acc.ndim else 1
    ms = [int(v) for v in np.broadcast_to(np.asarray(multiplier), (channels,))]
    ss = [int(v) for v in np.broadcast_to(np.asarray(shift), (channels,))]
    out = [_rq(int(a), ms[i % channels], ss[i % channels], op.acc_bits, op.output_zero_point, op.qmin, op.qmax)
           for i, a in enumerate(acc.reshape(-1).tolist())]
    return np.array(out, np.int64).reshape(acc.shape).astype(_DT[op.out_dtype])


def q_conv2d16(g: Graph, node: Node, x, w, bias, multiplier, shift):
    op: qops16.QConv2D16 = node.op
    n, h, wd, c = x.shape
    o, kh, kw, cg = w.shape
    og = o // op.group
    (sh, sw), (dh, dw), (pt, pl, pb, pr) = op.strides, op.dilations, op.pads
    xp = np.zeros((n, h + pt + pb, wd + pl + pr, c), dtype=np.int64)     # padding holds 0 (real 0)
    xp[:, pt:pt + h, pl:pl + wd, :] = x
    oh, ow = _out_len(h, kh, sh, dh, pt, pb), _out_len(wd, kw, sw, dw, pl, pr)
    w64 = w.astype(np.int64)
    acc = np.zeros((n, oh, ow, o), dtype=np.int64)
    for ni, yi, xi, oi in itertools.product(range(n), range(oh), range(ow), range(o)):
        grp = oi // og
        total = int(bias[oi])
        for ki, kj in itertools.product(range(kh), range(kw)):
            pixel = xp[ni, yi * sh + ki * dh, xi * sw + kj * dw, grp * cg:(grp + 1) * cg]
            total += sum(int(p) * int(q) for p, q in zip(pixel.tolist(), w64[oi, ki, kj, :].tolist()))
        acc[ni, yi, xi, oi] = total
    return _requantize(op, acc, multiplier, shift)


def q_dense16(g: Graph, node: Node, x, w, bias, multiplier, shift):
    acc = x.astype(np.int64) @ w.astype(np.int64).T + bias.astype(np.int64)
    return _requantize(node.op, acc, multiplier, shift)


def q_matmul16(g: Graph, node: Node, a, b):
    acc = np.matmul(a.astype(np.int64), b.astype(np.int64))
    return _requantize(node.op, acc, node.op.multiplier, node.op.shift)


def _binary(a, b, fn, dtype):
    a, b = np.broadcast_arrays(a.astype(np.int64), b.astype(np.int64))
    out = [fn(int(va), int(vb)) for va, vb in zip(a.reshape(-1).tolist(), b.reshape(-1).tolist())]
    return np.array(out, np.int64).reshape(a.shape).astype(dtype)


def _add_or_sub(op, a, b, sign: int):
    def one(va: int, vb: int) -> int:
        s = mbqm(va << 15, op.a_multiplier, op.a_shift) + sign * mbqm(vb << 15, op.b_multiplier, op.b_shift)
        return _rq(s, op.out_multiplier, op.out_shift, 32, 0, op.qmin, op.qmax)
    return _binary(a, b, one, np.int16)


def q_add16(g: Graph, node: Node, a, b):
    return _add_or_sub(node.op, a, b, +1)


def q_sub16(g: Graph, node: Node, a, b):
    return _add_or_sub(node.op, a, b, -1)


def q_mul16(g: Graph, node: Node, a, b):
    op = node.op
    return _binary(a, b, lambda va, vb: _rq(va * vb, op.multiplier, op.shift, 32, 0, op.qmin, op.qmax), np.int16)


def q_convert(g: Graph, node: Node, x):
    op = node.op
    out = [_rq(v - op.input_zero_point, op.multiplier, op.shift, 32, op.output_zero_point, op.qmin, op.qmax)
           for v in x.astype(np.int64).reshape(-1).tolist()]
    return np.array(out, np.int64).reshape(x.shape).astype(_DT[op.out_dtype])


def lut16(g: Graph, node: Node, x, table):
    t = [int(v) for v in table.tolist()]

    def one(v: int) -> int:
        i, off = 256 + (v >> 7), v & 127
        return t[i] + (((t[i + 1] - t[i]) * off + 64) >> 7)
    out = [one(v) for v in x.astype(np.int64).reshape(-1).tolist()]
    return np.array(out, np.int64).reshape(x.shape).astype(_DT[node.op.out_dtype])


def q_avg_pool2d16(g: Graph, node: Node, x):
    op = node.op
    n, h, w, c = x.shape
    oh, ow, taps = _windows(op, h, w)
    out = []
    for ni, yi, xi, ci in itertools.product(range(n), range(oh), range(ow), range(c)):
        window_sum, count = 0, 0
        for r, col, inside, counted in taps(yi, xi):
            if inside:
                window_sum, count = window_sum + int(x[ni, r, col, ci]), count + 1
            elif counted and op.count_include_pad:
                count += 1                                     # a counted pad holds 0
        assert count > 0, "the op-case table has no all-padding windows"
        out.append(_rq(window_sum, op.multipliers[count - 1], op.shifts[count - 1], 32, 0, op.qmin, op.qmax))
    return np.array(out, np.int64).reshape(n, oh, ow, c).astype(np.int16)


def q_mean16(g: Graph, node: Node, x):
    op = node.op
    count = int(np.prod([x.shape[a] for a in op.axes]))
    assert count == op.count, f"QMean16 count {op.count} but axes {op.axes} of {x.shape} hold {count}"
    sums = x.astype(np.int64).sum(axis=op.axes, keepdims=op.keepdims)
    out = [_rq(s, op.multiplier, op.shift, 32, 0, op.qmin, op.qmax) for s in sums.reshape(-1).tolist()]
    return np.array(out, np.int64).reshape(sums.shape).astype(np.int16)


KERNELS16 = {
    qops16.QConv2D16: q_conv2d16, qops16.QDense16: q_dense16, qops16.QMatMul16: q_matmul16,
    qops16.QAdd16: q_add16, qops16.QSub16: q_sub16, qops16.QMul16: q_mul16, qops16.QConvert: q_convert,
    qops16.Lut16: lut16, qops16.QAvgPool2D16: q_avg_pool2d16, qops16.QMean16: q_mean16,
}

# ---- integer LayerNorm on int16 (naive_norm16.py) ----
from .naive_norm16 import q_layer_norm16  # noqa: E402
from qcomp.ir.qops_norm16 import QLayerNorm16  # noqa: E402

KERNELS16[QLayerNorm16] = q_layer_norm16
# int16 Softmax: naive16_softmax.py
from .naive16_softmax import q_softmax16  # noqa: E402

KERNELS16[qops16.QSoftmax16] = q_softmax16
