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
The kernels live by op family: naive_rescale.py (the rescale), naive_gemm.py (convolutions and
products), naive_float.py (the float boundary, --quant dynamic), naive_select.py (comparison,
selection, index ops), naive_norm.py, naive16.py; this module holds the elementwise, pooling and
data-movement kernels, the KERNELS table and run.
"""
from __future__ import annotations

import itertools
from collections.abc import Mapping

import numpy as np

from qcomp.ir import Graph, Node, ops, qops, qops_fused, qops_rows

# the op families of naive_*.py (each written from the formulas, independent of qcomp.ref like this
# module); their kernels are registered in KERNELS below, and mbqm, requantize_int, _out_len stay
# importable from here (naive16.py, naive16_softmax.py, tests)
from .naive_float import (dequantize, dynamic_dense, dynamic_dense_add_norm, dynamic_dense_rows,  # noqa: F401
                          dynamic_matmul, dynamic_matmul_scale_add, quantize)
from .naive_gemm import _out_len, q_conv2d, q_conv_transpose2d, q_dense, q_matmul
from .naive_rescale import _int8, mbqm, requantize_array, requantize_int
from .naive_select import (arg_extreme, compare, gather, gather_elements, gather_nd, int_lut, logical, maximum,
                           minimum, reduce_min, scatter_elements, scatter_nd, top_k, where)

try:
    from fixedpoint import bigint_ref            # tests/ on sys.path (pytest)
except ImportError:                              # imported as tests.opcases.naive from the repository root
    from tests.fixedpoint import bigint_ref


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
KERNELS[qops_fused.DynamicDenseAddNorm] = dynamic_dense_add_norm
KERNELS[qops_rows.DynamicDenseRows] = dynamic_dense_rows
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
from qcomp.ir.qops_intlut import IntLut  # noqa: E402

KERNELS[IntLut] = int_lut

# ---- GatherElements, GatherND, ScatterElements, ScatterND (qcomp/ir/ops_index.py) ----
from qcomp.ir.ops_index import GatherElements, GatherND, ScatterElements, ScatterND  # noqa: E402

KERNELS.update({GatherElements: gather_elements, GatherND: gather_nd, ScatterElements: scatter_elements,
                ScatterND: scatter_nd})
KERNELS[qops_fused.DynamicMatMulScaleAdd] = dynamic_matmul_scale_add

# ---- DynamicDenseSplit: DynamicDense of one activation, merged (qcomp/ir/qops_split.py) ----
from qcomp.ir.qops_split import DynamicDenseSplit  # noqa: E402

from .naive_float import dynamic_dense_split  # noqa: E402

KERNELS[DynamicDenseSplit] = dynamic_dense_split
