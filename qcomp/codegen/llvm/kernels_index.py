"""llvm kernels of GatherElements, GatherND, ScatterElements and ScatterND with run-time indices,
with the addressing of qcomp/codegen/index_plan.py:

    off(r) = base[r] + sum_k wrap(idx[r*K + k], dims[k]) * strides[k]

First every index is checked (one outside [-d, d) returns QCOMP_ERR_BAD_INPUT before anything is
written), then gathers copy I elements per row (memcpy) and scatters copy data to y and apply the
rows in order: reduction none copies I elements; max / min compare int8 codes (signed) or float32
values (numpy's maximum / minimum: (old >= new or old is NaN) ? old : new), add / mul are
one float32 fadd / fmul per element (float regions). base is a constant table unless all 0."""
from __future__ import annotations

from ... import abi
from ...ir import DType, Node
from ...ir.ops_index import ScatterElements, ScatterND
from ...protocol import Emitter
from ..index_plan import INDEX_OPS, index_plan
from .irgen import F32, I8, I32, I64, c32, c64, int_type, load, load_i64, loop, memcpy, store

BAD_INPUT = abi.STATUS_OF["QCOMP_ERR_BAD_INPUT"]


def why_not_index(node: Node, graph) -> str | None:
    """Reduction none (any type), max / min of int8 or float32, add / mul of float32."""
    reduction = getattr(node.op, "reduction", "none")
    dtype = graph.types[node.inputs[0]].dtype
    if reduction == "none" or (reduction in ("max", "min") and dtype in (DType.INT8, DType.FLOAT32)) \
            or (reduction in ("add", "mul") and dtype is DType.FLOAT32):
        return None
    return f"reduction {reduction!r} of {dtype.value} values: the llvm backend combines int8 with max / min, " \
           f"float32 with add / mul / max / min"


def _offset(k, plan, base_g, it, r):
    """off(r) in elements (i64), and a flag: every index of the row inside its axis."""
    b = k.b
    off = load_i64(b, base_g, r, I32) if base_g is not None else c64(0)
    ok = None
    for j, (d, stride) in enumerate(zip(plan.dims, plan.strides)):
        v = load(b, k.ins[1], b.add(b.mul(r, c64(plan.k)), c64(j)), it)
        v = v if it == I64 else b.sext(v, I64)
        inside = b.and_(b.icmp_signed(">=", v, c64(-d)), b.icmp_signed("<", v, c64(d)))
        ok = inside if ok is None else b.and_(ok, inside)
        v = b.select(b.icmp_signed("<", v, c64(0)), b.add(v, c64(d)), v)
        off = b.add(off, b.mul(v, c64(stride)))
    return off, ok


def _combine(k, reduction: str, et, old, new):
    b = k.b
    if et == F32:
        if reduction == "add":
            return b.fadd(old, new)
        if reduction == "mul":
            return b.fmul(old, new)
        keep = b.or_(b.fcmp_ordered(">=" if reduction == "max" else "<=", old, new), b.fcmp_unordered("uno", old, old))
        return b.select(keep, old, new)   # numpy's maximum / minimum: old unless new wins or is NaN
    keep = b.icmp_signed(">=" if reduction == "max" else "<=", old, new)
    return b.select(keep, old, new)


def emit_index(node: Node, k) -> None:
    b = k.b
    plan = index_plan(k.node, k.graph)
    data_t = k.graph.types[k.node.inputs[0]]
    es = data_t.dtype.itemsize
    it = int_type(k.graph.types[k.node.inputs[1]].dtype.itemsize)
    base_g = None if plan.constant_base else k.mod.table(plan.base, "index_base")
    with loop(b, plan.rows, "check") as r:
        _, ok = _offset(k, plan, base_g, it, r)
        with b.if_then(b.not_(ok), likely=False):
            b.ret(c32(BAD_INPUT))
    row_bytes = plan.inner * es
    if not isinstance(k.node.op, (ScatterElements, ScatterND)):
        with loop(b, plan.rows, "row") as r:
            off, _ = _offset(k, plan, base_g, it, r)
            memcpy(k.mod, b, b.gep(k.outs[0], [b.mul(r, c64(row_bytes))], source_etype=I8),
                   b.gep(k.ins[0], [b.mul(off, c64(es))], source_etype=I8), row_bytes)
        return
    memcpy(k.mod, b, k.outs[0], k.ins[0], data_t.nbytes)
    with loop(b, plan.rows, "row") as r:
        off, _ = _offset(k, plan, base_g, it, r)
        if plan.reduction == "none":
            memcpy(k.mod, b, b.gep(k.outs[0], [b.mul(off, c64(es))], source_etype=I8),
                   b.gep(k.ins[2], [b.mul(r, c64(row_bytes))], source_etype=I8), row_bytes)
        else:
            et = F32 if data_t.dtype is DType.FLOAT32 else I8
            with loop(b, plan.inner, "i") as i:
                dst = b.add(off, i)
                new = load(b, k.ins[2], b.add(b.mul(r, c64(plan.inner)), i), et)
                store(b, _combine(k, plan.reduction, et, load(b, k.outs[0], dst, et), new), k.outs[0], dst, et)


EMITTERS = {cls: Emitter(emit_index, why_not_index) for cls in INDEX_OPS}
