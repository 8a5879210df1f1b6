"""DynamicAttention (qcomp/ir/qops_fused.py, passes/fuse_attention.py): one attention layer's core,
per head h of batch row bi, straight from Q, K, V in their [B, S, H * D] rows:

    scores_h = DynamicMatMulScaleAdd(Q_h, K_h^T, m)      Q_h = q[bi, :, h, :], K_h = k[bi, :, h, :]
    P_h      = Softmax(scores_h)                          (rows of Sk)
    out[bi, :, h, :] = DynamicMatMul(P_h, V_h)            V_h = v[bi, :, h, :], written in place

with each dynamic quantization over its whole tensor, as the unfused nodes do it (min/max of all of
q, of k, of v and of P: the head split moves values, so the sets are the unfused operands'). Built
from the unfused nodes' own pieces, so every value is theirs bit for bit:
kernels_dynamic_pack (min/max, parameters, quantize + pack of A rows, quantize of B), kernels_qmatmul
(pack_b, the float epilogue), the GEMM micro-kernels (kernels_tile / kernels_mmla, row terms), and
kernels_float_vec.softmax_rows (the Softmax node's loops).

Four phases, three fork-joins (runtime/llvm/pool.c), G = B * H jobs in the two head phases:
  1. min/max of q, k and v (one parallel_for of kernels_dynamic_pack's jobs), then on the calling
     thread their scale and zero point, the scores' factor s_q * s_k and the mask, 0.0 past Sk,
     next to it (kernels_qmatmul.emit_dynamic_matmul's layout).
  2. job g = (bi, h), in its own slice of the scratch: Q_h's Sq strided rows quantized and packed
     (pack_row, row terms -zp_k * sum q); K_h's Sk strided rows quantized into int8 rows of Kpad
     bytes (zero past D, zero rows up to the last column block), which are B = K_h^T's columns:
     pack_bt writes pack_b's blocks and column terms (of zp_q, zp_k) from them with no transpose;
     the GEMM over every tile, its epilogue y = float32(acc) * factor, clamped, then
     y * scale + m[n] (the fused scores' steps), stored as float32 rows of Sk; the Softmax of
     those rows in place (kernels_float_softmax.softmax_rows). The head's (min, max) of P under
     minmax_part's rule (from +0.0, ordered compares: a NaN never wins) without a pass over P: every
     P >= +0.0 or NaN, so the min is +0.0; a row's largest P is its 1 / s (the maximum's e is 1
     exactly) or the row is NaN throughout, so the max is the ordered max of the rows' 1 / s.
  3. on the calling thread: P's range from every head's pairs, its scale and zero point, the
     context's factor s_p * s_v.
  4. job g: P_h's rows quantized and packed (row terms -zp_v * sum q), V_h's strided rows quantized
     ([Sk, Dv] int8) and packed (column terms of zp_p, zp_v), the GEMM with the epilogue
     y = float32(acc) * factor, clamped, stored at out[bi, r, h, :] (rows H * Dv floats apart).
The int32 accumulators are exact under the unfused nodes' bound (K * 255 * 255 <= 2^31 - 1 for
K = D and K = Sk: fuse_attention checks Sk, fuse_dynamic_attention checked D). Scratch per head:
both packed operands of both products, the int8 K_h and V_h, and P_h (Sq * Sk floats: 64 KiB at
S = 128, so a head's scores stay in L2 from its GEMM through its Softmax; phase 4 reads them back from
L2 or L3, once). The Softmax skips exp on the vectors an attention mask removes whole (padding).
"""
from __future__ import annotations

from dataclasses import dataclass

from llvmlite import ir

from ... import abi
from ...ir import Node
from . import kernels_dot, kernels_mmla, kernels_neon
from .irgen import F32, I1, I8, I16, I32, I64, PTR, VOID, c64, job_function, loop, parallel_for, var
from .isa import DotSpec
from .kernels_depthwise import _ptr
from .kernels_dynamic_pack import (PARAMS_BYTES, Quantizer, finish_params, minmax_part, pack_row, quantize_range,
                                   run_parts)
from .kernels_float_softmax import softmax_rows
from .kernels_qmatmul import _float_epilogue, run_time_spec
from .kernels_qmatmul_pack import _splat, block_order, pack_b


@dataclass
class Product:
    """One head's product [m, kd] x [kd, n] on the micro-kernels: its padded sizes."""
    m: int
    kd: int
    n: int
    spec: DotSpec

    @property
    def n_kq(self) -> int:
        return -(-self.kd // self.spec.depth)

    @property
    def kpad(self) -> int:
        return self.n_kq * self.spec.depth

    @property
    def a_stride(self) -> int:
        return self.kpad + 4                     # the row's bytes, then its int32 row_term

    @property
    def n_ob(self) -> int:
        return -(-self.n // self.spec.lanes)

    @property
    def n_pad(self) -> int:
        return self.n_ob * self.spec.lanes

    def sizes(self) -> dict[str, int]:
        """Bytes of the packed A rows, the packed B blocks and the column terms."""
        return {"a": self.m * self.a_stride, "w": self.n_ob * self.n_kq * self.spec.weight_block,
                "c": self.n_pad * 4}


class Slices:
    """Byte offsets of named, 64-byte aligned regions laid end to end from `base`."""

    def __init__(self, base: int = 0):
        self.end = base
        self.at: dict[str, int] = {}

    def add(self, name: str, nbytes: int) -> None:
        self.at[name] = self.end
        self.end += abi.align(nbytes)


def emit_dynamic_attention(node: Node, k) -> None:
    op, b = node.op, k.b
    spec = k.spec = run_time_spec(k.spec)
    bsz, sq, heads, d = k.graph.types[node.inputs[0]].shape
    sk, dv = k.graph.types[node.inputs[1]].shape[1], k.graph.types[node.inputs[2]].shape[3]
    groups, lanes = bsz * heads, spec.lanes
    scores, context = Product(sq, d, sk, spec), Product(sq, sk, dv, spec)
    shared = Slices()
    for name in ("q", "k", "v"):
        shared.add(name, PARAMS_BYTES)
    shared.add("p", 64 + 8 * groups)                    # P's parameters, then each head's (lo, hi)
    shared.add("f1", 8 * scores.n_pad)                  # the scores' factor, then the mask
    shared.add("f2", 4 * context.n_pad)
    head = Slices()
    for name, size in scores.sizes().items():
        head.add(f"{name}1", size)
    head.add("k8", scores.n_pad * scores.kpad)         # K_h as int8 rows of kpad bytes, zero past D and Sk
    head.add("p", 4 * sq * sk)
    for name, size in context.sizes().items():
        head.add(f"{name}2", size)
    head.add("v8", sk * dv)
    k.reserve(shared.end + groups * head.end)
    par = {name: _ptr(b, k.scratch, shared.at[name]) for name in ("q", "k", "v", "p", "f1", "f2")}

    # phase 1: q, k, v's ranges and parameters; the scores' factor and mask
    parts = [minmax_part(k, k.ins[i], k.graph.types[node.inputs[i]].size, par[name])
             for i, name in enumerate(("q", "k", "v"))]
    run_parts(k, "attn_minmax", parts)
    (s_q, zp_q), (s_k, zp_k), (s_v, zp_v) = (finish_params(k, par[name], part.jobs)
                                             for name, part in zip(("q", "k", "v"), parts))
    b.store(b.trunc(zp_k, I32), _ptr(b, par["q"], 8))    # Q rows' terms: -zp_k * sum q
    _fill(b, par["f1"], scores.n_pad, b.fmul(s_q, s_k))
    with loop(b, scores.n_pad, "m") as i:
        live = b.icmp_signed("<", i, c64(sk))
        v = b.load(b.gep(k.ins[3], [b.select(live, i, c64(0))], source_etype=F32), typ=F32)
        b.store(b.select(live, v, ir.Constant(F32, 0.0)), b.gep(par["f1"], [b.add(i, c64(scores.n_pad))],
                                                                   source_etype=F32))

    # phase 2: per head, the scores, their Softmax and P's min/max
    f, jb, (q_in, k_in, scratch), g = job_function(k.mod, "attn_scores", 3)
    bi, h = jb.sdiv(g, c64(heads)), jb.srem(g, c64(heads))
    at, sp = _head_pointers(jb, scratch, shared, head, g)
    qz = Quantizer(k, jb, sp["q"])
    zb = jb.load(_ptr(jb, sp["q"], 8), typ=I32)
    with loop(jb, sq, "q_row") as r:
        src = _row(jb, q_in, bi, r, h, sq, heads, d)
        pack_row(k, jb, qz, src, _ptr(jb, at["a1"], jb.mul(r, c64(scores.a_stride))), d, scores.kpad, zb)
    _quantize_rows(k, jb, Quantizer(k, jb, sp["k"]), k_in, at["k8"], bi, h, sk, heads, d, scores.kpad)
    # rows past Sk are the last block's dead columns (never stored): zeroed as pack_b's masked loads zero them
    _zero(k, jb, _ptr(jb, at["k8"], sk * scores.kpad), (scores.n_pad - sk) * scores.kpad)
    za, zb = (jb.load(_ptr(jb, sp[name], 4), typ=I32) for name in ("q", "k"))
    jb.call(pack_bt(k, d, sk, scores.n_kq), [at["k8"], at["w1"], at["c1"], za, zb])
    store = _float_epilogue(k, op.scores(), sk)
    scale = ir.Constant(ir.VectorType(F32, lanes), [op.scale] * lanes)

    def scale_add(b_, acc, r, j, out, factor, live):
        mask_at = _ptr(b_, factor, 4 * (scores.n_pad + j * lanes))
        store(b_, acc, r, j, out, factor, live,
              after_clamp=lambda y: b_.fadd(b_.fmul(y, scale), b_.load(mask_at, typ=scale.type, align=4)))
    _head_gemm(k, jb, scores, at["a1"], at["w1"], at["c1"], sp["f1"], at["p"], sk, scale_add)
    hi = var(jb, F32, ir.Constant(F32, 0.0), "p_hi")
    softmax_rows(k, jb, at["p"], at["p"], c64(0), c64(sq), sk,
                 on_reciprocal=lambda r: jb.store(_ordered_max(jb, r, jb.load(hi, typ=F32)), hi))
    pair = _ptr(jb, sp["p"], jb.add(c64(64), jb.mul(g, c64(8))))
    jb.store(ir.Constant(F32, 0.0), pair)
    jb.store(jb.load(hi, typ=F32), _ptr(jb, pair, 4))
    jb.ret_void()
    parallel_for(k.mod, b, f, [k.ins[0], k.ins[1], k.scratch], groups)

    # phase 3: P's parameters, the context's factor
    s_p, _ = finish_params(k, par["p"], groups)
    b.store(b.trunc(zp_v, I32), _ptr(b, par["p"], 8))    # P rows' terms: -zp_v * sum q
    _fill(b, par["f2"], context.n_pad, b.fmul(s_p, s_v))

    # phase 4: per head, P_h V_h into the output's rows
    f, jb, (v_in, out, scratch), g = job_function(k.mod, "attn_context", 3)
    bi, h = jb.sdiv(g, c64(heads)), jb.srem(g, c64(heads))
    at, sp = _head_pointers(jb, scratch, shared, head, g)
    qz = Quantizer(k, jb, sp["p"])
    zb = jb.load(_ptr(jb, sp["p"], 8), typ=I32)
    with loop(jb, sq, "p_row") as r:
        pack_row(k, jb, qz, _ptr(jb, at["p"], jb.mul(r, c64(4 * sk))),
                 _ptr(jb, at["a2"], jb.mul(r, c64(context.a_stride))), sk, context.kpad, zb)
    _quantize_rows(k, jb, Quantizer(k, jb, sp["v"]), v_in, at["v8"], bi, h, sk, heads, dv)
    za, zb = (jb.load(_ptr(jb, sp[name], 4), typ=I32) for name in ("p", "v"))
    jb.call(pack_b(k, sk, dv, context.n_kq), [at["v8"], at["w2"], at["c2"], za, zb])
    first = _ptr(jb, out, jb.mul(jb.add(jb.mul(bi, c64(sq * heads)), h), c64(4 * dv)))   # out[bi, 0, h, 0]
    _head_gemm(k, jb, context, at["a2"], at["w2"], at["c2"], sp["f2"], first, heads * dv,
               _float_epilogue(k, op.context(), heads * dv))
    jb.ret_void()
    parallel_for(k.mod, b, f, [k.ins[2], k.outs[0], k.scratch], groups)


def _ordered_max(b, value, cur):
    """value > cur ? value : cur (kernels_dynamic_pack.minmax_part's rule: a NaN never wins)."""
    return b.select(b.fcmp_ordered(">", value, cur), value, cur)


def _fill(b, at, n: int, value) -> None:
    with loop(b, n, "f") as i:
        b.store(value, b.gep(at, [i], source_etype=F32))


def _head_pointers(b, scratch, shared: Slices, head: Slices, g):
    """(the head's regions, the shared regions) as pointers in a job's builder."""
    base = _ptr(b, scratch, b.add(c64(shared.end), b.mul(g, c64(head.end))))
    return ({name: _ptr(b, base, off) for name, off in head.at.items()},
            {name: _ptr(b, scratch, off) for name, off in shared.at.items()})


def _row(b, x, bi, r, h, s: int, heads: int, d: int):
    """&x[bi, r, h, 0] of a float32 [B, S, H, D] tensor."""
    return _ptr(b, x, b.mul(b.add(b.mul(b.add(b.mul(bi, c64(s)), r), c64(heads)), h), c64(4 * d)))


def _quantize_rows(k, b, qz, x, dst, bi, h, s: int, heads: int, d: int, stride: int | None = None) -> None:
    """dst[r, :d] = q(x[bi, r, h, :]) as int8, rows `stride` bytes apart (default d), zero bytes from d
    to the stride (kernels_dynamic_pack.quantize_range's values)."""
    stride = d if stride is None else stride
    with loop(b, s, "row") as r:
        row = _ptr(b, dst, b.mul(r, c64(stride)))
        quantize_range(k, b, qz, _row(b, x, bi, r, h, s, heads, d), row, c64(0), d)
        for c in range(d, stride):
            b.store(ir.Constant(I8, 0), _ptr(b, row, c))


def _zero(k, b, at, nbytes: int) -> None:
    if nbytes:
        memset = k.mod.intrinsic("llvm.memset.p0.i64", VOID, [PTR, I8, I64, I1])
        b.call(memset, [at, ir.Constant(I8, 0), c64(nbytes), ir.Constant(I1, 0)])


def pack_bt(k, kd: int, n: int, n_kq: int):
    """pack_bt(bt, dst_w, dst_c, za, zb): kernels_qmatmul_pack.pack_b's bytes and column terms of
    b = bt^T, from bt [n_pad][kpad] int8 (B's columns as rows, zero past K and past N). Block (ob, kq)
    takes `depth` bytes of each of its `lanes` rows (one load each, no mask), so its elements come in
    column order j * depth + d, which one shuffle puts in the dot step's order (block_order composed
    with that transposition); colsum[j] = the row sums, from the blocks' bytes summed over kq."""
    spec = k.spec
    lanes, depth, wblock = spec.lanes, spec.depth, spec.weight_block
    kpad, n_ob = n_kq * depth, -(-n // lanes)
    wide = spec.weight_parts == 2
    src = block_order(spec)
    order = [int(x % lanes) * depth + int(x // lanes) for x in src]
    word, count = ir.IntType(8 * depth), lanes * depth
    vbytes, vacc = ir.VectorType(I8, count), ir.VectorType(I32, count)
    f, b = k.mod.function(k.mod.unique("attn_pack_bt"), VOID, [PTR, PTR, PTR, I32, I32])
    bt, dst_w, dst_c, za, zb = f.args
    for arg in f.args[:3]:
        arg.add_attribute("noalias")
    with loop(b, n_ob, "ob") as ob:
        acc = var(b, vacc, ir.Constant(vacc, [0] * count), "colsum")
        with loop(b, n_kq, "kq") as kq:
            words = ir.Constant(ir.VectorType(word, lanes), None)
            for j in range(lanes):
                at = b.add(b.mul(b.add(b.mul(ob, c64(lanes)), c64(j)), c64(kpad)), b.mul(kq, c64(depth)))
                words = b.insert_element(words, b.load(_ptr(b, bt, at), typ=word, align=1), ir.Constant(I32, j))
            whole = b.bitcast(words, vbytes)
            b.store(b.add(b.load(acc, typ=vacc), b.sext(whole, vacc)), acc)
            if wide:
                whole = b.sext(whole, ir.VectorType(I16, count))
            packed = b.shuffle_vector(whole, ir.Constant(whole.type, None),
                                      ir.Constant(ir.VectorType(I32, len(order)), order))
            b.store(packed, _ptr(b, dst_w, b.mul(b.add(b.mul(ob, c64(n_kq)), kq), c64(wblock))), align=1)
        sums = b.load(acc, typ=vacc)
        vsum = ir.VectorType(I32, lanes)
        colsum = ir.Constant(vsum, [0] * lanes)
        for d in range(depth):
            colsum = b.add(colsum, b.shuffle_vector(sums, ir.Constant(vacc, None),
                                                    ir.Constant(vsum, [j * depth + d for j in range(lanes)])))
        scale = b.sub(ir.Constant(I32, -spec.activation_offset), za)           # -(offset + za)
        constant = b.mul(b.mul(ir.Constant(I32, kd), za), zb)                  # K za zb, wrapping
        term = b.add(b.mul(colsum, _splat(b, scale, lanes)), _splat(b, constant, lanes))
        b.store(term, _ptr(b, dst_c, b.mul(ob, c64(4 * lanes))), align=1)
    b.ret_void()
    return f


def _head_gemm(k, b, p: Product, a_at, w_at, c_at, f_at, out_at, row_stride: int, epilogue) -> None:
    """Every tile of one head's product, in the job's builder b: kernels_qmatmul._emit_gemm's tiles
    (the same micro-kernels, row terms and epilogue), rows row_stride floats apart at out_at."""
    spec = k.spec
    lanes, wblock = spec.lanes, spec.weight_block
    arm_tiles = {"smmla": kernels_mmla.MR_FOR_NR, "smull": kernels_neon.MR_FOR_NR}
    plan = kernels_dot.gemm_plan(p.m, p.n_ob, 1, p.kpad, lanes, spec.registers, arm_tiles.get(spec.instruction))
    mr, nr = plan["mr"], plan["nr"]
    full_chunks, last_cols = p.n_ob // nr, p.n_ob % nr
    live_last = p.n - (p.n_ob - 1) * lanes
    kernel = kernels_mmla.micro_kernel if spec.instruction == "smmla" else kernels_dot._micro_kernel
    variants = {}

    def variant(rows, cols, last):
        if (rows, cols, last) not in variants:
            variants[rows, cols, last] = kernel(k, "attn_tile", rows, cols, p.n_kq, p.a_stride, row_stride,
                                                live_last if last else lanes, None, row_terms=True,
                                                epilogue=epilogue)
        return variants[rows, cols, last]

    def chunk(blk, cols: int, last: bool) -> None:
        w = _ptr(b, w_at, b.mul(blk, c64(p.n_kq * wblock)))
        c, fac = (_ptr(b, t, b.mul(blk, c64(4 * lanes))) for t in (c_at, f_at))
        out = _ptr(b, out_at, b.mul(blk, c64(4 * lanes)))

        def call(rows, r0):
            b.call(variant(rows, cols, last), [_ptr(b, a_at, b.mul(r0, c64(p.a_stride))), w,
                                               _ptr(b, out, b.mul(r0, c64(4 * row_stride))), c, fac, fac])
        if p.m // mr:
            with loop(b, p.m // mr, "tile") as t:
                call(mr, b.mul(t, c64(mr)))
        if p.m % mr:
            call(p.m % mr, c64(p.m // mr * mr))

    ends_full = last_cols == 0
    if full_chunks > ends_full:
        with loop(b, full_chunks - ends_full, "chunk") as ch:
            chunk(b.mul(ch, c64(nr)), nr, False)
    if ends_full:
        chunk(c64((full_chunks - 1) * nr), nr, True)
    else:
        chunk(c64(full_chunks * nr), last_cols, True)


def why_not_dynamic_attention(node, graph) -> str | None:
    """The micro-kernels' accumulator bound for both products, K = D and K = Sk.

    fuse_attention proves it; a graph built by hand may not."""
    from ... import fixedpoint
    for kd in (graph.types[node.inputs[0]].shape[3], graph.types[node.inputs[1]].shape[1]):
        if fixedpoint.max_abs_accumulator(kd, w_max=255, x_span=255) > fixedpoint.INT32_MAX:
            return (f"K = {kd} is too deep for int32 accumulators (K * 255 * 255 must be at most 2^31 - 1); "
                    f"fuse_attention leaves such products unfused")
    return None
