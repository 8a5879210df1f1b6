"""A GEMM job's row tiles with each tile's float epilogue run inside the next tile's depth loop.

A long float epilogue (DynamicDenseGelu's GELU: about 40 vector operations per output vector, a
dependency chain of some 100 cycles) that follows its tile's depth loop runs mostly alone: the
out-of-order window holds a fraction of a tile's epilogues, so the next tile's vpdpbusd wait.
MiniLM's FFN-in node: 0.364 ms with the GELU left out of the epilogue, 0.449 ms with it.

Here the full row tiles of one job's chunk run as a software pipeline. Tile t stores its MR x NR
finished int32 accumulators (row terms added) into a job-local buffer; tile t + 1's depth loop,
unrolled by U = n_kq // (MR NR) steps, starts iteration q with the epilogue of buffer vector q
(row q // NR, block q % NR of tile t: out - (MR - row) o_total floats, the block's factors, biases
and extra values at j lanes), then its U depth steps (a second loop takes the n_kq - U MR NR steps
left). Tile t + 1 is the row tile below t in the same chunk: the same weights and per-channel
tables. After the chunk's last full tile a flush function runs the buffer's epilogues (interleaved
as before, interleave.py); the tail row tile and a last chunk with a channel tail keep the plain
micro-kernel, and so do jobs of one tile (nothing to overlap) and depths below MR NR steps.
Every output vector gets the same epilogue operations on the same int32 accumulator as in
kernels_tile._micro_kernel: the same values, in another instruction order.

Measured (MiniLM, x86-vnni, 1 thread, per DynamicDenseGelu node): 0.449 -> 0.42 ms. Where the
epilogue sits in the iteration matters: first, 0.421 ms; after 1, 2 or 3 of its 4 depth steps
0.435-0.47, 0.458, 0.48; two epilogues an iteration of 8 steps 0.445; one per peeled step at the
start of the depth loop (24 steps straight-line) or the epilogues as a loop over the tile's rows
after it, 0.47 (slower than none).
"""
from __future__ import annotations

from llvmlite import ir

from . import dots
from .irgen import I8, I32, I64, PTR, VOID, c64, loop
from .kernels_depthwise import _ptr
from .kernels_tile import row_term



def usable(spec, epilogue, rows, tiles_per_job: int) -> bool:
    """The pipeline's case (the measured one): an AVX-512 VNNI float epilogue of a single-matrix GEMM
    without whole-row jobs, whose jobs hold two row tiles or more (with one, only the buffer's stores
    and loads would be added)."""
    return (epilogue is not None and rows is None and tiles_per_job > 1 and spec.arch == "x86"
            and spec.instruction == "vpdpbusd" and spec.lanes == 16)


def _tile(k, mr: int, nr: int, n_kq: int, a_stride: int, o_total: int, epilogue, has_prev: bool) -> ir.Function:
    """tile(a, w, out, bias, mult, shift, buf): kernels_tile._micro_kernel's depth loop and row terms
    (x86 dot products, every block `lanes` channels wide), the result stored into buf; with has_prev,
    the epilogues of buf's vectors as they were (the tile above: out - MR * o_total floats), one in
    each of the first MR NR iterations of the depth loop unrolled U times."""
    spec = k.spec
    lanes, depth, block = spec.lanes, spec.depth, spec.weight_block
    vi32, vi8 = ir.VectorType(I32, lanes), ir.VectorType(I8, spec.block)
    f, b = k.mod.function(k.mod.unique("qmm_tile_pp"), VOID, [PTR] * 7)
    a, w, out, bias, mult, shift, buf = f.args
    for arg in f.args:
        arg.add_attribute("noalias")
    splat = ir.Constant(vi32, [0] * lanes)
    n_vec = mr * nr

    def step(accs, kq):
        weights = [b.load(_ptr(b, w, b.add(c64(j * n_kq * block), b.mul(kq, c64(block)))), typ=vi8,
                          align=min(64, spec.block)) for j in range(nr)]
        new = []
        for r in range(mr):
            word = b.load(_ptr(b, a, b.add(c64(r * a_stride), b.mul(kq, c64(depth)))), typ=I32, align=1)
            first = b.insert_element(ir.Constant(vi32, None), word, ir.Constant(I32, 0))
            u = b.bitcast(b.shuffle_vector(first, ir.Constant(vi32, None), splat), vi8)
            new.append([dots.accumulate(k.mod, b, spec, accs[r][j], u, weights[j]) for j in range(nr)])
        return new

    def depth_loop(accs, start: int, n_iter: int, unroll: int, with_epilogue: bool):
        """n_iter iterations of `unroll` depth steps from step `start`; iteration q also runs buffer
        vector q's epilogue when with_epilogue."""
        if n_iter == 0:
            return accs
        entry = b.block
        body = f.append_basic_block("k")
        end = f.append_basic_block("k.end")
        b.branch(body)
        b.position_at_end(body)
        it = b.phi(I64, "it")
        it.add_incoming(c64(0), entry)
        phis = [[b.phi(vi32, f"acc{r}_{j}") for j in range(nr)] for r in range(mr)]
        for r in range(mr):
            for j in range(nr):
                phis[r][j].add_incoming(accs[r][j], entry)
        new = phis
        if with_epilogue:       # first in the iteration (measured: 6 % faster than after its steps)
            r, j = b.sdiv(it, c64(nr)), b.srem(it, c64(nr))        # vector q = it of the tile above
            acc = b.load(_ptr(b, buf, b.mul(it, c64(4 * lanes))), typ=vi32, align=64)
            at = b.add(b.mul(b.sub(r, c64(mr)), c64(4 * o_total)), b.mul(j, c64(4 * lanes)))
            epilogue(b, acc, 0, 0, _ptr(b, out, at), _ptr(b, mult, b.mul(j, c64(4 * lanes))), lanes)
        kq0 = b.add(c64(start), b.mul(it, c64(unroll)))
        for u in range(unroll):
            new = step(new, b.add(kq0, c64(u)))
        nxt = b.add(it, c64(1))
        it.add_incoming(nxt, b.block)
        for r in range(mr):
            for j in range(nr):
                phis[r][j].add_incoming(new[r][j], b.block)
        b.cbranch(b.icmp_signed("<", nxt, c64(n_iter)), body, end)
        b.position_at_end(end)
        return new

    accs = [[b.load(_ptr(b, bias, 4 * j * lanes), typ=vi32, align=4) for j in range(nr)] for _ in range(mr)]
    unroll = n_kq // n_vec if has_prev else 0
    if unroll:
        accs = depth_loop(accs, 0, n_vec, unroll, True)
    accs = depth_loop(accs, unroll * n_vec, n_kq - unroll * n_vec, 1, False)
    for q in range(n_vec):
        r, j = divmod(q, nr)
        acc = b.add(accs[r][j], row_term(b, a, r * a_stride + n_kq * depth, lanes))
        b.store(acc, _ptr(b, buf, 4 * lanes * q), align=64)
    b.ret_void()
    return f


def _flush(k, mr: int, nr: int, epilogue) -> ir.Function:
    """flush(out, mult, buf): the epilogues of buf's MR x NR vectors (a chunk's last full tile)."""
    lanes = k.spec.lanes
    f, b = k.mod.function(k.mod.unique("qmm_flush_pp"), VOID, [PTR] * 3)
    out, mult, buf = f.args
    for arg in f.args:
        arg.add_attribute("noalias")
    for q in range(mr * nr):
        r, j = divmod(q, nr)
        acc = b.load(_ptr(b, buf, 4 * lanes * q), typ=ir.VectorType(I32, lanes), align=64)
        epilogue(b, acc, r, j, out, mult, lanes)
    b.ret_void()
    return f


class Pipeline:
    """The pipelined tile functions of one GEMM (one per (cols, has_prev), a flush per cols) and the
    job loop that calls them. Only chunks whose blocks are all `lanes` channels wide and depths of
    at least MR NR steps: run() returns False for the others (the caller's plain tiles)."""

    def __init__(self, k, mr: int, n_kq: int, a_stride: int, o_total: int, live_last: int, lanes: int, epilogue):
        self.k, self.mr, self.n_kq, self.a_stride, self.o_total = k, mr, n_kq, a_stride, o_total
        self.live_last, self.lanes, self.epilogue = live_last, lanes, epilogue
        self.fns: dict[tuple, ir.Function] = {}

    def _fn(self, key, make):
        if key not in self.fns:
            self.fns[key] = make()
        return self.fns[key]

    def run(self, b: ir.IRBuilder, n_full, first_row, cols: int, last: bool, a_at, w_at, out_at, q_at,
            out_size: int) -> bool:
        """The n_full full row tiles from row first_row, in a chunk of `cols` blocks."""
        if (last and self.live_last < self.lanes) or self.n_kq < self.mr * cols:
            return False
        with b.goto_entry_block():
            buf = b.alloca(ir.ArrayType(I8, 4 * self.lanes * self.mr * cols), name="pp_buf")
            buf.align = 4 * self.lanes           # one vector register: the aligned loads and stores above
        buf = b.bitcast(buf, PTR)

        def out_of(dt):
            return _ptr(b, out_at, b.mul(b.add(first_row, b.mul(dt, c64(self.mr))), c64(self.o_total * out_size)))

        def call(has_prev, dt):
            fn = self._fn((cols, has_prev), lambda: _tile(
                self.k, self.mr, cols, self.n_kq, self.a_stride, self.o_total, self.epilogue, has_prev))
            row = b.add(first_row, b.mul(dt, c64(self.mr)))
            b.call(fn, [_ptr(b, a_at, b.mul(row, c64(self.a_stride))), w_at, out_of(dt), *q_at, buf])
        with b.if_then(b.icmp_signed(">", n_full, c64(0))):
            call(False, c64(0))
            with loop(b, b.sub(n_full, c64(1)), "tile_pp") as dt:
                call(True, b.add(dt, c64(1)))
            flush = self._fn(cols, lambda: _flush(self.k, self.mr, cols, self.epilogue))
            b.call(flush, [out_of(b.sub(n_full, c64(1))), q_at[1], buf])
        return True
