"""A straightforward evaluation of TARGET-stage graphs, written from the formulas, independent of qcomp.

It reads graphs through qcomp.ir only; it never imports qcomp.ref or qcomp.fixedpoint (a test
checks this), so an error in the reference interpreter or in the fixed-point module cannot hide
here. Every integer is a Python int or an int64 array; convolutions loop over output positions,
padding is written out with the input zero point, and the one rescale is, with total = 31 - shift,

    requantize(acc) = clamp(((acc * multiplier + (1 << (total - 1))) >> total) + zero_point, qmin, qmax)

computed on Python ints (arbitrary precision: nothing can wrap). Add/Sub (TFLite, left shift 20):

    a' = mbqm((a - zp_a) << left_shift, a_multiplier, a_shift)      (b' alike)
    out = requantize(a' +- b', out_multiplier, out_shift, out_zero_point, qmin, qmax)

Average pooling and mean: requantize(window_sum - count * zp_in) with the multiplier of `count`.
Quantize: clamp(rint(float32(x) / float32(scale)) + zp) (ties to even); Dequantize:
float32(q - zp) * float32(scale). Softmax: tests/fixedpoint/bigint_ref.py (no qcomp import).
Slow by design: for the small shapes of the op-case table.
"""
from __future__ import annotations

import itertools
from collections.abc import Mapping

import numpy as np

from qcomp.ir import Graph, Node, ops, qops, qops_fused, qops_rows

try:
    from fixedpoint import bigint_ref            # tests/ on sys.path (pytest)
except ImportError:                              # imported as tests.opcases.naive from the repository root
    from tests.fixedpoint import bigint_ref


# ---- the rescale, on Python ints -----------------------------------------------------------

def mbqm(acc: int, multiplier: int, shift: int) -> int:
    """round_half_up(acc * multiplier / 2^(31 - shift)) on Python ints."""
    total = 31 - shift
    return (acc * multiplier + (1 << (total - 1))) >> total


def requantize_int(acc: int, multiplier: int, shift: int, zero_point: int, qmin: int, qmax: int) -> int:
    return min(max(mbqm(acc, multiplier, shift) + zero_point, qmin), qmax)


def _int8(values, shape) -> np.ndarray:
    return np.array(values, dtype=np.int64).reshape(shape).astype(np.int8)


def requantize_array(acc: np.ndarray, multiplier, shift, zero_point: int, qmin: int, qmax: int) -> np.ndarray:
    """Elementwise requantize_int; per-channel multiplier/shift (sequences) index the last axis."""
    acc = np.asarray(acc, dtype=np.int64)
    channels = acc.shape[-1] if acc.ndim else 1
    ms = [int(m) for m in np.broadcast_to(np.asarray(multiplier), (channels,))]
    ss = [int(s) for s in np.broadcast_to(np.asarray(shift), (channels,))]
    out = [requantize_int(int(a), ms[i % channels], ss[i % channels], zero_point, qmin, qmax)
           for i, a in enumerate(acc.reshape(-1).tolist())]
    return _int8(out, acc.shape)


# ---- convolution and products --------------------------------------------------------------

def _out_len(size: int, k: int, stride: int, dilation: int, pad_begin: int, pad_end: int,
             ceil_mode: bool = False) -> int:
    eff = dilation * (k - 1) + 1
    span = size + pad_begin + pad_end - eff
    n = (-(-span // stride) if ceil_mode else span // stride) + 1
    if ceil_mode and (n - 1) * stride >= size + pad_begin:
        n -= 1
    return n


def q_conv2d(g: Graph, node: Node, x, w, bias, multiplier, shift):
    op: qops.QConv2D = node.op
    n, h, wd, c = x.shape
    o, kh, kw, cg = w.shape
    og = o // op.group
    (sh, sw), (dh, dw), (pt, pl, pb, pr) = op.strides, op.dilations, op.pads
    # explicit padding with the input zero point (real 0)
    xp = np.full((n, h + pt + pb, wd + pl + pr, c), op.input_zero_point, dtype=np.int64)
    xp[:, pt:pt + h, pl:pl + wd, :] = x
    oh, ow = _out_len(h, kh, sh, dh, pt, pb), _out_len(wd, kw, sw, dw, pl, pr)
    w64 = w.astype(np.int64)
    acc = np.zeros((n, oh, ow, o), dtype=np.int64)
    for ni, yi, xi, oi in itertools.product(range(n), range(oh), range(ow), range(o)):
        grp = oi // og
        total = int(bias[oi])
        for ki, kj in itertools.product(range(kh), range(kw)):
            pixel = xp[ni, yi * sh + ki * dh, xi * sw + kj * dw, grp * cg:(grp + 1) * cg]
            total += int(np.dot(pixel, w64[oi, ki, kj, :]))
        acc[ni, yi, xi, oi] = total
    return requantize_array(acc, multiplier, shift, op.output_zero_point, op.qmin, op.qmax)


def q_conv_transpose2d(g: Graph, node: Node, x, w, bias, multiplier, shift):
    """Scatter: every input pixel adds (x - zp_in) * w at h*s - pad + k*d."""
    op: qops.QConvTranspose2D = node.op
    n, h, wd, c = x.shape
    o, kh, kw, cg = w.shape
    og = o // op.group
    (sh, sw), (dh, dw), (pt, pl, pb, pr) = op.strides, op.dilations, op.pads
    oh = (h - 1) * sh - pt - pb + dh * (kh - 1) + 1 + op.output_padding[0]
    ow = (wd - 1) * sw - pl - pr + dw * (kw - 1) + 1 + op.output_padding[1]
    xc = x.astype(np.int64) - op.input_zero_point
    w64 = w.astype(np.int64)
    acc = np.zeros((n, oh, ow, o), dtype=np.int64) + bias.astype(np.int64)
    for ni, yi, xi, oi in itertools.product(range(n), range(h), range(wd), range(o)):
        grp = oi // og
        for ki, kj in itertools.product(range(kh), range(kw)):
            ty, tx = yi * sh - pt + ki * dh, xi * sw - pl + kj * dw
            if 0 <= ty < oh and 0 <= tx < ow:
                acc[ni, ty, tx, oi] += int(np.dot(xc[ni, yi, xi, grp * cg:(grp + 1) * cg], w64[oi, ki, kj, :]))
    return requantize_array(acc, multiplier, shift, op.output_zero_point, op.qmin, op.qmax)


def q_dense(g: Graph, node: Node, x, w, bias, multiplier, shift):
    op: qops.QDense = node.op
    acc = x.astype(np.int64) @ w.astype(np.int64).T + bias.astype(np.int64)
    return requantize_array(acc, multiplier, shift, op.output_zero_point, op.qmin, op.qmax)


def q_matmul(g: Graph, node: Node, a, b):
    op: qops.QMatMul = node.op
    acc = np.matmul(a.astype(np.int64) - op.a_zero_point, b.astype(np.int64) - op.b_zero_point)
    return requantize_array(acc, op.multiplier, op.shift, op.output_zero_point, op.qmin, op.qmax)


# ---- elementwise ----------------------------------------------------------------------------

def _add_or_sub(op: qops.QAdd, a, b, sign: int) -> np.ndarray:
    a, b = np.broadcast_arrays(a.astype(np.int64), b.astype(np.int64))
    out = []
    for va, vb in zip(a.reshape(-1).tolist(), b.reshape(-1).tolist()):
        sa = mbqm((va - op.a_zero_point) << op.left_shift, op.a_multiplier, op.a_shift)
        sb = mbqm((vb - op.b_zero_point) << op.left_shift, op.b_multiplier, op.b_shift)
        out.append(requantize_int(sa + sign * sb, op.out_multiplier, op.out_shift, op.out_zero_point,
                                  op.qmin, op.qmax))
    return _int8(out, a.shape)


def q_add(g: Graph, node: Node, a, b):
    return _add_or_sub(node.op, a, b, +1)


def q_conv2d_add(g: Graph, node: Node, x, w, bias, multiplier, shift, r):
    """The QConv2D's int8 output c, then add_int8(c, r) with the QAdd's parameters (c is operand a)."""
    op: qops.QConv2DAdd = node.op
    c = q_conv2d(g, Node(node.name, op.conv(), node.inputs[:5], node.outputs), x, w, bias, multiplier, shift)
    return _add_or_sub(qops.QAdd(**op.add_attrs()), c, r, +1)


def q_sub(g: Graph, node: Node, a, b):
    return _add_or_sub(node.op, a, b, -1)


def q_mul(g: Graph, node: Node, a, b):
    op: qops.QMul = node.op
    a, b = np.broadcast_arrays(a.astype(np.int64), b.astype(np.int64))
    out = [requantize_int((va - op.a_zero_point) * (vb - op.b_zero_point), op.multiplier, op.shift,
                          op.out_zero_point, op.qmin, op.qmax)
           for va, vb in zip(a.reshape(-1).tolist(), b.reshape(-1).tolist())]
    return _int8(out, a.shape)


def lut(g: Graph, node: Node, x, table):
    return np.array([table[v + 128] for v in x.reshape(-1).tolist()], dtype=np.int8).reshape(x.shape)


def q_requantize(g: Graph, node: Node, x):
    op: qops.QRequantize = node.op
    return requantize_array(x.astype(np.int64) - op.input_zero_point, op.multiplier, op.shift,
                            op.output_zero_point, op.qmin, op.qmax)


def q_softmax(g: Graph, node: Node, x):
    """Each row along the axis through bigint_ref.softmax_row (gemmlowp's fixed point on Python ints
    and Fractions, written from the formulas independently of qcomp)."""
    op: qops.QSoftmax = node.op
    rows = np.moveaxis(x.astype(np.int64), op.axis, -1)
    out = [bigint_ref.softmax_row(r, op.input_multiplier, op.input_left_shift, op.diff_min)
           for r in rows.reshape(-1, rows.shape[-1]).tolist()]
    return np.moveaxis(np.array(out, np.int64).reshape(rows.shape), -1, op.axis).astype(np.int8)


# ---- pooling and reductions -----------------------------------------------------------------

def _windows(op, h: int, w: int):
    """(oh, ow, taps) where taps(yi, xi) yields (row, col, inside, counted) for every window tap.
    inside: within the input; counted: inside the explicitly padded area (ceil_mode overhang is not)."""
    (sh, sw), (dh, dw), (pt, pl, pb, pr) = op.strides, op.dilations, op.pads
    oh = _out_len(h, op.kernel[0], sh, dh, pt, pb, op.ceil_mode)
    ow = _out_len(w, op.kernel[1], sw, dw, pl, pr, op.ceil_mode)

    def taps(yi: int, xi: int):
        for ki, kj in itertools.product(range(op.kernel[0]), range(op.kernel[1])):
            r, c = yi * sh - pt + ki * dh, xi * sw - pl + kj * dw
            inside = 0 <= r < h and 0 <= c < w
            counted = -pt <= r < h + pb and -pl <= c < w + pr
            yield r, c, inside, counted
    return oh, ow, taps


def max_pool2d(g: Graph, node: Node, x):
    n, h, w, c = x.shape
    oh, ow, taps = _windows(node.op, h, w)
    y = np.zeros((n, oh, ow, c), dtype=x.dtype)
    for ni, yi, xi, ci in itertools.product(range(n), range(oh), range(ow), range(c)):
        y[ni, yi, xi, ci] = max(int(x[ni, r, col, ci]) for r, col, inside, _ in taps(yi, xi) if inside)
    return y


def q_avg_pool2d(g: Graph, node: Node, x):
    op: qops.QAvgPool2D = node.op
    n, h, w, c = x.shape
    oh, ow, taps = _windows(op, h, w)
    out = []
    for ni, yi, xi, ci in itertools.product(range(n), range(oh), range(ow), range(c)):
        window_sum, count = 0, 0
        for r, col, inside, counted in taps(yi, xi):
            if inside:
                window_sum, count = window_sum + int(x[ni, r, col, ci]), count + 1
            elif counted and op.count_include_pad:
                window_sum, count = window_sum + op.in_zero_point, count + 1   # a pad holds real 0
        assert count > 0, "the op-case table has no all-padding windows"
        out.append(requantize_int(window_sum - count * op.in_zero_point, op.multipliers[count - 1],
                                  op.shifts[count - 1], op.out_zero_point, op.qmin, op.qmax))
    return _int8(out, (n, oh, ow, c))


def q_mean(g: Graph, node: Node, x):
    op: qops.QMean = node.op
    count = int(np.prod([x.shape[a] for a in op.axes]))
    assert count == op.count, f"QMean count {op.count} but axes {op.axes} of {x.shape} hold {count}"
    sums = x.astype(np.int64).sum(axis=op.axes, keepdims=op.keepdims)
    out = [requantize_int(s - count * op.in_zero_point, op.multiplier, op.shift, op.out_zero_point,
                          op.qmin, op.qmax) for s in sums.reshape(-1).tolist()]
    return _int8(out, sums.shape)


def reduce_max(g: Graph, node: Node, x):
    return np.max(x, axis=node.op.axes, keepdims=node.op.keepdims) if node.op.axes else x


# ---- data movement --------------------------------------------------------------------------

def concat(g: Graph, node: Node, *xs):
    return np.concatenate(xs, axis=node.op.axis)


def reshape(g: Graph, node: Node, x):
    return x.reshape(node.op.shape)


def transpose(g: Graph, node: Node, x):
    return np.transpose(x, node.op.perm).copy()


def pad(g: Graph, node: Node, x):
    op: ops.Pad = node.op
    r = x.ndim
    widths = [(op.pads[i], op.pads[i + r]) for i in range(r)]
    if op.mode == "constant":
        return np.pad(x, widths, constant_values=int(op.value))
    return np.pad(x, widths, mode=op.mode)


def slice_(g: Graph, node: Node, x):
    op: ops.Slice = node.op
    return x[tuple(slice(s, e, st) for s, e, st in zip(op.starts, op.ends, op.steps))].copy()


def split(g: Graph, node: Node, x):
    op: ops.Split = node.op
    out, start = [], 0
    for size in op.sizes:
        index = [slice(None)] * x.ndim
        index[op.axis] = slice(start, start + size)
        out.append(x[tuple(index)].copy())
        start += size
    return out


# ---- the float boundary ---------------------------------------------------------------------

def _per_axis(v: np.ndarray, quant_axis, rank: int) -> np.ndarray:
    if quant_axis is None:
        return v[0]
    shape = [1] * rank
    shape[quant_axis] = -1
    return v.reshape(shape)


def quantize(g: Graph, node: Node, x):
    q = g.types[node.outputs[0]].quant
    scale, zp = np.float32(q.scale[0]), int(q.zero_point[0])
    x = x.astype(np.float32)
    r = np.zeros(x.shape) if scale == 0 else np.rint(x / scale).astype(np.float64)   # float32 divide
    dtype = g.types[node.outputs[0]].dtype          # int8, or int16 (A16W8 values)
    return np.clip(r + zp, *dtype.qrange).astype(dtype.np)


def dequantize(g: Graph, node: Node, x):
    q, rank = g.types[node.inputs[0]].quant, x.ndim
    scale = _per_axis(q.scale.astype(np.float32), q.axis, rank)
    zp = _per_axis(q.zero_point.astype(np.int64), q.axis, rank)
    return ((x.astype(np.int64) - zp).astype(np.float32) * scale).astype(np.float32)


# ---- --quant dynamic ------------------------------------------------------------------------

def _dynamic(x: np.ndarray) -> tuple[np.ndarray, np.float32]:
    """Per-run params (min/max widened to 0, zero point shifted to int8), then x - zp as int64."""
    lo = np.float32(min(float(x.min()), 0.0))
    hi = np.float32(max(float(x.max()), 0.0))
    scale = np.float32(np.float32(hi - lo) / np.float32(255))
    if scale == 0:
        return np.zeros(x.shape, np.int64), np.float32(0)
    zp = int(np.clip(np.rint(np.float32(-128) - np.float32(lo / scale)), -128, 127))
    q = np.clip(np.rint(x.astype(np.float32) / scale).astype(np.float64) + zp, -128, 127).astype(np.int64)
    return q - zp, scale


def _float_clamp(y: np.ndarray, op) -> np.ndarray:
    if op.act_min is not None:
        y = np.maximum(y, np.float32(op.act_min))
    if op.act_max is not None:
        y = np.minimum(y, np.float32(op.act_max))
    return y.astype(np.float32)


def dynamic_dense(g: Graph, node: Node, x, w, b, w_scale):
    xc, s_x = _dynamic(x)
    acc = xc @ w.astype(np.int64).T
    y = acc.astype(np.float32) * (s_x * w_scale.astype(np.float32)) + b.astype(np.float32)
    return _float_clamp(y, node.op)


def dynamic_matmul(g: Graph, node: Node, a, b):
    (ac, s_a), (bc, s_b) = _dynamic(a), _dynamic(b)
    acc = np.matmul(ac, bc)
    return _float_clamp(acc.astype(np.float32) * np.float32(s_a * s_b), node.op)


def minimum(g: Graph, node: Node, a, b):
    """Min of int8 values that share the output's quant params: the smaller integer."""
    return np.minimum(a, b)


def maximum(g: Graph, node: Node, a, b):
    return np.maximum(a, b)


def compare(g: Graph, node: Node, a, b):
    """Compare of int8 codes sharing quant params (or a code against a threshold code): the integers."""
    fn = {"eq": np.equal, "gt": np.greater, "ge": np.greater_equal, "lt": np.less, "le": np.less_equal}
    return fn[node.op.mode](a.astype(np.int64), b.astype(np.int64))


def logical(g: Graph, node: Node, a, b=None):
    """Not, And, Or, Xor on bools."""
    if isinstance(node.op, ops.Not):
        return ~a.astype(bool)
    return {"and": np.logical_and, "or": np.logical_or, "xor": np.logical_xor}[node.op.mode](a, b)


def where(g: Graph, node: Node, cond, a, b):
    return np.where(cond, a, b)


def arg_extreme(g: Graph, node: Node, x):
    """The index of the first (select_last_index: last) largest (ArgMax) or smallest code along the axis."""
    op = node.op
    moved = np.moveaxis(x.astype(np.int64), op.axis, -1)
    out = np.zeros(moved.shape[:-1], np.int64)
    for pos in itertools.product(*(range(d) for d in moved.shape[:-1])):
        row = moved[pos].tolist()
        best = max(row) if isinstance(op, ops.ArgMax) else min(row)
        hits = [i for i, v in enumerate(row) if v == best]
        out[pos] = hits[-1] if op.select_last_index else hits[0]
    return np.expand_dims(out, op.axis) if op.keepdims else out


def reduce_min(g: Graph, node: Node, x):
    return np.min(x, axis=node.op.axes, keepdims=node.op.keepdims) if node.op.axes else x
def gather(g: Graph, node: Node, x, idx):
    """y[outer, i..., inner] = x[outer, idx[i...] (+ d if negative), inner] along the op's axis."""
    axis = node.op.axis
    d = x.shape[axis]
    flat = [int(i) + d if i < 0 else int(i) for i in idx.reshape(-1)]
    moved = np.moveaxis(x, axis, 0)
    picked = np.stack([moved[i] for i in flat])                 # (len(flat), other axes...)
    out = np.moveaxis(picked, 0, axis)
    return out.reshape(x.shape[:axis] + idx.shape + x.shape[axis + 1:]).copy()


KERNELS = {
    qops.QConv2D: q_conv2d, qops.QConvTranspose2D: q_conv_transpose2d, qops.QDense: q_dense,
    qops.QMatMul: q_matmul, qops.QAdd: q_add, qops.QSub: q_sub, qops.QMul: q_mul, qops.Lut: lut,
    qops.QRequantize: q_requantize, qops.QSoftmax: q_softmax, qops.QAvgPool2D: q_avg_pool2d, qops.QMean: q_mean,
    qops.DynamicDense: dynamic_dense, qops.DynamicMatMul: dynamic_matmul, qops.QConv2DAdd: q_conv2d_add,
    ops.MaxPool2D: max_pool2d, ops.ReduceMax: reduce_max, ops.Concat: concat, ops.Reshape: reshape,
    ops.Transpose: transpose, ops.Pad: pad, ops.Slice: slice_, ops.Split: split,
    ops.Quantize: quantize, ops.Dequantize: dequantize, ops.Min: minimum, ops.Max: maximum,
}
KERNELS.update({ops.Compare: compare, ops.Where: where, ops.ArgMax: arg_extreme, ops.ArgMin: arg_extreme,
                ops.ReduceMin: reduce_min, ops.Not: logical, ops.Logical: logical})
KERNELS[ops.Gather] = gather


def dynamic_dense_add_norm(g: Graph, node: Node, x, w, b, w_scale, bias, r, gamma, beta):
    """qops_fused.DynamicDenseAddNorm from its docstring: DynamicDense, two float32 additions, then
    LayerNorm over the last axis in float64 (mean, centred squares' mean, one division by the square
    root), rounded to float32 once."""
    h = (bias.astype(np.float32) + dynamic_dense(g, node, x, w, b, w_scale)).astype(np.float32)
    s = (h + r.astype(np.float32)).astype(np.float64)
    centred = s - s.mean(axis=-1, keepdims=True)
    var = (centred * centred).mean(axis=-1, keepdims=True)
    y = centred / np.sqrt(var + node.op.epsilon) * gamma.astype(np.float64) + beta.astype(np.float64)
    return y.astype(np.float32)


KERNELS[qops_fused.DynamicDenseAddNorm] = dynamic_dense_add_norm


def dynamic_dense_rows(g: Graph, node: Node, x, w, b, w_scale):
    """qops_rows.DynamicDenseRows from its docstring: _dynamic's parameters of each row alone."""
    rows = x.reshape(-1, x.shape[-1])
    parts = [_dynamic(row) for row in rows]
    xc = np.stack([c for c, _ in parts])
    s = np.asarray([s for _, s in parts], np.float32)[:, None]
    acc = xc @ w.astype(np.int64).T
    y = acc.astype(np.float32) * (s * w_scale.astype(np.float32)[None, :]) + b.astype(np.float32)
    return _float_clamp(y, node.op).reshape(*x.shape[:-1], w.shape[0])


KERNELS[qops_rows.DynamicDenseRows] = dynamic_dense_rows


def top_k(g: Graph, node: Node, x):
    """Each row along the axis sorted by value (descending if largest, else ascending), equal values by
    position; the first k of them and their positions."""
    op = node.op
    moved = np.moveaxis(x, op.axis, -1)
    values, indices = np.empty(moved.shape[:-1] + (op.k,), x.dtype), np.empty(moved.shape[:-1] + (op.k,), np.int64)
    for pos in np.ndindex(moved.shape[:-1]):
        row = [(int(v), i) for i, v in enumerate(moved[pos])]
        ranked = sorted(row, key=lambda p: ((-p[0] if op.largest else p[0]), p[1]))[:op.k]
        values[pos] = [v for v, _ in ranked]
        indices[pos] = [i for _, i in ranked]
    return [np.moveaxis(values, -1, op.axis).copy(), np.moveaxis(indices, -1, op.axis).copy()]


KERNELS[ops.TopK] = top_k

# ---- integer normalizations (naive_norm.py) ----
from .naive_norm import q_layer_norm  # noqa: E402

KERNELS[qops.QLayerNorm] = q_layer_norm


def run(g: Graph, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Evaluate a TARGET-stage graph node by node; outputs keyed by graph output name."""
    env = {**g.constants, **{k: np.asarray(v) for k, v in feeds.items()}}
    for node in g.nodes:
        kernel = KERNELS.get(type(node.op))
        if kernel is None:
            raise NotImplementedError(f"naive.py has no kernel for {node.kind} (node {node.name!r}); "
                                      f"write one from the op's docstring before adding such a case")
        result = kernel(g, node, *[env[i] for i in node.inputs])
        results = result if isinstance(result, list) else [result]
        for name, value in zip(node.outputs, results):
            env[name] = value
    return {o: env[o] for o in g.outputs}

# A16W8 (int16 activations): naive16.py
from .naive16 import KERNELS16  # noqa: E402

KERNELS.update(KERNELS16)

# ---- IntLut: an integer tensor to int8 through a table (qcomp/ir/qops_intlut.py) ----


def int_lut(g: Graph, node: Node, x, table):
    """y = table[clamp(x, low, low + n - 1) - low], element by element."""
    low, n = node.op.low, len(table)
    out = [table[min(max(int(v), low), low + n - 1) - low] for v in x.reshape(-1)]
    return np.array(out, dtype=np.int8).reshape(x.shape)


from qcomp.ir.qops_intlut import IntLut  # noqa: E402

KERNELS[IntLut] = int_lut

# ---- GatherElements, GatherND, ScatterElements, ScatterND (qcomp/ir/ops_index.py) ----


def _wrap(v, d: int) -> int:
    v = int(v)
    assert -d <= v < d, f"index {v} outside axis of size {d}"
    return v + d if v < 0 else v


def gather_elements(g: Graph, node: Node, x, idx):
    out = np.empty(idx.shape, x.dtype)
    for c in np.ndindex(idx.shape):
        src = list(c)
        src[node.op.axis] = _wrap(idx[c], x.shape[node.op.axis])
        out[c] = x[tuple(src)]
    return out


def gather_nd(g: Graph, node: Node, x, idx):
    b, k = node.op.batch_dims, idx.shape[-1]
    out = np.empty(idx.shape[:-1] + x.shape[b + k:], x.dtype)
    for c in np.ndindex(idx.shape[:-1]):
        at = tuple(c[:b]) + tuple(_wrap(v, x.shape[b + j]) for j, v in enumerate(idx[c]))
        out[c] = x[at]
    return out


def _combine(reduction: str, old, new):
    return {"none": new, "max": max(int(old), int(new)), "min": min(int(old), int(new))}[reduction]


def scatter_elements(g: Graph, node: Node, x, idx, updates):
    y = x.copy()
    for c in np.ndindex(idx.shape):
        dst = list(c)
        dst[node.op.axis] = _wrap(idx[c], x.shape[node.op.axis])
        y[tuple(dst)] = _combine(node.op.reduction, y[tuple(dst)], updates[c])
    return y


def scatter_nd(g: Graph, node: Node, x, idx, updates):
    y, k = x.copy(), idx.shape[-1]
    for c in np.ndindex(idx.shape[:-1]):
        at = tuple(_wrap(v, x.shape[j]) for j, v in enumerate(idx[c]))
        for inner in np.ndindex(x.shape[k:]):
            y[at + inner] = _combine(node.op.reduction, y[at + inner], updates[c + inner])
    return y


from qcomp.ir.ops_index import GatherElements, GatherND, ScatterElements, ScatterND  # noqa: E402

KERNELS.update({GatherElements: gather_elements, GatherND: gather_nd, ScatterElements: scatter_elements,
                ScatterND: scatter_nd})


def dynamic_matmul_scale_add(g: Graph, node: Node, a, b, m):
    """qops_fused.DynamicMatMulScaleAdd from its docstring: DynamicMatMul, a float32 product by the
    scale, then a float32 addition of m broadcast over the leading axes."""
    d = dynamic_matmul(g, node, a, b).astype(np.float32)
    s = (d * np.float32(node.op.scale)).astype(np.float32)
    return (s + m.astype(np.float32)).astype(np.float32)


KERNELS[qops_fused.DynamicMatMulScaleAdd] = dynamic_matmul_scale_add
