"""TopK on float32 or int8 values (qcomp/ir/ops_select.py): x viewed as (outer, n, inner), one row
per (outer, inner) pair; pick j is the first element, in the order (value descending for largest,
ascending otherwise; then index ascending), strictly after pick j-1. O(k * n) compares per row,
no scratch; float compares are ordered (a NaN is never picked before a number). The same rule as
the reference (stable argsort), the C kernel (qcomp_topk_int8) and the cuda kernel."""
from __future__ import annotations

import math

from llvmlite import ir

from ...ir import DType, Node
from .irgen import F32, I8, I64, c64, load, loop, store, var


def why_not_topk(node: Node, graph) -> str | None:
    if graph.types[node.inputs[0]].dtype not in (DType.FLOAT32, DType.INT8):
        return f"TopK of {graph.types[node.inputs[0]].dtype.value} values: the llvm backend selects float32 and int8"
    return None


def emit_topk(node: Node, k) -> None:
    b, op = k.b, k.node.op
    t = k.graph.types[k.node.inputs[0]]
    shape = t.shape
    outer, n, inner = math.prod(shape[:op.axis]), shape[op.axis], math.prod(shape[op.axis + 1:])
    is_float = t.dtype is DType.FLOAT32
    et = F32 if is_float else I8
    zero = ir.Constant(et, 0.0 if is_float else 0)

    def before(va, ia, vb, ib):
        """(va, ia) comes before (vb, ib) in the order."""
        if is_float:
            wins, same = b.fcmp_ordered(">" if op.largest else "<", va, vb), b.fcmp_ordered("==", va, vb)
        else:
            wins, same = b.icmp_signed(">" if op.largest else "<", va, vb), b.icmp_signed("==", va, vb)
        return b.or_(wins, b.and_(same, b.icmp_signed("<", ia, ib)))

    with loop(b, outer * inner, "row") as row:
        o, i = b.sdiv(row, c64(inner)), b.srem(row, c64(inner))
        base = b.add(b.mul(o, c64(n * inner)), i)
        out_base = b.add(b.mul(o, c64(op.k * inner)), i)
        prev_v, prev_i = var(b, et, zero, "prev_v"), var(b, I64, c64(-1), "prev_i")
        with loop(b, op.k, "j") as j:
            best_v, best_i = var(b, et, zero, "best_v"), var(b, I64, c64(-1), "best_i")
            with loop(b, n, "t") as tt:
                v = load(b, k.ins[0], b.add(base, b.mul(tt, c64(inner))), et)
                pv, pi = b.load(prev_v, typ=et), b.load(prev_i, typ=I64)
                bv, bi = b.load(best_v, typ=et), b.load(best_i, typ=I64)
                after = b.or_(b.icmp_signed("<", pi, c64(0)), before(pv, pi, v, tt))
                better = b.or_(b.icmp_signed("<", bi, c64(0)), before(v, tt, bv, bi))
                take = b.and_(after, better)
                b.store(b.select(take, v, bv), best_v)
                b.store(b.select(take, tt, bi), best_i)
            bv, bi = b.load(best_v, typ=et), b.load(best_i, typ=I64)
            at = b.add(out_base, b.mul(j, c64(inner)))
            store(b, bv, k.outs[0], at, et)
            store(b, bi, k.outs[1], at, I64)
            b.store(bv, prev_v)
            b.store(bi, prev_i)
