"""The float32 Softmax rows of the llvm backend: the Softmax node's loops (kernels_float_vec.emit_softmax)
and the fused DynamicAttention's (kernels_attention.py), one function so both give the same values.

Per row of n elements (vectors of L lanes, then the n mod L tail as scalars):
    m = max(x)          from x[0], a > c ? a : c in order: a NaN x[0] gives NaN, other NaNs are skipped
    e = exp(x - m)      vecmath.exp_for(spec), within 1 ulp; x - m <= 0 or NaN, so exp's clamp to
                        EXP_HI (a select that would return its input) is left out
    s = sum(e)          vecmath's order: lane-wise partial sums in ascending j, a halving tree, the tail last
    y = e / s           one float32 division per element (the reference's quotient)

The schedule, which moves no value (each row's operations and their order are a lone row's):
  - SOFTMAX_ROWS rows in lockstep: each step of a pass emits every row's operations, so the rows'
    reductions (a max and a sum tree, whose latency a lone row of 8 vectors waits on) overlap.
  - the exp pass takes EXP_UNIT vectors a step, their EXP_UNIT exps in one basic block (behind one
    branch): their independent chains of fused multiply-adds interleave. The branch skips the
    step when every lane of its vectors is below vecmath.EXP_LO (an attention mask's padded columns:
    exp is +0.0 in each such lane), whose compare exp reuses for its own small-lane select.
  - the division pass of a group of rows runs inside the next group's exp pass (each exp step also
    divides the previous group's elements at its own columns), so vdivps works beside the exps'
    multiply-adds; the last group's and a lone last row's divisions follow alone.
  Measured on Zen 4 (DynamicAttention, 1 thread, A/B of CPU time): the first two 0.94x of one row a
  step with a branch per vector (MiniLM); the third 0.99x at sequence 128, 0.97x at 384 (BERT-base
  heads); the exp pass is then within 15 % of its multiply-add bound.
  The division by vecmath.divide_by (Markstein's correction from r = 1 / s, three multiply-adds a
  vector, guarded to the quotients it rounds correctly) measured 1.4 - 3.7 % slower here for every
  share of the vectors given to it: the exps fill the multiply-add pipes while vdivps runs beside them.

on_reciprocal(r): called with each row's r = 1 / s, rounded (the fused kernel's maximum of P: when m is
finite the row's largest y is its maximum's 1 / s, since that e is exp(0) = 1 exactly and every other
e is in [0, 1]; a row with a NaN anywhere, or an infinite m, has s NaN, r NaN and y NaN throughout).
"""
from __future__ import annotations

from . import vecmath
from .irgen import F32, I64, c64, loop, var
from .kernels_float_vec import _rows, _span, lanes_of
from .vecmath import const, reduce_tree, splat, vec, vload, vstore

SOFTMAX_ROWS = 2       # rows in lockstep (1, 2 and 4 measured on Zen 4: 2 best)
EXP_UNIT = 4           # vectors per exp step (1, 2, 4 and 8 measured: 4 best)


def softmax_rows(k, b, x, y, r0, r1, n: int, on_reciprocal=None) -> None:
    """Rows [r0, r1) of n float32 elements at x, their Softmax to y (y may be x: each element is
    read before it is written), emitted in builder b (module docstring: the arithmetic)."""
    lanes = lanes_of(k)
    groups = b.sdiv(b.sub(r1, r0), c64(SOFTMAX_ROWS))
    bases = [var(b, I64, c64(0), "div_base") for _ in range(SOFTMAX_ROWS)]
    totals = [var(b, F32, const(F32, 0.0), "div_total") for _ in range(SOFTMAX_ROWS)]

    def group(g, behind):
        first = b.add(r0, b.mul(g, c64(SOFTMAX_ROWS)))
        ahead = _lockstep(k, b, x, y, [b.add(first, c64(i)) for i in range(SOFTMAX_ROWS)], n, on_reciprocal,
                          behind=behind)
        for slot, value in zip(bases + totals, ahead[0] + ahead[1]):
            b.store(value, slot)

    def pending():
        return [b.load(v, typ=I64) for v in bases], [b.load(v, typ=F32) for v in totals]
    with b.if_then(b.icmp_signed(">", groups, c64(0))):
        group(c64(0), None)
        with loop(b, b.sub(groups, c64(1)), "rows") as g:
            group(b.add(g, c64(1)), pending())
        late_bases, late_totals = pending()

        def divide(j, count):
            _divide(b, y, late_bases, late_totals, j, count, lanes)
        _span_units(b, n, lanes, EXP_UNIT, divide, "d")
    with _rows(b, b.add(r0, b.mul(groups, c64(SOFTMAX_ROWS))), r1) as r:
        ahead = _lockstep(k, b, x, y, [r], n, on_reciprocal)

        def divide_last(j, count):
            _divide(b, y, ahead[0], ahead[1], j, count, lanes)
        _span_units(b, n, lanes, EXP_UNIT, divide_last, "d")


def _divide(b, y, bases, totals, j, count, lanes) -> None:
    """y[base + j ...] /= total for each (base, total): count vectors, or one scalar when count is 0."""
    for base, total in zip(bases, totals):
        at = b.add(base, j)
        if count == 0:
            vstore(b, b.fdiv(vload(b, y, at, F32), total), y, at)
            continue
        total_v = splat(b, total, lanes)
        for u in range(count):
            where = b.add(at, c64(u * lanes))
            vstore(b, b.fdiv(vload(b, y, where, vec(lanes)), total_v), y, where)


def _span_units(b, n: int, lanes: int, unit: int, body, name: str) -> None:
    """body(j, count) over a row of n: steps of `unit` whole vectors (count = unit), then the remaining
    whole vectors one a step (count = 1), then the n mod lanes tail elements (count = 0: a scalar)."""
    full = n // lanes
    if full // unit:
        with loop(b, full // unit, f"{name}.u") as w:
            body(b.mul(w, c64(unit * lanes)), unit)
    if full % unit:
        with loop(b, full % unit, f"{name}.v") as v:
            body(b.add(b.mul(v, c64(lanes)), c64(full // unit * unit * lanes)), 1)
    if n % lanes:
        with loop(b, n % lanes, f"{name}.t") as t:
            body(b.add(t, c64(full * lanes)), 0)


def _lockstep(k, b, x, y, rows, n: int, on_reciprocal, behind=None):
    """The rows `rows` (row indices) in lockstep: the max pass and the exp pass; returns (the rows'
    element offsets, their sums) for their division. behind: (offsets, sums) of earlier rows whose
    division each exp step also does at its own columns (the divider works beside the exps'
    multiply-adds)."""
    lanes, exp = lanes_of(k), vecmath.exp_for(k.spec)
    vf = vec(lanes)
    bases = [b.mul(r, c64(n)) for r in rows]

    def at(i, j):
        return b.add(bases[i], j)

    firsts = [vload(b, x, base, F32) for base in bases]
    maxes = [(var(b, vf, splat(b, v, lanes), "max_v"), var(b, F32, v, "max_t")) for v in firsts]

    def biggest(j, is_vec):
        for i, slots in enumerate(maxes):
            slot, t = (slots[0], vf) if is_vec else (slots[1], F32)
            b.store(vecmath.fmax(b, vload(b, x, at(i, j), t), b.load(slot, typ=t)), slot)
    _span(b, n, lanes, biggest, "m")
    ms = [vecmath.fmax(b, reduce_tree(b, b.load(m_v, typ=vf), lambda p, q: vecmath.fmax(b, p, q)),
                       b.load(m_t, typ=F32)) for m_v, m_t in maxes]
    ms_v = [splat(b, m, lanes) for m in ms]
    sums = [(var(b, vf, const(vf, 0.0), "sum_v"), var(b, F32, const(F32, 0.0), "sum_t")) for _ in rows]

    def exps(j, count):
        for i in range(len(rows)):
            if count:
                ds = [b.fsub(vload(b, x, b.add(at(i, j), c64(u * lanes)), vf), ms_v[i]) for u in range(count)]
                es = _exps_of_unmasked(k, b, ds)
            else:
                es = [exp(k.mod, b, b.fsub(vload(b, x, at(i, j), F32), ms[i]), nonpositive=True)]
            slot = sums[i][0 if count else 1]
            for u, e in enumerate(es):                 # ascending j: vecmath's order of the sum
                vstore(b, e, y, b.add(at(i, j), c64(u * lanes)))
                b.store(b.fadd(b.load(slot, typ=e.type), e), slot)
        if behind is not None:
            _divide(b, y, behind[0], behind[1], j, count, lanes)
    _span_units(b, n, lanes, EXP_UNIT, exps, "e")
    totals = [b.fadd(reduce_tree(b, b.load(s_v, typ=vf), b.fadd), b.load(s_t, typ=F32)) for s_v, s_t in sums]
    if on_reciprocal is not None:
        for s in totals:
            on_reciprocal(b.fdiv(const(F32, 1.0), s))
    return bases, totals


def _exps_of_unmasked(k, b, ds):
    """vecmath.exp_for(spec)(d) of each vector d of ds (x - m: nonpositive), all skipped when every lane
    of every d is below vecmath.EXP_LO: exp returns +0.0 in each such lane, so vectors of +0.0 are their
    values (a NaN lane is not below: computed). The columns an attention mask removes (-10000 added) are
    whole vectors of a padded sentence's rows. The exps are one basic block: their chains interleave."""
    t = ds[0].type
    belows = [b.fcmp_ordered("<", d, const(t, vecmath.EXP_LO)) for d in ds]
    every = belows[0]
    for below in belows[1:]:
        every = b.and_(every, below)
    reduce_and = k.mod.intrinsic(f"llvm.vector.reduce.and.v{t.count}i1", every.type.element, [every.type])
    with b.if_else(b.call(reduce_and, [every])) as (masked, other):
        with masked:
            skipped = b.block
        with other:
            es = [vecmath.exp_for(k.spec)(k.mod, b, d, small=below, nonpositive=True) for d, below in zip(ds, belows)]
            computed = b.block
    outs = []
    for e in es:
        out = b.phi(t)
        out.add_incoming(const(t, 0.0), skipped)
        out.add_incoming(e, computed)
        outs.append(out)
    return outs
