"""DynamicDenseRows (qcomp/ir/qops_rows.py: --quant dynamic with a scale and zero point per row of
the activation) on the GEMM micro-kernels of kernels_dynamic_dense.py.

    (s[r], zp[r]) = dynamic_quant_params(x[r, :]);  q[r, k] = quantize(x[r, k], s[r], zp[r])
    acc[r, n] = sum_k (q[r, k] - zp[r]) w[n, k]
    y[r, n] = float32(acc) * float32(s[r] * w_scale[n]) + b[n],  clamped

The pack (threaded over rows, kernels_dynamic_pack's jobs): per row, a min/max pass over its K
floats (kernels_dynamic_pack.minmax_vectors: ordered compare-and-select from +0.0, VF lanes, then
a scalar tail: exact, order-free),
its scale and zero point (kernels_dynamic_quant.quant_params: the reference's float32 operations),
stored in the scratch's row table, then the row quantized and packed (kernels_dynamic_pack.pack_row,
row term 0). The dot step's u = q + offset gives

    acc = sum_k u w - (offset + zp[r]) colsum[n] = sum_k u w + col_term[n] - zp[r] colsum[n]

col_term[n] = -offset colsum[n] starts the tiles' accumulators as for DynamicDense; the row-dependent
-zp[r] colsum[n] is a rank-1 term no row or column table can hold, so the epilogue adds it: it finds
its row from the tile's output pointer, row = ((out - out_base) / 4) div N (the tile's channel
offset is below N), reads s[r] and zp[r] from the row table (out_base and the table's address are
stored per run in every channel block's slot of the scratch, which the epilogue reaches), then
acc - zp[r] * colsum[n] (int32, wrapping: the total is the true acc, which fits int32 as for
DynamicDense), y = float32(acc) * (s[r] * w_scale[n]) (one float32 product, as the reference),
+ b[n], the clamp, the store. Bit-exact to the reference.
"""
from __future__ import annotations

import numpy as np
from llvmlite import ir

from ... import abi
from ...ir import Node
from .irgen import F32, I32, I64, PTR, VOID, c64, job_function, loop, parallel_for, var
from .kernels_depthwise import _mask, _ptr
from .kernels_dynamic_dense import packed_weights, step_form
from .kernels_dynamic_pack import VF, Quantizer, minmax_vectors, n_jobs, pack_row
from .kernels_dynamic_quant import _min_max, quant_params
from .kernels_qmatmul import Layout, _emit_gemm


def emit_dynamic_dense_rows(node: Node, k) -> None:
    b, op = k.b, node.op
    w = np.asarray(k.graph.constants[node.inputs[1]], np.int8)
    spec = k.spec = step_form(k.spec, w)
    n, kd = w.shape
    m = int(np.prod(k.graph.types[node.inputs[0]].shape[:-1], dtype=np.int64))
    lanes = spec.lanes
    n_ob, n_kq = -(-n // lanes), -(-kd // spec.depth)
    n_pad, kpad = n_ob * lanes, n_kq * spec.depth
    a_stride = kpad + 4
    rows_at = 0                                 # s[r] f32, zp[r] i32: 8 bytes per row
    par = abi.align(8 * m)                      # w_scale[n_pad], bias[n_pad] f32, colsum[n_pad] i32, slots
    c_base = par + abi.align(16 * n_pad)        # col_term[n_pad] int32
    a_base = c_base + abi.align(4 * n_pad)
    end = a_base + abi.align(m * a_stride)
    k.reserve(end)
    lay = Layout(m, kd, n, 1, 1, np.zeros(1, np.int64), np.zeros(1, np.int64), n_ob, n_kq, a_stride,
                 a_base, 0, c_base, end)
    _pack_rows(k, k.ins[0], m, kd, kpad, a_stride, _ptr(b, k.scratch, a_base), _ptr(b, k.scratch, rows_at))
    colsum = np.zeros(n_pad, np.int32)
    colsum[:n] = w.astype(np.int64).sum(axis=1)
    colsum_g = k.mod.table(colsum, "ddr_colsum")
    at = {name: _ptr(b, k.scratch, par + i * 4 * n_pad) for i, name in enumerate(("w_scale", "bias", "colsum", "slots"))}
    col_at = _ptr(b, k.scratch, c_base)
    with loop(b, n_pad, "ch") as i:
        cs = b.load(b.gep(colsum_g, [i], source_etype=I32), typ=I32)
        b.store(cs, b.gep(at["colsum"], [i], source_etype=I32))
        b.store(b.mul(cs, ir.Constant(I32, -spec.activation_offset)), b.gep(col_at, [i], source_etype=I32))
    with loop(b, n, "ch2") as i:
        for name, src in (("w_scale", k.ins[3]), ("bias", k.ins[2])):
            v = b.load(b.gep(src, [i], source_etype=F32), typ=F32)
            b.store(v, b.gep(at[name], [i], source_etype=F32))
    out_base = b.ptrtoint(k.outs[0], I64)
    rows_base = b.ptrtoint(_ptr(b, k.scratch, rows_at), I64)
    with loop(b, n_ob, "slot") as i:
        slot = _ptr(b, at["slots"], b.mul(i, c64(4 * lanes)))
        b.store(out_base, slot, align=4)
        b.store(rows_base, _ptr(b, slot, 8), align=4)
    w_g = k.mod.table(np.frombuffer(packed_weights(w, spec), np.int8), "ddr_w")
    _emit_gemm(k, lay, 4, par, par, _row_epilogue(k, op, n, n_pad), w_table=w_g)


def _pack_rows(k, src, rows: int, kd: int, kpad: int, a_stride: int, dst, table) -> None:
    """Per row r: min/max, (s[r], zp[r]) into table[r], then quantize + pack; jobs over row ranges."""
    jobs = n_jobs(rows * kd, rows)
    per_job = -(-rows // jobs)
    jobs = -(-rows // per_job)
    full = kd // VF
    f, b, (x, out, tab), j = job_function(k.mod, "dqr_pack", 3)
    vf = ir.VectorType(F32, VF)
    zero = ir.Constant(F32, 0.0)
    lo, hi = var(b, F32, zero, "lo"), var(b, F32, zero, "hi")
    r0 = b.mul(j, c64(per_job))
    r1 = b.select(b.icmp_signed("<", b.add(r0, c64(per_job)), c64(rows)), b.add(r0, c64(per_job)), c64(rows))
    with loop(b, b.sub(r1, r0), "r") as i:
        r = b.add(r0, i)
        s_row = _ptr(b, x, b.mul(r, c64(4 * kd)))
        b.store(zero, lo)
        b.store(zero, hi)
        lo_v, hi_v = minmax_vectors(b, s_row, c64(0), c64(full))
        vlo, vhi = b.load(lo_v, typ=vf), b.load(hi_v, typ=vf)
        for lane in range(VF):
            _min_max(b, b.extract_element(vlo, ir.Constant(I32, lane)), lo, hi)
            _min_max(b, b.extract_element(vhi, ir.Constant(I32, lane)), lo, hi)
        with loop(b, kd % VF, "mt") as c:
            _min_max(b, b.load(b.gep(s_row, [b.add(c, c64(full * VF))], source_etype=F32), typ=F32), lo, hi)
        scale, _, zp = quant_params(k, b.load(lo, typ=F32), b.load(hi, typ=F32), b)
        entry = _ptr(b, tab, b.mul(r, c64(8)))
        b.store(scale, entry)
        b.store(b.trunc(zp, I32), _ptr(b, entry, 4))
        pack_row(k, b, Quantizer(k, b, entry), s_row, _ptr(b, out, b.mul(r, c64(a_stride))), kd, kpad,
                 ir.Constant(I32, 0))
    b.ret_void()
    parallel_for(k.mod, k.b, f, [src, dst, table], jobs)


def _row_epilogue(k, op, n: int, n_pad: int):
    """store(b, acc, r, j, out, factor, live): the module docstring's epilogue for row r, block j."""
    lanes = k.spec.lanes
    vf, vi = ir.VectorType(F32, lanes), ir.VectorType(I32, lanes)
    masked_store = k.mod.intrinsic(f"llvm.masked.store.v{lanes}f32.p0", VOID,
                                   [vf, PTR, I32, ir.VectorType(ir.IntType(1), lanes)])

    def splat(b, v, vt):
        first = b.insert_element(ir.Constant(vt, None), v, ir.Constant(I32, 0))
        return b.shuffle_vector(first, ir.Constant(vt, None), ir.Constant(ir.VectorType(I32, lanes), [0] * lanes))

    def store(b, acc, r, j, out, factor, live):
        block = 4 * j * lanes
        slot = _ptr(b, factor, 12 * n_pad + block)
        out_base = b.load(slot, typ=I64, align=4)
        rows_base = b.inttoptr(b.load(_ptr(b, slot, 8), typ=I64, align=4), PTR)
        first_row = b.sdiv(b.ashr(b.sub(b.ptrtoint(out, I64), out_base), c64(2)), c64(n))
        entry = _ptr(b, rows_base, b.mul(b.add(first_row, c64(r)), c64(8)))
        s_r, zp_r = b.load(entry, typ=F32, align=4), b.load(_ptr(b, entry, 4), typ=I32, align=4)
        colsum = b.load(_ptr(b, factor, 8 * n_pad + block), typ=vi, align=4)
        acc = b.sub(acc, b.mul(splat(b, zp_r, vi), colsum))
        w_scale = b.load(_ptr(b, factor, block), typ=vf, align=4)
        y = b.fmul(b.sitofp(acc, vf), b.fmul(splat(b, s_r, vf), w_scale))
        y = b.fadd(y, b.load(_ptr(b, factor, 4 * n_pad + block), typ=vf, align=4))
        if op.act_min is not None:
            lo = ir.Constant(vf, [float(np.float32(op.act_min))] * lanes)
            y = b.select(b.fcmp_ordered("<", y, lo), lo, y)
        if op.act_max is not None:
            hi = ir.Constant(vf, [float(np.float32(op.act_max))] * lanes)
            y = b.select(b.fcmp_ordered(">", y, hi), hi, y)
        dst = _ptr(b, out, 4 * (r * n + j * lanes))
        if live < lanes:
            b.call(masked_store, [y, dst, ir.Constant(I32, 4), _mask(lanes, live)])
        else:
            b.store(y, dst, align=4)
    return store
