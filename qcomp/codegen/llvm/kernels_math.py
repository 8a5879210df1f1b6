"""Kernels of the ONNX math ops (qcomp/ref/float_math.py is the reference they follow).

Unary, float32, in float64 where the reference is (libm; one rounding to float32 at the end):

  Elu         x >= 0 ? x : alpha * expm1(x)          Selu      gamma * (x > 0 ? x : alpha * expm1(x))
  Celu        max(x, 0) + min(0, alpha * expm1(x / alpha))
  Softplus    max(x, 0) + log1p(exp(-|x|))           Softsign  x / (1 + |x|)
  Mish        x * tanh(softplus(x))                  Log, Sin, Cos: log, sin, cos
and in float32, exact: Abs (fabs), Floor, Ceil, Round (rint: ties to even), Sign, ThresholdedRelu
(x > alpha ? x : 0), Shrink (x < -lambd ? x + bias : x > lambd ? x - bias : 0).
libm may differ from numpy by an ulp; a float region's Quantize absorbs that (ARCHITECTURE.md
section 3).

Binary, numpy broadcasting through index tables (tables.broadcast_map):
  Min / Max   float32 (a NaN operand gives NaN, as numpy.minimum) or any integer dtype, int8 values
              sharing quant params among them (the quantizer requantizes both operands to the
              output's params, qcomp/passes/quantize.py): bit-exact.
  Mod         float32: frem (C fmod); integers: fmod = 1 srem / urem, fmod = 0 the divisor's sign
              (r != 0 and sign(r) != sign(b): r + b); a zero divisor gives 0, as the reference.
"""
from __future__ import annotations

import numpy as np
from llvmlite import ir

from ...ir import DType, Node, ops
from . import tables
from .irgen import F32, F64, I32, I64, int_type, load, loop, store

_UNSIGNED = (DType.UINT8,)


def _f64(v: float) -> ir.Constant:
    return ir.Constant(F64, float(v))


def _f32(v: float) -> ir.Constant:
    return ir.Constant(F32, float(np.float32(v)))


def _unary_body(k):
    """y = f(x) of the node's op: float32 in, float32 out."""
    b, op, mod = k.b, k.node.op, k.mod

    def libm(name):
        return mod.intrinsic(name, F64, [F64])

    def llvm32(name):
        return mod.intrinsic(f"llvm.{name}.f32", F32, [F32])

    zero64, one64 = _f64(0.0), _f64(1.0)

    def max64(v, w):
        return b.select(b.fcmp_ordered(">", v, w), v, w)

    def min64(v, w):
        return b.select(b.fcmp_ordered("<", v, w), v, w)

    def softplus64(x):
        absx = b.call(mod.intrinsic("llvm.fabs.f64", F64, [F64]), [x])
        return b.fadd(max64(x, zero64), b.call(libm("log1p"), [b.call(libm("exp"), [b.fneg(absx)])]))

    def in64(f):
        return lambda x: b.fptrunc(f(b.fpext(x, F64)), F32)

    t = type(op)
    if t is ops.Elu:
        return lambda x: b.select(b.fcmp_ordered(">=", x, _f32(0.0)), x,
                                  in64(lambda v: b.fmul(_f64(op.alpha), b.call(libm("expm1"), [v])))(x))
    if t is ops.Selu:
        return in64(lambda v: b.fmul(_f64(op.gamma), b.select(
            b.fcmp_ordered(">", v, zero64), v, b.fmul(_f64(op.alpha), b.call(libm("expm1"), [v])))))
    if t is ops.Celu:
        return in64(lambda v: b.fadd(max64(v, zero64), min64(
            zero64, b.fmul(_f64(op.alpha), b.call(libm("expm1"), [b.fdiv(v, _f64(op.alpha))])))))
    if t is ops.Softplus:
        return in64(softplus64)
    if t is ops.Softsign:
        fabs = mod.intrinsic("llvm.fabs.f64", F64, [F64])
        return in64(lambda v: b.fdiv(v, b.fadd(one64, b.call(fabs, [v]))))
    if t is ops.Mish:
        return in64(lambda v: b.fmul(v, b.call(libm("tanh"), [softplus64(v)])))
    if t in (ops.Log, ops.Sin, ops.Cos):
        fn = libm(t.__name__.lower())
        return in64(lambda v: b.call(fn, [v]))
    if t in (ops.Abs, ops.Floor, ops.Ceil, ops.Round):
        fn = llvm32({ops.Abs: "fabs", ops.Floor: "floor", ops.Ceil: "ceil", ops.Round: "rint"}[t])
        return lambda x: b.call(fn, [x])
    if t is ops.Sign:
        zero = _f32(0.0)
        return lambda x: b.select(b.fcmp_ordered(">", x, zero), _f32(1.0),   # -0 -> +0, NaN -> NaN
                                  b.select(b.fcmp_ordered("<", x, zero), _f32(-1.0),
                                           b.select(b.fcmp_ordered("==", x, zero), zero, x)))
    if t is ops.ThresholdedRelu:
        return lambda x: b.select(b.fcmp_ordered(">", x, _f32(op.alpha)), x, _f32(0.0))
    if t is ops.Shrink:
        lambd, bias = _f32(op.lambd), _f32(op.bias)
        return lambda x: b.select(b.fcmp_ordered("<", x, b.fneg(lambd)), b.fadd(x, bias),
                                  b.select(b.fcmp_ordered(">", x, lambd), b.fsub(x, bias), _f32(0.0)))
    raise AssertionError(f"no math body for {op.kind}")


UNARY = (ops.Elu, ops.Selu, ops.Celu, ops.Softplus, ops.Softsign, ops.Mish, ops.Log, ops.Abs, ops.Floor, ops.Ceil,
         ops.Round, ops.Sign, ops.Sin, ops.Cos, ops.ThresholdedRelu, ops.Shrink)


def emit_unary(node: Node, k) -> None:
    f = _unary_body(k)
    n = int(np.prod(k.graph.types[node.inputs[0]].shape, dtype=np.int64))
    with loop(k.b, n) as i:
        store(k.b, f(load(k.b, k.ins[0], i, F32)), k.outs[0], i, F32)


def why_not_binary(node: Node, graph) -> str | None:
    """Float32 or integer operands (Mod: float32 or integers; Min/Max also int8 with shared params)."""
    dtype = graph.types[node.inputs[0]].dtype
    if dtype is DType.BOOL or (dtype.is_float and dtype is not DType.FLOAT32):
        return f"the llvm backend runs {node.kind} on float32 or integer operands, not {dtype.value}"
    return None


def _select_minmax(b, op, a, c, dtype: DType):
    if dtype is DType.FLOAT32:
        t = b.select(b.fcmp_ordered("<" if isinstance(op, ops.Min) else ">", a, c), a, c)  # NaN in a or c: c
        return b.select(b.fcmp_unordered("uno", a, a), a, t)                             # NaN in a: a
    cmp = b.icmp_unsigned if dtype in _UNSIGNED else b.icmp_signed
    return b.select(cmp("<" if isinstance(op, ops.Min) else ">", a, c), a, c)


def _mod(b, op, a, c, dtype: DType):
    if dtype is DType.FLOAT32:
        return b.frem(a, c)
    zero = ir.Constant(a.type, 0)
    is_zero = b.icmp_signed("==", c, zero)
    safe = b.select(is_zero, ir.Constant(a.type, 1), c)
    if dtype in _UNSIGNED:
        r = b.urem(a, safe)
    else:
        r = b.srem(a, safe)
        if not op.fmod:   # the divisor's sign: a non-zero remainder of the other sign moves by one divisor
            wrong = b.and_(b.icmp_signed("!=", r, zero),
                           b.icmp_signed("!=", b.icmp_signed("<", r, zero), b.icmp_signed("<", safe, zero)))
            r = b.select(wrong, b.add(r, safe), r)
    return b.select(is_zero, zero, r)


def emit_binary(node: Node, k) -> None:
    """Min, Max, Mod with numpy broadcasting over the output's elements in C order."""
    b, op = k.b, k.node.op
    out_shape = k.graph.types[node.outputs[0]].shape
    dtype = k.graph.types[node.inputs[0]].dtype
    et = F32 if dtype is DType.FLOAT32 else int_type(dtype.itemsize)
    maps = [tables.broadcast_map(k.graph.types[v].shape, out_shape) for v in node.inputs]
    tabs = [None if m is None else k.mod.table(m, "bcast") for m in maps]
    combine = _mod if isinstance(op, ops.Mod) else _select_minmax
    with loop(b, int(np.prod(out_shape, dtype=np.int64))) as i:
        vals = [load(b, ptr, i if tab is None else b.sext(load(b, tab, i, I32), I64), et)
                for ptr, tab in zip(k.ins, tabs)]
        store(b, combine(b, op, *vals, dtype), k.outs[0], i, et)
