"""The run-time packs of kernels_qmatmul.py: both operands of an activation x activation product
into what the GEMM micro-kernels (kernels_dot.py, kernels_mmla.py) read, with the zero-point terms.

    pack_a(a, dst, zb):          dst row r = [a[r, k] + offset for k < K] ++ [offset] * (Kpad - K)
                                             ++ int32 row_term[r] = -zb * sum_k a[r, k]
    pack_b(b, dst_w, dst_c, za, zb):
        dst_w[ob][kq] = block (ob, kq): b[kq * depth + d, ob * lanes + j] for d < depth, j < lanes
                        (0 past K or N), its bytes in the dot step's order (block_order)
        dst_c[n] = col_term[n] = -(offset + za) * sum_k b[k, n] + K za zb

All sums in int32 lanes, wrapping: kernels_qmatmul.py's docstring shows why the GEMM's total is
exact. Vectorized: A in vectors of 4 * lanes bytes (masked at K's tail), B a block at a time, its
`depth` rows of `lanes` columns loaded (masked at N's tail), concatenated and put in order by one
shuffle (the int16 pairs of x86-avx2's wide form: sign-extended first).
"""
from __future__ import annotations

import numpy as np
from llvmlite import ir

from . import kernels_neon
from .irgen import I8, I16, I32, I64, PTR, VOID, c64, loop, var
from .isa import DotSpec
from .kernels_depthwise import _mask, _masked_io, _ptr


def block_order(spec: DotSpec) -> np.ndarray:
    """src[p]: the element of the concatenated rows (row d, column j at d * lanes + j) that goes to
    position p of a packed block (int16 positions in the wide AVX2 form, bytes otherwise)."""
    lanes, depth = spec.lanes, spec.depth
    src = np.zeros(lanes * depth, np.int64)
    for j in range(lanes):
        for d in range(depth):
            if spec.weight_parts == 2:             # [2 parts][lanes][2]: depth bytes (2p, 2p+1) of lane j
                pos = (d // 2) * 2 * lanes + 2 * j + d % 2
            elif spec.instruction in ("smlal", "smull"):
                pos = int(kernels_neon._POSITION[j, d])
            else:                                   # [lanes][depth]
                pos = j * depth + d
            src[pos] = d * lanes + j
    return src




def pack_a(k, m: int, kd: int, kpad: int, a_stride: int):
    """pack_a(a, dst, zb): row r of dst = a[r, :] + offset over K bytes, then Kpad - K bytes of `offset`
    (they meet zero weights), then row_term[r] = -zb * sum_k a[r, k] as int32 (wrapping)."""
    spec = k.spec
    vb = 4 * spec.lanes                             # a vector of bytes: 64 (AVX-512), 32 (AVX2), 16 (NEON)
    vt, vw = ir.VectorType(I8, vb), ir.VectorType(I32, vb)
    add = ir.Constant(vt, [spec.activation_offset & 0xFF] * vb)
    reduce_add = k.mod.intrinsic(f"llvm.vector.reduce.add.v{vb}i32", I32, [vw])
    masked_load, masked_store = _masked_io(k.mod, vb, I8)
    f, b = k.mod.function(k.mod.unique("qmatmul_pack_a"), VOID, [PTR, PTR, I32])
    src, dst, zb = f.args
    for arg in f.args[:2]:
        arg.add_attribute("noalias")
    full, tail = kd // vb, kd - kd // vb * vb
    with loop(b, m, "r") as r:
        s_row, d_row = _ptr(b, src, b.mul(r, c64(kd))), _ptr(b, dst, b.mul(r, c64(a_stride)))
        total = ir.Constant(vw, [0] * vb)
        if full:
            entry = b.block
            body, end = b.append_basic_block("c"), b.append_basic_block("c.end")
            b.branch(body)
            b.position_at_end(body)
            c = b.phi(I64, "c")
            acc = b.phi(vw, "sum")
            c.add_incoming(c64(0), entry)
            acc.add_incoming(total, entry)
            v = b.load(_ptr(b, s_row, b.mul(c, c64(vb))), typ=vt, align=1)
            b.store(b.add(v, add), _ptr(b, d_row, b.mul(c, c64(vb))), align=1)
            acc_next = b.add(acc, b.sext(v, vw))
            c_next = b.add(c, c64(1))
            c.add_incoming(c_next, body)
            acc.add_incoming(acc_next, body)
            b.cbranch(b.icmp_signed("<", c_next, c64(full)), body, end)
            b.position_at_end(end)
            total = acc_next
        if kpad > full * vb:                        # K's tail (masked) and the padding up to Kpad
            v = b.call(masked_load, [_ptr(b, s_row, full * vb), ir.Constant(I32, 1), _mask(vb, tail),
                                     ir.Constant(vt, [0] * vb)])
            b.call(masked_store, [b.add(v, add), _ptr(b, d_row, full * vb), ir.Constant(I32, 1),
                                  _mask(vb, kpad - full * vb)])
            total = b.add(total, b.sext(v, vw))
        term = b.mul(b.call(reduce_add, [total]), b.neg(zb))
        b.store(term, _ptr(b, d_row, kpad), align=1)
    b.ret_void()
    return f


def pack_b(k, kd: int, n: int, n_kq: int):
    """pack_b(b, dst_w, dst_c, za, zb): b [K, N] -> dst_w [OB][KQ][block] (block_order within a block, zero
    past K and N), dst_c [OB * lanes] int32 col_term = -(offset + za) * colsum + K za zb (wrapping)."""
    spec = k.spec
    lanes, depth, wblock = spec.lanes, spec.depth, spec.weight_block
    vrow, vsum = ir.VectorType(I8, lanes), ir.VectorType(I32, lanes)
    wide = spec.weight_parts == 2
    elem = I16 if wide else I8
    order = block_order(spec)
    masked_load, _ = _masked_io(k.mod, lanes, I8)
    f, b = k.mod.function(k.mod.unique("qmatmul_pack_b"), VOID, [PTR, PTR, PTR, I32, I32])
    src, dst_w, dst_c, za, zb = f.args
    for arg in f.args[:3]:
        arg.add_attribute("noalias")
    n_ob, full_ob, live = -(-n // lanes), n // lanes, n - n // lanes * lanes
    full_kq, k_tail = kd // depth, kd - kd // depth * depth

    def concat(vs):
        while len(vs) > 1:
            vs = [b.shuffle_vector(vs[i], vs[i + 1], ir.Constant(ir.VectorType(I32, 2 * vs[i].type.count),
                                                                 list(range(2 * vs[i].type.count))))
                  for i in range(0, len(vs), 2)]
        return vs[0]

    def step(ob, kq, rows_live: int, cols_live: int, colsum):
        """Pack block (ob, kq) with rows_live rows of K and cols_live columns of N; colsum + its rows."""
        rows = []
        for d in range(depth):
            if d >= rows_live:
                rows.append(ir.Constant(vrow, [0] * lanes))
                continue
            at = _ptr(b, src, b.add(b.mul(b.add(b.mul(kq, c64(depth)), c64(d)), c64(n)), b.mul(ob, c64(lanes))))
            if cols_live == lanes:
                rows.append(b.load(at, typ=vrow, align=1))
            else:
                rows.append(b.call(masked_load, [at, ir.Constant(I32, 1), _mask(lanes, cols_live),
                                                 ir.Constant(vrow, [0] * lanes)]))
            colsum = b.add(colsum, b.sext(rows[-1], vsum))
        whole = concat([b.sext(r, ir.VectorType(elem, lanes)) if wide else r for r in rows])
        packed = b.shuffle_vector(whole, ir.Constant(whole.type, None),
                                  ir.Constant(ir.VectorType(I32, len(order)), order.tolist()))
        at = _ptr(b, dst_w, b.mul(b.add(b.mul(ob, c64(n_kq)), kq), c64(wblock)))
        b.store(packed, at, align=1)
        return colsum

    def block_column(ob, cols_live: int):
        slot = var(b, vsum, ir.Constant(vsum, [0] * lanes), "colsum")
        with loop(b, full_kq, "kq") as kq:
            b.store(step(ob, kq, depth, cols_live, b.load(slot, typ=vsum)), slot)
        colsum = b.load(slot, typ=vsum)
        if k_tail:
            colsum = step(ob, c64(full_kq), k_tail, cols_live, colsum)
        scale = b.sub(ir.Constant(I32, -spec.activation_offset), za)           # -(offset + za)
        constant = b.mul(b.mul(ir.Constant(I32, kd), za), zb)                  # K za zb, wrapping
        term = b.add(b.mul(colsum, _splat(b, scale, lanes)), _splat(b, constant, lanes))
        b.store(term, _ptr(b, dst_c, b.mul(ob, c64(4 * lanes))), align=1)

    if full_ob:
        with loop(b, full_ob, "ob") as ob:
            block_column(ob, lanes)
    if live:
        block_column(c64(full_ob), live)
    b.ret_void()
    return f


def _splat(b, v, lanes: int):
    vt = ir.VectorType(v.type, lanes)
    first = b.insert_element(ir.Constant(vt, None), v, ir.Constant(I32, 0))
    return b.shuffle_vector(first, ir.Constant(vt, None), ir.Constant(ir.VectorType(I32, lanes), [0] * lanes))
