"""Float kernels of the float-fallback regions (between a Dequantize and a Quantize) and the
boundary ops of token models. These regions may differ from the reference by at most 1 LSB at
the Quantize that ends them (ARCHITECTURE.md section 3); everything else stays bit-exact.

  Cast       integer -> float32 (sitofp, exact below 2^24) or a same-type copy
  LayerNorm  over axes [axis, rank), in float64 as the reference:
               mu = sum(x) / n;  var = sum((x - mu)^2) / n;  y = (x - mu) / sqrt(var + eps) * scale + bias
  Softmax    along one axis, float32: m = max(x);  e = expf(x - m) (<= 1, no overflow);  y = e / sum(e)
  Gather     data[..., indices, ...] with indices computed at run time (int32/int64), negative ones
             counting from the end; an index outside [-d, d) makes qcomp_run return
             QCOMP_ERR_BAD_INPUT (never a read out of bounds).
  Add / Sub / Mul / Div / Pow / PRelu (float32, numpy broadcasting; Add's fused clamp; Pow is libm
             powf; PRelu is x >= 0 ? x : x * slope), Erf (libm erf in float64, rounded to float32,
             as the reference computes it in float64)
  DynamicDense / DynamicMatMul (--quant dynamic; bit-exact, every step one float32 operation as
             fixedpoint.dynamic_quant_params and qcomp/ir/qops.py say; their GEMM forms are in
             kernels_dynamic_dense.py and kernels_qmatmul.py, here DynamicMatMul's scalar loop for
             graphs past the int32 accumulator bound and the scalar per-run quantize):
               lo = min(min(x), 0), hi = max(max(x), 0);  scale = (hi - lo) / 255
               zero_point = clamp(rint(-128 - lo / scale), -128, 127)   (scale == 0: 0 and 0)
               q = quantize(x, scale, zero_point);  acc = sum (q - zp) * w   (int32)
               Dense:  y = float32(acc) * (s_x * w_scale[n]) + b[n];  MatMul: y = float32(acc) * (s_a * s_b)
               then the fused clamp [act_min, act_max]. No fused multiply-add (no contraction flags).
"""
from __future__ import annotations

import numpy as np
from llvmlite import ir

from ... import abi
from ...errors import UnsupportedModelError
from ...ir import DType, Node, ops
from .irgen import F32, F64, I8, I32, I64, c32, c64, int_type, load, loop, memcpy, store, var

BAD_INPUT = abi.STATUS_OF["QCOMP_ERR_BAD_INPUT"]


def _shape(k, v):
    return k.graph.types[v].shape


def _prod(shape) -> int:
    return int(np.prod(shape, dtype=np.int64))


def emit_cast(node: Node, k) -> None:
    b = k.b
    src, dst = k.graph.types[k.node.inputs[0]], k.graph.types[k.node.outputs[0]]
    n = _prod(src.shape)
    if src.dtype is dst.dtype:
        memcpy(k.mod, b, k.outs[0], k.ins[0], src.nbytes)
    elif dst.dtype is DType.FLOAT32 and not src.dtype.is_float:
        et = int_type(src.dtype.itemsize)
        with loop(b, n) as i:
            v = load(b, k.ins[0], i, et)
            f = b.uitofp(v, F32) if src.dtype in (DType.UINT8, DType.BOOL) else b.sitofp(v, F32)
            store(b, f, k.outs[0], i, F32)


def why_not_cast(node, graph) -> str | None:
    """Integer or bool -> float32, or a same-type copy."""
    src, dst = graph.types[node.inputs[0]].dtype, graph.types[node.outputs[0]].dtype
    if src is dst or (dst is DType.FLOAT32 and not src.is_float):
        return None
    return f"Cast {src.value} -> {dst.value}: the llvm backend casts integers and bools to f32 only"


def why_not_float_input(node, graph) -> str | None:
    """Float32 input only."""
    if graph.types[node.inputs[0]].dtype is not DType.FLOAT32:
        return f"the llvm backend runs {node.kind} on float32 input only"
    return None


def why_not_layer_norm(node, graph) -> str | None:
    """Float32 input; scale and bias of the normalized axes' size."""
    shape = graph.types[node.inputs[0]].shape
    n = _prod(shape[node.op.axis % len(shape):])
    for v in node.inputs[1:]:
        if _prod(graph.types[v].shape) != n:
            return f"LayerNorm scale/bias {v!r} must have the {n} elements of the normalized axes"
    return why_not_float_input(node, graph)


def why_not_gather(node, graph) -> str | None:
    """Constant indices (a gather map), or run-time int32/int64 indices."""
    if node.inputs[1] not in graph.constants and graph.types[node.inputs[1]].dtype not in (DType.INT32, DType.INT64):
        return "Gather indices must be int32 or int64"
    return None


def why_not_dynamic_dense(node, graph) -> str | None:
    """Constant weights."""
    return None if node.inputs[1] in graph.constants else "DynamicDense weights must be constants"


def why_not_dynamic_matmul(node, graph) -> str | None:
    """Operands of rank 2 or more."""
    if min(graph.types[v].rank for v in node.inputs[:2]) < 2:
        return "1-D DynamicMatMul operands are not supported; reshape them to 2-D in the model"
    return None


def why_not_float_binary(node, graph) -> str | None:
    """Float32 operands only."""
    for v in node.inputs:
        if graph.types[v].dtype is not DType.FLOAT32:
            return f"only float32 operands are supported (got {graph.types[v].dtype.value} for {v!r})"
    return None


def emit_layer_norm(node: Node, k) -> None:
    b, op = k.b, k.node.op
    shape = _shape(k, k.node.inputs[0])
    axis = op.axis % len(shape)
    n, rows = _prod(shape[axis:]), _prod(shape[:axis])
    sqrt = k.mod.intrinsic("llvm.sqrt.f64", F64, [F64])
    x, scale, bias, y = k.ins[0], k.ins[1], k.ins[2], k.outs[0]
    with loop(b, rows, "row") as r:
        base = b.mul(r, c64(n))
        total = var(b, F64, ir.Constant(F64, 0.0), "sum")
        with loop(b, n, "j") as j:
            b.store(b.fadd(b.load(total, typ=F64), b.fpext(load(b, x, b.add(base, j), F32), F64)), total)
        mu = b.fdiv(b.load(total, typ=F64), ir.Constant(F64, float(n)))
        sq = var(b, F64, ir.Constant(F64, 0.0), "sq")
        with loop(b, n, "j2") as j:
            c = b.fsub(b.fpext(load(b, x, b.add(base, j), F32), F64), mu)
            b.store(b.fadd(b.load(sq, typ=F64), b.fmul(c, c)), sq)
        denom = b.call(sqrt, [b.fadd(b.fdiv(b.load(sq, typ=F64), ir.Constant(F64, float(n))),
                                     ir.Constant(F64, float(op.epsilon)))])
        with loop(b, n, "j3") as j:
            c = b.fsub(b.fpext(load(b, x, b.add(base, j), F32), F64), mu)
            v = b.fmul(b.fdiv(c, denom), b.fpext(load(b, scale, j, F32), F64))
            v = b.fadd(v, b.fpext(load(b, bias, j, F32), F64))
            store(b, b.fptrunc(v, F32), y, b.add(base, j), F32)


def emit_softmax(node: Node, k) -> None:
    b = k.b
    shape = _shape(k, k.node.inputs[0])
    axis = k.node.op.axis % len(shape)
    outer, n, inner = _prod(shape[:axis]), shape[axis], _prod(shape[axis + 1:])
    exp = k.mod.intrinsic("llvm.exp.f32", F32, [F32])
    x, y = k.ins[0], k.outs[0]
    with loop(b, outer, "o") as o:
        with loop(b, inner, "in") as i:
            base = b.add(b.mul(o, c64(n * inner)), i)

            def at(j):
                return b.add(base, b.mul(j, c64(inner)))
            m = var(b, F32, load(b, x, base, F32), "max")
            with loop(b, n, "j") as j:
                v, cur = load(b, x, at(j), F32), b.load(m, typ=F32)
                b.store(b.select(b.fcmp_ordered(">", v, cur), v, cur), m)
            total = var(b, F32, ir.Constant(F32, 0.0), "sum")
            with loop(b, n, "j2") as j:
                e = b.call(exp, [b.fsub(load(b, x, at(j), F32), b.load(m, typ=F32))])
                store(b, e, y, at(j), F32)
                b.store(b.fadd(b.load(total, typ=F32), e), total)
            with loop(b, n, "j3") as j:
                store(b, b.fdiv(load(b, y, at(j), F32), b.load(total, typ=F32)), y, at(j), F32)


def emit_gather(node: Node, k) -> None:
    """out[p, j, q] = data[p, idx[j], q] (p < pre, q < post elements), copied post elements at a time."""
    b, op = k.b, k.node.op
    data_t, idx_t = k.graph.types[k.node.inputs[0]], k.graph.types[k.node.inputs[1]]
    axis = op.axis % data_t.rank
    pre, d, post = _prod(data_t.shape[:axis]), data_t.shape[axis], _prod(data_t.shape[axis + 1:])
    n_idx, es = _prod(idx_t.shape), data_t.dtype.itemsize
    it = int_type(idx_t.dtype.itemsize)
    with loop(b, n_idx, "j") as j:
        v = load(b, k.ins[1], j, it)
        v = v if it == I64 else b.sext(v, I64)
        with b.if_then(b.or_(b.icmp_signed("<", v, c64(-d)), b.icmp_signed(">=", v, c64(d))), likely=False):
            b.ret(c32(BAD_INPUT))
        v = b.select(b.icmp_signed("<", v, c64(0)), b.add(v, c64(d)), v)
        with loop(b, pre, "p") as p:
            src = b.mul(b.add(b.mul(p, c64(d)), v), c64(post * es))
            dst = b.mul(b.add(b.mul(p, c64(n_idx)), j), c64(post * es))
            memcpy(k.mod, b, b.gep(k.outs[0], [dst], source_etype=I8), b.gep(k.ins[0], [src], source_etype=I8),
                   post * es)



def _dynamic_quantize(k, src, n: int, dst):
    """dst = quantize(src, scale, zp) with fixedpoint.dynamic_quant_params; returns (scale, zp i64)."""
    b = k.b
    zero = ir.Constant(F32, 0.0)
    lo, hi = var(b, F32, zero, "lo"), var(b, F32, zero, "hi")
    with loop(b, n, "m") as i:
        v = load(b, src, i, F32)
        cur_lo, cur_hi = b.load(lo, typ=F32), b.load(hi, typ=F32)
        b.store(b.select(b.fcmp_ordered("<", v, cur_lo), v, cur_lo), lo)
        b.store(b.select(b.fcmp_ordered(">", v, cur_hi), v, cur_hi), hi)
    lo_v = b.load(lo, typ=F32)
    scale = b.fdiv(b.fsub(b.load(hi, typ=F32), lo_v), ir.Constant(F32, 255.0))
    is_zero = b.fcmp_ordered("==", scale, zero)
    safe = b.select(is_zero, ir.Constant(F32, 1.0), scale)
    rint = k.mod.intrinsic("llvm.rint.f32", F32, [F32])
    zp = b.call(rint, [b.fsub(ir.Constant(F32, -128.0), b.fdiv(lo_v, safe))])
    zp = b.select(b.fcmp_ordered("<", zp, ir.Constant(F32, -128.0)), ir.Constant(F32, -128.0), zp)
    zp = b.select(b.fcmp_ordered(">", zp, ir.Constant(F32, 127.0)), ir.Constant(F32, 127.0), zp)
    zp = b.select(is_zero, c64(0), b.fptosi(zp, I64))
    quantize = k.mod.helper("quantize")
    with loop(b, n, "q") as i:
        y = b.call(quantize, [load(b, src, i, F32), scale, zp, c64(-128), c64(127)])
        store(b, b.trunc(y, I8), dst, i, I8)
    return scale, zp


def _act_clamp(b, y, op):
    if op.act_min is not None:
        lo = ir.Constant(F32, float(np.float32(op.act_min)))
        y = b.select(b.fcmp_ordered("<", y, lo), lo, y)
    if op.act_max is not None:
        hi = ir.Constant(F32, float(np.float32(op.act_max)))
        y = b.select(b.fcmp_ordered(">", y, hi), hi, y)
    return y


def emit_dynamic_matmul(node: Node, k) -> None:
    from .tables import matmul_batches
    b, op = k.b, k.node.op
    a_shape, b_shape = _shape(k, k.node.inputs[0]), _shape(k, k.node.inputs[1])
    m, kd, n = a_shape[-2], a_shape[-1], b_shape[-1]
    na, nb = _prod(a_shape), _prod(b_shape)
    qa = k.scratch
    qb = b.gep(k.scratch, [c64(abi.align(na))], source_etype=I8)
    s_a, zp_a = _dynamic_quantize(k, k.ins[0], na, qa)
    s_b, zp_b = _dynamic_quantize(k, k.ins[1], nb, qb)
    factor = b.fmul(s_a, s_b)
    a_off, b_off = matmul_batches(a_shape, b_shape, _shape(k, k.node.outputs[0]))
    a_g, b_g = k.mod.table(a_off, "aoff"), k.mod.table(b_off, "boff")
    with loop(b, a_off.size, "bt") as bt:
        a0 = b.sext(load(b, a_g, bt, I32), I64)
        b0 = b.sext(load(b, b_g, bt, I32), I64)
        with loop(b, m, "mi") as mi:
            with loop(b, n, "ni") as ni:
                acc = var(b, I64, c64(0), "acc")
                with loop(b, kd, "k") as kk:
                    av = b.sub(b.sext(load(b, qa, b.add(a0, b.add(b.mul(mi, c64(kd)), kk)), I8), I64), zp_a)
                    bv = b.sub(b.sext(load(b, qb, b.add(b0, b.add(b.mul(kk, c64(n)), ni)), I8), I64), zp_b)
                    b.store(b.add(b.load(acc, typ=I64), b.mul(av, bv)), acc)
                y = b.fmul(b.sitofp(b.load(acc, typ=I64), F32), factor)
                dst = b.add(b.mul(bt, c64(m * n)), b.add(b.mul(mi, c64(n)), ni))
                store(b, _act_clamp(b, y, op), k.outs[0], dst, F32)
    k.reserve(abi.align(na) + nb)


def emit_float_binary(node: Node, k) -> None:
    from .tables import broadcast_map
    b, op = k.b, k.node.op
    out_shape = _shape(k, k.node.outputs[0])
    maps = [broadcast_map(_shape(k, v), out_shape) for v in k.node.inputs]
    tables = [None if m is None else k.mod.table(m, "bcast") for m in maps]
    if isinstance(op, ops.Pow):
        powf = k.mod.intrinsic("powf", F32, [F32, F32])
        combine = lambda x, e: b.call(powf, [x, e])  # noqa: E731
    elif isinstance(op, ops.PRelu):
        zero = ir.Constant(F32, 0.0)
        combine = lambda x, s: b.select(b.fcmp_ordered(">=", x, zero), x, b.fmul(x, s))  # noqa: E731
    else:
        combine = {ops.Add: b.fadd, ops.Sub: b.fsub, ops.Mul: b.fmul, ops.Div: b.fdiv}[type(op)]
    with loop(b, _prod(out_shape)) as i:
        vals = []
        for ptr, table in zip(k.ins, tables):
            idx = i if table is None else b.sext(load(b, table, i, I32), I64)
            vals.append(load(b, ptr, idx, F32))
        y = combine(*vals)
        if isinstance(op, ops.Add):
            y = _act_clamp(b, y, op)
        store(b, y, k.outs[0], i, F32)


def emit_erf(node: Node, k) -> None:
    b = k.b
    erf = k.mod.intrinsic("erf", F64, [F64])
    with loop(b, _prod(_shape(k, k.node.inputs[0]))) as i:
        y = b.call(erf, [b.fpext(load(b, k.ins[0], i, F32), F64)])
        store(b, b.fptrunc(y, F32), k.outs[0], i, F32)
