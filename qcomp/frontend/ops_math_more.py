"""The ONNX math ops beyond ops_math.py: activations with attributes, rounding, trigonometry, Log,
n-ary Min / Max, and Mod (opsets 11 to 21; every attribute, with the ONNX defaults).

Unary ops pass their input's layout through (ops_math._unary). Min and Max:
    Max(x)                  = x
    Max(x, c1, ..., ck)     = Clip(min = max(c_i)) for one run-time float input and scalar constants
                              (Min: Clip(max = min(c_i))), which quantizes as a lookup table
    Max(a, b, c, ...)       = Max(Max(a, b), c) ...: a chain of binary IR Max with ONNX broadcasting, the
                              run-time inputs first and the constants folded into one last operand
                              (max is commutative and associative; a NaN anywhere still gives NaN)
Mod: fmod = 1 is C fmod on any dtype; fmod = 0 (the divisor's sign) is defined for integers only, as
ONNX says (onnxruntime rejects it on floats too).
"""
from __future__ import annotations

import numpy as np
import onnx

from ..ir import ops as irops
from .context import Attrs, Const, Context, Unsupported, Val, Value
from .ops_math import _clip, _unary, binary


def max_min(ctx: Context, node: onnx.NodeProto) -> list[Value]:
    ins = ctx.inputs(node)
    is_max = node.op_type == "Max"
    vals = [v for v in ins if isinstance(v, Val)]
    consts = [v for v in ins if isinstance(v, Const)]
    if len(ins) == 1:
        return [ins[0]]
    if len(vals) == 1 and ctx.dtype(vals[0]).is_float and all(
            c.array.size == 1 and c.array.ndim <= ctx.rank(vals[0]) for c in consts):
        cs = [float(c.array.reshape(-1)[0]) for c in consts]
        return _clip(ctx, vals[0], max(cs), None) if is_max else _clip(ctx, vals[0], None, min(cs))
    op = irops.Max() if is_max else irops.Min()
    if consts:   # the constants first combined into one (numpy broadcasting, as ONNX's)
        fold = np.maximum if is_max else np.minimum
        c = consts[0].array
        for other in consts[1:]:
            c = fold(c, other.array)
        vals = vals + [Const(np.asarray(c), consts[0].name if len(consts) == 1 else f"{ctx.node_name}/constants")]
    acc: Value = vals[0]
    for k, v in enumerate(vals[1:], start=1):
        last = k == len(vals) - 1
        acc = binary(ctx, op, acc, v, ctx.out_name() if last else None, None if last else f"{op.kind.lower()}{k}")
    return [acc]


def mod(ctx: Context, node: onnx.NodeProto) -> list[Value]:
    a, b = ctx.inputs(node)
    fmod = Attrs(node).int("fmod", 0)
    if fmod not in (0, 1):
        raise Unsupported(f"fmod={fmod}: ONNX defines 0 and 1")
    dtype = ctx.dtype(a if isinstance(a, Val) else b)
    if fmod == 0 and dtype.is_float:
        raise Unsupported(f"fmod=0 on {dtype.value} operands: ONNX defines it for integers only; set fmod=1")
    return [binary(ctx, irops.Mod(fmod), a, b, ctx.out_name())]


def _shrink(a: Attrs) -> irops.Shrink:
    return irops.Shrink(a.float("bias", 0.0), a.float("lambd", 0.5))


def _celu(a: Attrs) -> irops.Celu:
    alpha = a.float("alpha", 1.0)
    if alpha == 0.0:
        raise Unsupported("Celu alpha=0: the formula divides by alpha")
    return irops.Celu(alpha)


CONVERTERS = {
    "Elu": _unary(lambda a: irops.Elu(a.float("alpha", 1.0))),
    "Selu": _unary(lambda a: irops.Selu(a.float("alpha", irops.Selu.alpha), a.float("gamma", irops.Selu.gamma))),
    "Celu": _unary(_celu),
    "Softplus": _unary(lambda a: irops.Softplus()),
    "Softsign": _unary(lambda a: irops.Softsign()),
    "Mish": _unary(lambda a: irops.Mish()),
    "Log": _unary(lambda a: irops.Log()),
    "Abs": _unary(lambda a: irops.Abs()),
    "Floor": _unary(lambda a: irops.Floor()),
    "Ceil": _unary(lambda a: irops.Ceil()),
    "Round": _unary(lambda a: irops.Round()),
    "Sign": _unary(lambda a: irops.Sign()),
    "Sin": _unary(lambda a: irops.Sin()),
    "Cos": _unary(lambda a: irops.Cos()),
    "ThresholdedRelu": _unary(lambda a: irops.ThresholdedRelu(a.float("alpha", 1.0))),
    "Shrink": _unary(_shrink),
    "Max": max_min, "Min": max_min, "Mod": mod,
}

__all__ = ["CONVERTERS"]
