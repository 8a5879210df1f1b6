"""The LayerNorm row pass of kernels_float_vec (the LayerNorm node's row jobs, a DynamicDenseAddNorm's
GEMM jobs) as a three-stage software pipeline over groups of rows, the rows' float64 values kept in L1.

Each row's arithmetic is kernels_float_vec's, in float64 (x, scale, bias widened: exact):

    S1  mu  = sum(x) / n                        each sum in vecmath's order (lane-wise partial sums
    S2  c = x - mu;  var = sum(c * c) / n         over the vector steps, a halving tree, the tail last)
        d = sqrt(var + eps),  inv = 1 / d
    S3  y = float32(divide(c, d, inv) * scale + bias)     (vecmath.divide_for: on x86-vnni Markstein's
                                                           correction from inv, three multiply-adds)

The stash, an array in the job's frame: `slots` slots of `rows` rows of n float64 values, then scale
and bias widened once per job. S1 widens x once and keeps it in its group's slot; S2 reads it back and
keeps c there in its place; S3 reads c. With three slots, iteration t of the pipeline runs, in one
loop over the row's vector steps, S1 of group t, S2 of group t - 1 and S3 of group t - 2 (slots t,
t - 1, t - 2 mod 3), then finishes group t's mean and group t - 1's deviation. Why: all four float
pipes stay busy (S3 is multiplies and multiply-adds, S1 and S2 conversions, additions and stores),
and the latency of a group's reductions between its passes hides behind the other groups' steps.
Each row's operations and their order are a row's alone, so its values are too.

stash_plan(n), within STASH_BYTES (24 KiB: three quarters of a 32 KiB L1 data cache; a 30 KiB stash
measured 0.035 to 0.066 ms from run to run on the shared machine, the 24 KiB one 0.0335 every time):
three slots of 2 rows (n <= 384) or 1 row (n <= 614), else one slot of 2 rows (n <= 768) or 1 row
(n <= 1024), the groups one by one (S1, S2, S3 each a loop), else no stash: LN_ROWS rows in
lockstep, x read from its float32 source in each pass. Pipelined jobs with fewer than two whole groups also run
their groups one by one; the rows after the last whole group run one at a time.
Measured on Zen 4 (1 thread, a LayerNorm node of 128 rows, the median of 15 rounds): n = 384
0.0231 ms -> 0.0148 (the pipeline), n = 768 0.0459 -> 0.0335 (2 rows a group, one by one).
"""
from __future__ import annotations

from llvmlite import ir

from . import vecmath
from .irgen import F32, F64, I32, c64, loop, var
from .vecmath import const, reduce_tree, splat, vec, vload, vstore

STASH_BYTES = 24 * 1024  # the stash's size at most (stash_plan)
JOB_ROWS = 32           # a LayerNorm node's row jobs hold a multiple of this many rows (the pipeline's fill
                        # and drain, two iterations each, spread over 16 groups)


def stash_plan(n: int) -> tuple[int, int]:
    """(slots, rows a group) for rows of n elements, the stash within STASH_BYTES: three slots (the
    pipeline) of 2 or 1 rows, else one slot of 2 or 1 rows (the groups one by one), else (0, 0)."""
    for slots, sizes in ((3, (2, 1)), (1, (2, 1))):
        for size in sizes:
            if (slots * size + 2) * n * 8 <= STASH_BYTES:
                return slots, size
    return 0, 0


def layer_norm_rows(k, n: int, eps: float, span, lockstep_rows: int):
    """body(b, (x, scale, bias), (out,), r0, r1) normalizing rows [r0, r1) (out may be x: each element
    is read before it is written). span: kernels_float_vec._span; lockstep_rows: the group size of
    the form without a stash (kernels_float_vec.LN_ROWS)."""
    lanes = k.spec.lanes
    sqrt = k.mod.intrinsic("llvm.sqrt.f64", F64, [F64])
    divide = vecmath.divide_for(k.spec)
    vf, vd = vec(lanes), vec(lanes, F64)
    slots, rows = stash_plan(n)

    def body(b, ins, outs, r0, r1):
        x, scale, bias = ins
        stash = None
        if slots:
            with b.goto_entry_block():
                stash = b.alloca(F64, size=c64((slots * rows + 2) * n), name="ln_stash")
                stash.align = 8 * lanes       # one float64 vector of `lanes` elements

        def widen(v, is_vec):
            return b.fpext(v, vd if is_vec else F64)

        def stash_at(row, j, t):
            """&stash[row][j] (row: an i64 value) as a pointer to t"""
            at = b.gep(stash, [b.add(b.mul(row, c64(n)), j)], source_etype=F64)
            return b.bitcast(at, ir.PointerType(t)) if isinstance(t, ir.VectorType) else at

        def from_stash(row, j, is_vec):
            t = vd if is_vec else F64
            return b.load(stash_at(row, j, t), typ=t, align=8)

        def to_stash(v, row, j):
            b.store(v, stash_at(row, j, v.type), align=8)

        class Group:
            """rows first .. first + size - 1 in stash slot `slot`; mus, denoms, invs once known."""
            def __init__(self, first, size: int, slot=c64(0), mus=None, denoms=None, invs=None):
                self.first, self.size, self.slot = first, size, slot
                self.mus, self.denoms, self.invs = mus, denoms, invs

            def base(self, i):
                return b.mul(b.add(self.first, c64(i)), c64(n))

            def source(self, i, j, is_vec):
                return widen(vload(b, x, b.add(self.base(i), j), vf if is_vec else F32), is_vec)

            def row(self, i):
                return b.add(b.mul(self.slot, c64(rows)), c64(i))

            def centred(self, i, j, is_vec):
                mu = splat(b, self.mus[i], lanes) if is_vec else self.mus[i]
                x64 = self.source(i, j, is_vec) if stash is None else from_stash(self.row(i), j, is_vec)
                return b.fsub(x64, mu)

        if stash is not None:                   # scale and bias widened once, after the slots
            def wide_params(j, is_vec):
                for which, src in enumerate((scale, bias)):
                    to_stash(widen(vload(b, src, j, vf if is_vec else F32), is_vec), c64(slots * rows + which), j)
            span(b, n, lanes, wide_params)

        def params(j, is_vec):
            if stash is None:
                t = vf if is_vec else F32
                return widen(vload(b, scale, j, t), is_vec), widen(vload(b, bias, j, t), is_vec)
            return tuple(from_stash(c64(slots * rows + which), j, is_vec) for which in (0, 1))

        def sums(g: Group):
            """(add(i, value, is_vec), totals()): row i's float64 sum in vecmath's order."""
            accs = [(var(b, vd, const(vd, 0.0), "acc_v"), var(b, F64, const(F64, 0.0), "acc_t"))
                    for _ in range(g.size)]

            def add(i, v, is_vec):
                acc, t = (accs[i][0], vd) if is_vec else (accs[i][1], F64)
                b.store(b.fadd(b.load(acc, typ=t), v), acc)

            def totals():
                return [b.fadd(reduce_tree(b, b.load(v, typ=vd), b.fadd), b.load(s, typ=F64)) for v, s in accs]
            return add, totals

        def s1(g: Group):
            add, totals = sums(g)

            def step(j, is_vec):
                for i in range(g.size):
                    v = g.source(i, j, is_vec)
                    if stash is not None:
                        to_stash(v, g.row(i), j)
                    add(i, v, is_vec)

            def finish():
                g.mus = [b.fdiv(s, const(F64, float(n))) for s in totals()]
            return step, finish

        def s2(g: Group):
            add, totals = sums(g)

            def step(j, is_vec):
                for i in range(g.size):
                    c = g.centred(i, j, is_vec)
                    if stash is not None:
                        to_stash(c, g.row(i), j)
                    add(i, b.fmul(c, c), is_vec)

            def finish():
                g.denoms = [b.call(sqrt, [b.fadd(b.fdiv(s, const(F64, float(n))), const(F64, eps))])
                            for s in totals()]
                g.invs = [b.fdiv(const(F64, 1.0), d) for d in g.denoms]
            return step, finish

        def narrow_store(y, at, is_vec):
            """y rounded to float32 and stored at out[at]; 16 lanes as two halves of 8 (no lane-crossing
            insert to join them: 2 to 5 % faster on Zen 4; the same values, lane by lane)"""
            if not is_vec or lanes < 16:
                return vstore(b, b.fptrunc(y, vf if is_vec else F32), outs[0], at)
            half = lanes // 2
            for h in range(2):
                part = b.shuffle_vector(y, y, ir.Constant(vec(half, I32), list(range(h * half, (h + 1) * half))))
                vstore(b, b.fptrunc(part, vec(half)), outs[0], b.add(at, c64(h * half)))

        def s3(g: Group):
            def step(j, is_vec):
                gamma, beta = params(j, is_vec)     # shared by the group's rows
                for i in range(g.size):
                    d, inv = g.denoms[i], g.invs[i]
                    if is_vec:
                        d, inv = splat(b, d, lanes), splat(b, inv, lanes)
                    c = g.centred(i, j, is_vec) if stash is None else from_stash(g.row(i), j, is_vec)
                    y = b.fadd(b.fmul(divide(k.mod, b, c, d, inv), gamma), beta)
                    narrow_store(y, b.add(g.base(i), j), is_vec)
            return step, lambda: None

        def fused(*stages):
            """one loop over the row's steps running each stage's step, then their finishes"""
            def step(j, is_vec):
                for one, _ in stages:
                    one(j, is_vec)
            span(b, n, lanes, step)
            for _, finish in stages:
                finish()

        def one_by_one(first, size: int):
            g = Group(first, size)
            for stage in (s1, s2, s3):
                fused(stage(g))

        count = b.sub(r1, r0)
        size = rows or lockstep_rows
        groups = b.sdiv(count, c64(size))
        if slots < 3:
            with loop(b, groups, "rows") as t:
                one_by_one(b.add(r0, b.mul(t, c64(size))), size)
        else:
            with b.if_else(b.icmp_signed(">=", groups, c64(2))) as (pipelined, sequential):
                with pipelined:
                    _pipeline(b, groups, r0, rows, Group, (s1, s2, s3), fused)
                with sequential:
                    with loop(b, groups, "rows") as t:
                        one_by_one(b.add(r0, b.mul(t, c64(size))), size)
        done = b.mul(groups, c64(size))
        with loop(b, b.sub(count, done), "row") as i:
            one_by_one(b.add(b.add(r0, done), i), 1)
    return body


def _pipeline(b, groups, r0, rows: int, Group, stages, fused) -> None:
    """groups >= 2 groups of `rows` rows from r0 through the three stages (module docstring): the fill
    (t = 0, 1), the steady loop (t = 2 .. groups - 1), the drain (t = groups, groups + 1). The means
    and deviations of the groups in S2 and S3 live in variables across the loop's iterations."""
    s1, s2, s3 = stages

    def group(t, **known):
        t = c64(t) if isinstance(t, int) else t
        return Group(b.add(r0, b.mul(t, c64(rows))), rows, b.urem(t, c64(3)), **known)

    def slots(name):
        return [var(b, F64, const(F64, 0.0), f"{name}{i}") for i in range(rows)]
    mu2, mu3, d3, inv3 = slots("mu2_"), slots("mu3_"), slots("d3_"), slots("inv3_")

    def keep(vs, values):
        for v, value in zip(vs, values):
            b.store(value, v)

    def load(vs):
        return [b.load(v, typ=F64) for v in vs]

    def shift(mid, new):
        """the group in S2 moves to S3, the one in S1 to S2"""
        keep(mu3, mid.mus), keep(d3, mid.denoms), keep(inv3, mid.invs)
        keep(mu2, new.mus)
    g0, g1 = group(0), group(1)
    fused(s1(g0))                                          # t = 0
    fused(s1(g1), s2(g0))                                  # t = 1
    shift(g0, g1)
    with loop(b, b.sub(groups, c64(2)), "pipe") as i:      # t = i + 2
        t = b.add(i, c64(2))
        new, mid = group(t), group(b.sub(t, c64(1)), mus=load(mu2))
        old = group(b.sub(t, c64(2)), mus=load(mu3), denoms=load(d3), invs=load(inv3))
        fused(s1(new), s2(mid), s3(old))
        shift(mid, new)
    last = b.sub(groups, c64(1))
    mid = group(last, mus=load(mu2))
    old = group(b.sub(last, c64(1)), mus=load(mu3), denoms=load(d3), invs=load(inv3))
    fused(s2(mid), s3(old))                                # t = groups
    fused(s3(mid))                                         # t = groups + 1
