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

Transcendentals call libm (expf, tanhf, erf, tanh and pow in float64 for Gelu), whose results
may differ from numpy's by an ulp; the Quantize that ends the region absorbs that (at most 1 LSB,
ARCHITECTURE.md section 3):

  Exp         expf(x)                            Tanh        tanhf(x)
  Sigmoid     e = expf(-|x|);  x >= 0 ? 1 / (1 + e) : e / (1 + e)
  Gelu        in float64, rounded once: "none": 0.5 x (1 + erf(x / sqrt 2));
              "tanh": 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))

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

import math

import numpy as np
from llvmlite import ir

from ... import abi
from ...errors import UnsupportedModelError
from ...ir import DType, ops
from ...ir.resize import original_coords
from . import tables
from .irgen import F32, F64, I32, I64, c64, load, load_i64, loop, store, var

_ZERO, _ONE = ir.Constant(F32, 0.0), ir.Constant(F32, 1.0)


def _f32(v: float) -> ir.Constant:
    return ir.Constant(F32, float(np.float32(v)))


def _shape(k, v):
    return k.graph.types[v].shape


def _prod(shape) -> int:
    return int(np.prod(shape, dtype=np.int64))


def _check_float(k) -> None:
    for v in list(k.node.inputs) + list(k.node.outputs):
        if k.graph.types[v].dtype is not DType.FLOAT32:
            raise UnsupportedModelError(f"node {k.node.name!r} ({k.node.kind}): the llvm backend runs this op on "
                                        f"float32 only, but {v!r} is {k.graph.types[v].dtype.value}")


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


def emit_unary(k) -> int:
    _check_float(k)
    f = _unary_body(k)
    with loop(k.b, _prod(_shape(k, k.node.inputs[0]))) as i:
        store(k.b, f(load(k.b, k.ins[0], i, F32)), k.outs[0], i, F32)
    return 0


def emit_batch_norm(k) -> int:
    _check_float(k)
    b, op = k.b, k.node.op
    params = [k.graph.constants.get(v) for v in k.node.inputs[1:]]
    if any(p is None for p in params):
        raise UnsupportedModelError(f"node {k.node.name!r} (BatchNorm): scale, bias, mean and var must be constants")
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
    return 0


# ---- pooling and reductions -----------------------------------------------------------------

def _pool(k, init, step, finish) -> int:
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
    return 0


def emit_maxpool(k) -> int:
    _check_float(k)
    b = k.b
    return _pool(k, ir.Constant(F32, float("-inf")), lambda acc, v: b.select(b.fcmp_ordered(">", v, acc), v, acc),
                 None)


def emit_avgpool(k) -> int:
    _check_float(k)
    b, op = k.b, k.node.op
    n, h, w, _ = _shape(k, k.node.inputs[0])
    _, oh, ow, _ = _shape(k, k.node.outputs[0])
    count = np.tile(tables.window_counts(op, h, w, oh, ow), n).astype(np.float32)
    count_g = k.mod.table(count, "count")
    return _pool(k, _ZERO, b.fadd, lambda acc, p: b.fdiv(acc, load(b, count_g, p, F32)))


def emit_reduce(k) -> int:
    """ReduceMean / ReduceMax in float32 over the reduced elements in C order."""
    _check_float(k)
    b, op = k.b, k.node.op
    shape = _shape(k, k.node.inputs[0])
    if not op.axes:
        from .irgen import memcpy
        memcpy(k.mod, b, k.outs[0], k.ins[0], _prod(shape) * 4)
        return 0
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
    return 0


# ---- products -------------------------------------------------------------------------------

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


def emit_dense(k) -> int:
    """Float Dense: the sum over k ascending, then the bias, then the clamp."""
    _check_float(k)
    n, kd = _shape(k, k.node.inputs[1])
    rows = _prod(_shape(k, k.node.inputs[0])[:-1])
    w, transposed = _operand(k, 1, lambda a: a.T)
    w_k, w_j = (n, 1) if transposed else (1, kd)
    bias, _ = _operand(k, 2, lambda a: a)
    with loop(k.b, rows, "r") as r:
        _row_products(k, k.ins[0], k.b.mul(r, c64(kd)), kd, w, w_k, w_j, n, k.outs[0], k.b.mul(r, c64(n)), bias,
                      k.node.op)
    return 0


def emit_matmul(k) -> int:
    _check_float(k)
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
    return 0


def emit_conv(k) -> int:
    """Float Conv2D (any group count): per output pixel and group, the group's outputs accumulate
    over the taps inside the input and their input channels."""
    _check_float(k)
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
    return 0


def emit_resize(k) -> int:
    """Resize: nearest is a gather map (kernels_elem.emit_movement, any dtype); linear runs here."""
    if k.node.op.mode != "linear":
        from .kernels_elem import emit_movement
        return emit_movement(k)
    return _resize_linear(k)


def _resize_linear(k) -> int:
    """Linear Resize of float32 values, one pass per resized axis (as the reference), through the
    scratch: for output index j of the axis, with c = clamp(x_orig(j), 0, L_in - 1) in float32,
    i0 = floor(c), i1 = min(i0 + 1, L_in - 1), f = c - i0:  y = x[i0] * (1 - f) + x[i1] * f."""
    _check_float(k)
    b, op = k.b, k.node.op
    shape = list(_shape(k, k.node.inputs[0]))
    passes = []
    for axis, (n_in, n_out, scale) in enumerate(zip(shape, op.sizes, op.scales)):
        if n_in == n_out and scale == 1.0:
            continue
        coords = original_coords(op.coordinate_transformation_mode, n_in, n_out, scale)
        if coords is None:
            raise UnsupportedModelError(f"node {k.node.name!r} (Resize): coordinate_transformation_mode "
                                        f"{op.coordinate_transformation_mode!r} is not supported")
        c = np.clip(coords, np.float32(0), np.float32(n_in - 1)).astype(np.float32)
        i0 = np.floor(c).astype(np.int64)
        f = (c - i0.astype(np.float32)).astype(np.float32)
        passes.append((axis, np.stack([i0, np.minimum(i0 + 1, n_in - 1)], 1).astype(np.int32),
                       np.stack([np.float32(1) - f, f], 1).astype(np.float32)))
    if not passes:
        from .irgen import memcpy
        memcpy(k.mod, b, k.outs[0], k.ins[0], _prod(shape) * 4)
        return 0
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
    return 2 * half


UNARY = (ops.Relu, ops.Clip, ops.LeakyRelu, ops.HardSigmoid, ops.HardSwish, ops.Sqrt, ops.Exp, ops.Tanh,
         ops.Sigmoid, ops.Gelu)
