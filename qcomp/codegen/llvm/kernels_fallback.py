"""Float32 kernels of the remaining float-fallback ops: the ops a TARGET graph keeps in float when
no integer kernel applies or the user keeps a node in float (`--skip`, `--quant weight`).

Each kernel follows the float reference (qcomp/ref/float_*.py) operation by operation, in float32
and without fused multiply-adds, so where the reference's order of operations is fixed the result
is the same float32 value:

  Relu        x < 0 ? 0 : x                      Clip        min(max(x, lo), hi) (bounds as float32)
  LeakyRelu   x >= 0 ? x : x * alpha             HardSigmoid min(max(x * alpha + beta, 0), 1)
  HardSwish   x * min(max(x * (1/6) + 0.5, 0), 1)
  Resize      linear, float32: per resized axis y = x[i0] * (1 - f) + x[i1] * f (tables of i0, i1,
              1 - f, f from the reference's float32 coordinates); nearest is a gather (kernels_elem)
  Sqrt        llvm.sqrt (IEEE, exact)            BatchNorm   x * a[c] + k[c]; a, k folded in float64
                                                             at build time and rounded once (as the
                                                             reference folds them)
  MaxPool2D   max over the taps inside the input (padding never wins; an all-padding window: -inf)
  AvgPool2D   acc = 0; acc += x for each tap inside the input in (kh, kw) order; y = acc / count
  ReduceMean  sequential float32 sum in C order of the reduced elements, / float32(count): numpy's
              order when the last axis is kept (numpy adds whole rows, e.g. a global average pool
              over H, W of NHWC); numpy sums a reduced last axis pairwise, which differs in the
              last bits beyond 8 elements

Dense, MatMul and Conv2D: kernels_products.py.

Transcendentals call libm (expf, tanhf, erf, tanh and pow in float64 for Gelu), whose results
may differ from numpy's by an ulp; the Quantize that ends the region absorbs that (at most 1 LSB,
ARCHITECTURE.md section 3):

  Exp         expf(x)                            Tanh        tanhf(x)
  Sigmoid     e = expf(-|x|);  x >= 0 ? 1 / (1 + e) : e / (1 + e)
  Gelu        in float64, rounded once: "none": 0.5 x (1 + erf(x / sqrt 2));
              "tanh": 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
"""
from __future__ import annotations

import math

import numpy as np
from llvmlite import ir

from ... import abi
from ...errors import UnsupportedModelError
from ...ir import DType, Node, ops
from ...ir.resize import nearest_source_index, original_coords
from . import tables
from .irgen import F32, F64, I32, c64, load, load_i64, loop, store, var

_ZERO, _ONE = ir.Constant(F32, 0.0), ir.Constant(F32, 1.0)


def _f32(v: float) -> ir.Constant:
    return ir.Constant(F32, float(np.float32(v)))


def _shape(k, v):
    return k.graph.types[v].shape


def _prod(shape) -> int:
    return int(np.prod(shape, dtype=np.int64))


def why_not_float(node, graph) -> str | None:
    """Float32 operands and results only."""
    for v in list(node.inputs) + list(node.outputs):
        if graph.types[v].dtype is not DType.FLOAT32:
            return f"the llvm backend runs {node.kind} on float32 only, but {v!r} is {graph.types[v].dtype.value}"
    return None


def why_not_batch_norm(node, graph) -> str | None:
    """Float32, constant scale, bias, mean and var."""
    if any(v not in graph.constants for v in node.inputs[1:]):
        return "BatchNorm's scale, bias, mean and var must be constants"
    return why_not_float(node, graph)


def why_not_resize(node, graph) -> str | None:
    """Nearest (any dtype) or linear (float32), the modes of qcomp/ir/resize.py."""
    op, shape = node.op, graph.types[node.inputs[0]].shape
    if op.mode == "linear":
        axes = [(n, m, s) for n, m, s in zip(shape, op.sizes, op.scales) if not (n == m and s == 1.0)]
        if any(original_coords(op.coordinate_transformation_mode, *a) is None for a in axes):
            return f"coordinate_transformation_mode {op.coordinate_transformation_mode!r} is not supported"
        return why_not_float(node, graph)
    if op.mode != "nearest":
        return (f"{op.mode} Resize: the llvm backend has nearest (any dtype) and linear (float32) Resize; "
                f"keep the model's Resize nearest or linear")
    if any(nearest_source_index(op.coordinate_transformation_mode, op.nearest_mode, n, m, s) is None
           for n, m, s in zip(shape, op.sizes, op.scales)):
        return (f"Resize coordinate_transformation_mode {op.coordinate_transformation_mode!r} / nearest_mode "
                f"{op.nearest_mode!r} is not supported")
    return None


def _max(b, y, lo):
    """numpy.maximum for non-NaN bounds: NaN in y stays NaN."""
    return b.select(b.fcmp_ordered("<", y, lo), lo, y)


def _min(b, y, hi):
    return b.select(b.fcmp_ordered(">", y, hi), hi, y)


def _clamp(b, y, lo, hi):
    if lo is not None:
        y = _max(b, y, _f32(lo))
    if hi is not None:
        y = _min(b, y, _f32(hi))
    return y


# ---- elementwise ----------------------------------------------------------------------------

def _unary_body(k):
    """The per-element function y = f(x) of the node's unary op, as IR."""
    b, op, mod = k.b, k.node.op, k.mod
    if isinstance(op, ops.Relu):
        return lambda x: b.select(b.fcmp_ordered("<", x, _ZERO), _ZERO, x)
    if isinstance(op, ops.Clip):
        return lambda x: _clamp(b, x, op.min, op.max)
    if isinstance(op, ops.LeakyRelu):
        return lambda x: b.select(b.fcmp_ordered(">=", x, _ZERO), x, b.fmul(x, _f32(op.alpha)))
    if isinstance(op, ops.HardSigmoid):
        return lambda x: _clamp(b, b.fadd(b.fmul(x, _f32(op.alpha)), _f32(op.beta)), 0.0, 1.0)
    if isinstance(op, ops.HardSwish):
        return lambda x: b.fmul(x, _clamp(b, b.fadd(b.fmul(x, _f32(1.0 / 6.0)), _f32(0.5)), 0.0, 1.0))
    if isinstance(op, ops.Sqrt):
        sqrt = mod.intrinsic("llvm.sqrt.f32", F32, [F32])
        return lambda x: b.call(sqrt, [x])
    if isinstance(op, ops.Exp):
        expf = mod.intrinsic("expf", F32, [F32])
        return lambda x: b.call(expf, [x])
    if isinstance(op, ops.Tanh):
        tanhf = mod.intrinsic("tanhf", F32, [F32])
        return lambda x: b.call(tanhf, [x])
    if isinstance(op, ops.Sigmoid):
        expf, fabs = mod.intrinsic("expf", F32, [F32]), mod.intrinsic("llvm.fabs.f32", F32, [F32])

        def sigmoid(x):
            e = b.call(expf, [b.fneg(b.call(fabs, [x]))])
            den = b.fadd(_ONE, e)
            return b.select(b.fcmp_ordered(">=", x, _ZERO), b.fdiv(_ONE, den), b.fdiv(e, den))
        return sigmoid
    if isinstance(op, ops.Gelu):
        return _gelu(k)
    raise AssertionError(f"no unary body for {op.kind}")


def _gelu(k):
    b, op, mod = k.b, k.node.op, k.mod
    half, one = ir.Constant(F64, 0.5), ir.Constant(F64, 1.0)
    if op.approximate == "none":
        erf = mod.intrinsic("erf", F64, [F64])

        def gelu(x):
            x64 = b.fpext(x, F64)
            inner = b.call(erf, [b.fdiv(x64, ir.Constant(F64, math.sqrt(2.0)))])
            return b.fptrunc(b.fmul(b.fmul(half, x64), b.fadd(one, inner)), F32)
        return gelu
    if op.approximate == "tanh":
        tanh, pow_ = mod.intrinsic("tanh", F64, [F64]), mod.intrinsic("pow", F64, [F64, F64])

        def gelu_tanh(x):
            x64 = b.fpext(x, F64)
            cube = b.call(pow_, [x64, ir.Constant(F64, 3.0)])
            arg = b.fmul(ir.Constant(F64, math.sqrt(2.0 / math.pi)),
                         b.fadd(x64, b.fmul(ir.Constant(F64, 0.044715), cube)))
            return b.fptrunc(b.fmul(b.fmul(half, x64), b.fadd(one, b.call(tanh, [arg]))), F32)
        return gelu_tanh
    raise UnsupportedModelError(f"node {k.node.name!r} (Gelu): approximate={op.approximate!r} is not "
                                f"supported (none, tanh)")


def emit_unary(node: Node, k) -> None:
    f = _unary_body(k)
    with loop(k.b, _prod(_shape(k, k.node.inputs[0]))) as i:
        store(k.b, f(load(k.b, k.ins[0], i, F32)), k.outs[0], i, F32)


def emit_batch_norm(node: Node, k) -> None:
    b, op = k.b, k.node.op
    params = [k.graph.constants[v] for v in k.node.inputs[1:]]
    scale, bias, mean, var_ = (np.asarray(p, np.float64) for p in params)
    a = scale / np.sqrt(var_ + op.epsilon)
    c = bias - mean * a
    a_g, c_g = k.mod.table(a.astype(np.float32), "bn_a"), k.mod.table(c.astype(np.float32), "bn_c")
    shape = _shape(k, k.node.inputs[0])
    ch = shape[-1]
    with loop(b, _prod(shape[:-1]), "p") as p:
        with loop(b, ch, "c") as c_i:
            i = b.add(b.mul(p, c64(ch)), c_i)
            y = b.fadd(b.fmul(load(b, k.ins[0], i, F32), load(b, a_g, c_i, F32)), load(b, c_g, c_i, F32))
            store(b, y, k.outs[0], i, F32)


# ---- pooling and reductions -----------------------------------------------------------------

def _pool(k, init, step, finish) -> None:
    """Window loop: out[p, c] = finish(fold(step, init, taps inside the input), p)."""
    b, op = k.b, k.node.op
    x_shape = _shape(k, k.node.inputs[0])
    _, oh, ow, _ = _shape(k, k.node.outputs[0])
    taps = tables.window_taps(x_shape, op.kernel, op.strides, op.pads, op.dilations, oh, ow)
    c = x_shape[3]
    taps_g = k.mod.table(taps, "taps")
    n_taps = taps.shape[1]
    with loop(b, taps.shape[0], "p") as p:
        with loop(b, c, "c0") as c0:
            store(b, init, k.outs[0], b.add(b.mul(p, c64(c)), c0), F32)
        with loop(b, n_taps, "t") as t:
            base = load_i64(b, taps_g, b.add(b.mul(p, c64(n_taps)), t), I32)
            with b.if_then(b.icmp_signed(">=", base, c64(0))):
                with loop(b, c, "c") as ch:
                    dst = b.add(b.mul(p, c64(c)), ch)
                    store(b, step(load(b, k.outs[0], dst, F32), load(b, k.ins[0], b.add(base, ch), F32)),
                          k.outs[0], dst, F32)
        if finish is not None:
            with loop(b, c, "c1") as c1:
                dst = b.add(b.mul(p, c64(c)), c1)
                store(b, finish(load(b, k.outs[0], dst, F32), p), k.outs[0], dst, F32)


def emit_maxpool(node: Node, k) -> None:
    b = k.b
    return _pool(k, ir.Constant(F32, float("-inf")), lambda acc, v: b.select(b.fcmp_ordered(">", v, acc), v, acc),
                 None)


def emit_avgpool(node: Node, k) -> None:
    b, op = k.b, k.node.op
    n, h, w, _ = _shape(k, k.node.inputs[0])
    _, oh, ow, _ = _shape(k, k.node.outputs[0])
    count = np.tile(tables.window_counts(op, h, w, oh, ow), n).astype(np.float32)
    count_g = k.mod.table(count, "count")
    return _pool(k, _ZERO, b.fadd, lambda acc, p: b.fdiv(acc, load(b, count_g, p, F32)))


def emit_reduce(node: Node, k) -> None:
    """ReduceMean / ReduceMax in float32 over the reduced elements in C order."""
    b, op = k.b, k.node.op
    shape = _shape(k, k.node.inputs[0])
    if not op.axes:
        from .irgen import memcpy
        memcpy(k.mod, b, k.outs[0], k.ins[0], _prod(shape) * 4)
        return
    idx, r = tables.reduce_map(shape, op.axes)
    idx_g = k.mod.table(idx, "reduce")
    mean = isinstance(op, ops.ReduceMean)
    with loop(b, idx.size // r, "o") as o:
        first = load(b, k.ins[0], load_i64(b, idx_g, b.mul(o, c64(r)), I32), F32)
        acc = var(b, F32, first, "acc")
        with loop(b, r - 1, "r") as ri:
            v = load(b, k.ins[0], load_i64(b, idx_g, b.add(b.mul(o, c64(r)), b.add(ri, c64(1))), I32), F32)
            cur = b.load(acc, typ=F32)
            b.store(b.fadd(cur, v) if mean else b.select(b.fcmp_ordered(">", v, cur), v, cur), acc)
        y = b.load(acc, typ=F32)
        store(b, b.fdiv(y, _f32(r)) if mean else y, k.outs[0], o, F32)


def emit_resize(node: Node, k) -> None:
    """Resize: nearest is a gather map (kernels_elem.emit_movement, any dtype); linear runs here."""
    if k.node.op.mode != "linear":
        from .kernels_elem import emit_movement
        return emit_movement(node, k)
    return _resize_linear(k)


def _resize_linear(k) -> None:
    """Linear Resize of float32 values, one pass per resized axis (as the reference), through the
    scratch: for output index j of the axis, with c = clamp(x_orig(j), 0, L_in - 1) in float32,
    i0 = floor(c), i1 = min(i0 + 1, L_in - 1), f = c - i0:  y = x[i0] * (1 - f) + x[i1] * f."""
    b, op = k.b, k.node.op
    shape = list(_shape(k, k.node.inputs[0]))
    passes = []
    for axis, (n_in, n_out, scale) in enumerate(zip(shape, op.sizes, op.scales)):
        if n_in == n_out and scale == 1.0:
            continue
        coords = original_coords(op.coordinate_transformation_mode, n_in, n_out, scale)
        c = np.clip(coords, np.float32(0), np.float32(n_in - 1)).astype(np.float32)
        i0 = np.floor(c).astype(np.int64)
        f = (c - i0.astype(np.float32)).astype(np.float32)
        passes.append((axis, np.stack([i0, np.minimum(i0 + 1, n_in - 1)], 1).astype(np.int32),
                       np.stack([np.float32(1) - f, f], 1).astype(np.float32)))
    if not passes:
        from .irgen import memcpy
        memcpy(k.mod, b, k.outs[0], k.ins[0], _prod(shape) * 4)
        return
    sizes, cur = [], list(shape)
    for axis, _, _ in passes:
        cur[axis] = op.sizes[axis]
        sizes.append(_prod(cur))
    half = abi.align(max(sizes[:-1], default=0) * 4)
    src = k.ins[0]
    for n, (axis, idx, w) in enumerate(passes):
        last = n == len(passes) - 1
        dst = k.outs[0] if last else b.gep(k.scratch, [c64((n % 2) * half)], source_etype=ir.IntType(8))
        pre, n_in, n_out, post = _prod(shape[:axis]), shape[axis], op.sizes[axis], _prod(shape[axis + 1:])
        idx_g, w_g = k.mod.table(idx, "rs_idx"), k.mod.table(w, "rs_w")
        with loop(b, pre, "pre") as p:
            with loop(b, n_out, "j") as j:
                j0, j1 = b.mul(j, c64(2)), b.add(b.mul(j, c64(2)), c64(1))
                i0, i1 = load_i64(b, idx_g, j0, I32), load_i64(b, idx_g, j1, I32)
                w0, w1 = load(b, w_g, j0, F32), load(b, w_g, j1, F32)
                base0 = b.mul(b.add(b.mul(p, c64(n_in)), i0), c64(post))
                base1 = b.mul(b.add(b.mul(p, c64(n_in)), i1), c64(post))
                out = b.mul(b.add(b.mul(p, c64(n_out)), j), c64(post))
                with loop(b, post, "q") as q:
                    y = b.fadd(b.fmul(load(b, src, b.add(base0, q), F32), w0),
                               b.fmul(load(b, src, b.add(base1, q), F32), w1))
                    store(b, y, dst, b.add(out, q), F32)
        shape[axis] = n_out
        src = dst
    k.reserve(2 * half)


UNARY = (ops.Relu, ops.Clip, ops.LeakyRelu, ops.HardSigmoid, ops.HardSwish, ops.Sqrt, ops.Exp, ops.Tanh,
         ops.Sigmoid, ops.Gelu)
