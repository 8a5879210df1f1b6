"""Float32 products of the float-fallback regions (Dense, MatMul, Conv2D; the other float-fallback
ops: kernels_fallback.py).

Products (numpy's BLAS sums in its own blocked order, so these agree to float32 rounding, not
bit for bit):

  Dense       y[r, n] = (sum_k x[r, k] * w[n, k]) + b[n]   (k ascending; a constant w is transposed
              at build time so the inner loop runs over n and vectorizes without reassociation; a
              run-time w, the Dequantize of int8 weights under --quant weight, is read in place)
  MatMul      y[bt, m, n] = sum_k a[bt, m, k] * b[bt, k, n]   (batch broadcasting as numpy)
  Conv2D      y[p, o] = (sum over taps inside the input, over c < C/group, of x * w (any
              group count; padding contributes nothing, as zero padding) + b[o]
each followed by its fused clamp [act_min, act_max].
"""
from __future__ import annotations

import numpy as np

from ...ir import Node
from . import tables
from .irgen import F32, I32, c64, load, load_i64, loop, store
from .kernels_fallback import _ZERO, _clamp, _prod, _shape


def _operand(k, index: int, build_time):
    """(pointer, constant?) of input `index`: a constant goes through build_time(array) into a table
    (e.g. transposed for the inner loop); a run-time value (an int8 weight's Dequantize under
    --quant weight) is read where it is."""
    v = k.node.inputs[index]
    if v in k.graph.constants:
        return k.mod.table(np.ascontiguousarray(build_time(np.asarray(k.graph.constants[v], np.float32))), "f32"), True
    return k.ins[index], False


def _row_products(k, x, x_base, kd: int, w, w_k: int, w_j: int, n: int, y, y_base, bias, op) -> None:
    """y[y_base + j] = clamp(sum_kk x[x_base + kk] * w[kk * w_k + j * w_j] + bias[j]), j < n."""
    b = k.b
    with loop(b, n, "j0") as j:
        store(b, _ZERO, y, b.add(y_base, j), F32)
    with loop(b, kd, "kk") as kk:
        xv = load(b, x, b.add(x_base, kk), F32)
        with loop(b, n, "j") as j:
            dst = b.add(y_base, j)
            prod = b.fmul(xv, load(b, w, b.add(b.mul(kk, c64(w_k)), b.mul(j, c64(w_j))), F32))
            store(b, b.fadd(load(b, y, dst, F32), prod), y, dst, F32)
    if bias is not None or op.act_min is not None or op.act_max is not None:
        with loop(b, n, "j1") as j:
            dst = b.add(y_base, j)
            v = load(b, y, dst, F32)
            v = v if bias is None else b.fadd(v, load(b, bias, j, F32))
            store(b, _clamp(b, v, op.act_min, op.act_max), y, dst, F32)


def emit_dense(node: Node, k) -> None:
    """Float Dense: the sum over k ascending, then the bias, then the clamp."""
    n, kd = _shape(k, k.node.inputs[1])
    rows = _prod(_shape(k, k.node.inputs[0])[:-1])
    w, transposed = _operand(k, 1, lambda a: a.T)
    w_k, w_j = (n, 1) if transposed else (1, kd)
    bias, _ = _operand(k, 2, lambda a: a)
    with loop(k.b, rows, "r") as r:
        _row_products(k, k.ins[0], k.b.mul(r, c64(kd)), kd, w, w_k, w_j, n, k.outs[0], k.b.mul(r, c64(n)), bias,
                      k.node.op)


def emit_matmul(node: Node, k) -> None:
    b = k.b
    a_shape, b_shape = _shape(k, k.node.inputs[0]), _shape(k, k.node.inputs[1])
    m, kd, n = a_shape[-2], a_shape[-1], b_shape[-1]
    a_off, b_off = tables.matmul_batches(a_shape, b_shape, _shape(k, k.node.outputs[0]))
    a_g, b_g = k.mod.table(a_off, "aoff"), k.mod.table(b_off, "boff")
    with loop(b, a_off.size, "bt") as bt:
        a0, b0 = load_i64(b, a_g, bt, I32), load_i64(b, b_g, bt, I32)
        w = b.gep(k.ins[1], [b0], source_etype=F32)
        with loop(b, m, "mi") as mi:
            _row_products(k, k.ins[0], b.add(a0, b.mul(mi, c64(kd))), kd, w, n, 1, n, k.outs[0],
                          b.add(b.mul(bt, c64(m * n)), b.mul(mi, c64(n))), None, k.node.op)


def emit_conv(node: Node, k) -> None:
    """Float Conv2D (any group count): per output pixel and group, the group's outputs accumulate
    over the taps inside the input and their input channels."""
    b, op = k.b, k.node.op
    o, kh, kw, cg = _shape(k, k.node.inputs[1])
    g = op.group
    og = o // g
    x_shape = _shape(k, k.node.inputs[0])
    _, oh, ow, _ = _shape(k, k.node.outputs[0])
    taps = tables.window_taps(x_shape, (kh, kw), op.strides, op.pads, op.dilations, oh, ow)
    # a constant weight is laid out w_r[g, t, c, j] = w[g*Og + j, kh, kw, c] (the inner loop runs over a
    # group's outputs, unit stride); a run-time one is read in place, OHWI
    w_g, packed = _operand(k, 1, lambda a: a.reshape(g, og, kh * kw, cg).transpose(0, 2, 3, 1))
    bias_g, _ = _operand(k, 2, lambda a: a)
    taps_g = k.mod.table(taps, "taps")
    n_taps, c_in = kh * kw, x_shape[3]
    y = k.outs[0]
    with loop(b, taps.shape[0], "p") as p:
        with loop(b, o, "o0") as o0:
            store(b, _ZERO, y, b.add(b.mul(p, c64(o)), o0), F32)
        with loop(b, g, "g") as gi:
            with loop(b, n_taps, "t") as t:
                base = load_i64(b, taps_g, b.add(b.mul(p, c64(n_taps)), t), I32)
                with b.if_then(b.icmp_signed(">=", base, c64(0))):
                    with loop(b, cg, "c") as ci:
                        xv = load(b, k.ins[0], b.add(base, b.add(b.mul(gi, c64(cg)), ci)), F32)
                        if packed:
                            w_row = b.mul(b.add(b.mul(b.add(b.mul(gi, c64(n_taps)), t), c64(cg)), ci), c64(og))
                            w_j = 1
                        else:
                            w_row = b.add(b.mul(gi, c64(og * n_taps * cg)), b.add(b.mul(t, c64(cg)), ci))
                            w_j = n_taps * cg
                        y_row = b.add(b.mul(p, c64(o)), b.mul(gi, c64(og)))
                        with loop(b, og, "j") as j:
                            dst = b.add(y_row, j)
                            prod = b.fmul(xv, load(b, w_g, b.add(w_row, b.mul(j, c64(w_j))), F32))
                            store(b, b.fadd(load(b, y, dst, F32), prod), y, dst, F32)
        with loop(b, o, "o1") as o1:
            dst = b.add(b.mul(p, c64(o)), o1)
            v = b.fadd(load(b, y, dst, F32), load(b, bias_g, o1, F32))
            store(b, _clamp(b, v, op.act_min, op.act_max), y, dst, F32)
