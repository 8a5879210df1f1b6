"""Vectorized, threaded float32 kernels of token models' float regions: LayerNorm, Softmax, Erf and
Add / Sub / Mul / Div. They replace the scalar loops of kernels_float.py for the shapes they take
(below); other shapes fall back to those loops.

Vectors: L float32 lanes, the target's vector register (the [dot] table's int32 lanes: 16 on
x86-vnni zmm, 8 on x86-avx2 / x86-avxvnni ymm, 4 on the AArch64 NEON targets); each row runs
floor(n / L) vector steps, then its n mod L tail elements as scalars with the same arithmetic.
Threads: a node splits its rows into jobs of about MIN_JOB_ELEMS elements (at most MAX_JOBS
jobs, a multiple of 4 where the rows allow: job_split.py) and runs them with irgen.parallel_for;
a node of fewer elements stays one call on the
calling thread.

  LayerNorm  over axes [axis, rank), in float64 as the reference (x, scale, bias widened):
               mu = sum(x) / n;  var = sum((x - mu)^2) / n;  y = (x - mu) / sqrt(var + eps) * scale + bias
             the sums in vecmath's order (lane-wise partial sums, a halving tree, the tail last)
             instead of the reference's: the float64 sums differ in their last bits only, and
             y is rounded to float32 once, as the reference. The division by sqrt(var + eps) is
             vecmath.divide_for(spec): on x86-vnni Markstein's correction from the row's
             reciprocal (three multiply-adds per lane), the same correctly rounded quotient.
             The passes: kernels_layernorm_vec.py (the rows' float64 values kept in a stash in L1, the
             three passes of three row groups in one loop where the stash fits), else LN_ROWS rows at
             a time in lockstep (each step of a pass emits every row's operations, the scale and bias
             widened once for them); either way each row's operations and their order are a lone
             row's, so the values are too; the rows' dependency chains overlap.
  Softmax    along the last axis (inner size 1; other axes: kernels_float.emit_softmax), float32:
               m = max(x);  e = exp(x - m) (vecmath.exp_for(spec), within 1 ulp);  s = sum(e) (vecmath's order);
               y = e / s  (a division per element, as the reference)
             kernels_float_softmax.softmax_rows (its docstring: the rows in lockstep, the exps of a
             step interleaved, the skip of vectors an attention mask removes)
  Erf        vecmath.erf_for(spec): on x86 with 16 lanes vecmath.erf_table (float32 piecewise
             polynomials, 1.07 ulp), else vecmath.erf (a rational in float64 lanes, rounded once:
             2 ulp), instead of the reference's float64 erf rounded once
  Add / Sub / Mul / Div  float32, one IEEE operation per element: the reference's value exactly.
             Operands: the output's shape, a single element, or a trailing block of the output
             repeated along the leading axes (a bias [N] on [..., N], an attention mask
             [1, 1, 1, S] on [1, H, S, S]); any other broadcast: kernels_float.emit_float_binary.
             Add's fused clamp [act_min, act_max] as there.
"""
from __future__ import annotations

import math
from contextlib import contextmanager

import numpy as np

from ...ir import Node, ops
from . import kernels_float, kernels_layernorm_vec, vecmath
from .irgen import F32, c64, job_function, loop, parallel_for, var
from .vecmath import const, reduce_tree, splat, vec, vload, vstore
from .job_split import spread_rows

MIN_JOB_ELEMS = 8192   # elements per job, about (32 KiB of float32: far more work than the pool's hand-off;
                       # chosen, not tuned: this 2-core machine was never idle enough to tune it)
MAX_JOBS = 64
MIN_ROW = 256          # elementwise ops: rows of at least this many elements (a suffix of the shape)
LN_ROWS = 4            # LayerNorm rows normalized in lockstep (emit_layer_norm; 2 and 4 measured on Zen 4)


def _prod(shape) -> int:
    return int(np.prod(shape, dtype=np.int64))


def lanes_of(k) -> int:
    """float32 lanes of the target's vector register."""
    return k.spec.lanes


def _row_jobs(k, rows: int, row_elems: int, name: str, body, min_rows: int = 1) -> None:
    """body(b, ins, outs, r0, r1) emits rows [r0, r1) inside a job; the jobs run through parallel_for.
    Each job but the last holds a multiple of min_rows rows."""
    per_job = max(1, MIN_JOB_ELEMS // max(row_elems, 1))
    if math.ceil(rows / per_job) > MAX_JOBS:
        per_job = math.ceil(rows / MAX_JOBS)
    per_job = -(-per_job // min_rows) * min_rows
    n_jobs = math.ceil(rows / per_job)
    per_job, n_jobs = spread_rows(rows, n_jobs, MAX_JOBS, min_rows)   # 7 -> 8 jobs (job_split.py)
    ptrs = list(k.ins) + list(k.outs)
    f, b, vals, i = job_function(k.mod, name, len(ptrs))
    r0 = b.mul(i, c64(per_job))
    r1 = b.add(r0, c64(per_job))
    r1 = b.select(b.icmp_signed("<", r1, c64(rows)), r1, c64(rows))
    body(b, vals[:len(k.ins)], vals[len(k.ins):], r0, r1)
    b.ret_void()
    parallel_for(k.mod, k.b, f, ptrs, n_jobs)


@contextmanager
def _rows(b, r0, r1, name: str = "row"):
    """for r in [r0, r1): yields r."""
    with loop(b, b.sub(r1, r0), name) as i:
        yield b.add(i, r0)


def _span(b, n: int, lanes: int, body, name: str = "j") -> None:
    """body(j, vector) for the vector steps j = 0, L, 2L, ... < n - n mod L (vector=True), then
    body(j, False) for each tail element."""
    full = n // lanes
    if full:
        with loop(b, full, f"{name}.v") as v:
            body(b.mul(v, c64(lanes)), True)
    if n % lanes:
        with loop(b, n % lanes, f"{name}.t") as t:
            body(b.add(t, c64(full * lanes)), False)


# ---- LayerNorm ------------------------------------------------------------------------------

def emit_layer_norm(node: Node, k) -> None:
    shape = k.graph.types[node.inputs[0]].shape
    axis = node.op.axis % len(shape)
    n, rows = _prod(shape[axis:]), _prod(shape[:axis])
    _row_jobs(k, rows, n, "layer_norm_job", layer_norm_rows(k, n, float(node.op.epsilon)),
              kernels_layernorm_vec.JOB_ROWS)


def layer_norm_rows(k, n: int, eps: float):
    """The LayerNorm row pass over rows of n elements: body(b, (x, scale, bias), (out,), r0, r1) emits
    rows [r0, r1) (out may be x: each element is read before it is written, its row's sums first);
    emit_layer_norm runs it in row jobs, a DynamicDenseAddNorm inside its GEMM jobs. The passes run as
    kernels_layernorm_vec's pipeline over groups of rows (rows up to its STASH_MAX_ROW elements), else
    LN_ROWS rows at a time in lockstep."""
    return kernels_layernorm_vec.layer_norm_rows(k, n, eps, _span, LN_ROWS)


# ---- Softmax --------------------------------------------------------------------------------

def emit_softmax(node: Node, k) -> None:
    shape = k.graph.types[node.inputs[0]].shape
    axis = node.op.axis % len(shape)
    if axis != len(shape) - 1:
        return kernels_float.emit_softmax(node, k)
    n, rows = shape[-1], _prod(shape[:-1])

    from .kernels_float_softmax import softmax_rows   # (it imports this module's row helpers)

    def body(b, ins, outs, r0, r1):
        softmax_rows(k, b, ins[0], outs[0], r0, r1, n)
    _row_jobs(k, rows, n, "softmax_job", body)


# ---- elementwise ----------------------------------------------------------------------------

def _operand_kind(shape, out_shape) -> tuple[str, int] | None:
    """("full", 0), ("scalar", 0) or ("block", P): the operand is out_shape[-d:] (P elements) with
    leading ones; None for any other broadcast."""
    shape, out = tuple(shape), tuple(out_shape)
    if shape == out:
        return "full", 0
    if _prod(shape) == 1:
        return "scalar", 0
    trimmed = list(shape)
    while trimmed and trimmed[0] == 1:
        trimmed.pop(0)
    d = len(trimmed)
    if d and tuple(trimmed) == out[len(out) - d:]:
        return "block", _prod(trimmed)
    return None


def _row_length(out_shape, block: int) -> int:
    """The rows the elementwise loop walks: the block's length, else the shortest suffix of the
    output's shape of at least MIN_ROW elements (the whole tensor if it is smaller)."""
    if block:
        return block
    n = 1
    for d in reversed(out_shape):
        n *= d
        if n >= MIN_ROW:
            break
    return max(n, 1)


def elementwise_plan(shapes, out_shape) -> tuple[list[tuple[str, int]], int] | None:
    """(kind of each operand, row length), or None when an operand's broadcast is not one of
    full / scalar / one trailing block."""
    kinds = [_operand_kind(s, out_shape) for s in shapes]
    if any(kd is None for kd in kinds):
        return None
    blocks = {p for kind, p in kinds if kind == "block"}
    if len(blocks) > 1:
        return None
    return kinds, _row_length(out_shape, next(iter(blocks), 0))


def _elementwise(k, node: Node, kinds, row: int, combine, name: str) -> None:
    """out[r, j] = combine(b, operands...) for every row r and j < row, operands read per kind."""
    out_shape = k.graph.types[node.outputs[0]].shape
    rows, lanes = _prod(out_shape) // row, lanes_of(k)

    def body(b, ins, outs, r0, r1):
        vf = vec(lanes)
        scalars = [vload(b, p, c64(0), F32) if kind == "scalar" else None for p, (kind, _) in zip(ins, kinds)]
        splats = [splat(b, s, lanes) if s is not None else None for s in scalars]
        with _rows(b, r0, r1) as r:
            base = b.mul(r, c64(row))

            def step(j, is_vec):
                t = vf if is_vec else F32
                vals = []
                for p, (kind, _), s, sv in zip(ins, kinds, scalars, splats):
                    if kind == "scalar":
                        vals.append(sv if is_vec else s)
                    else:
                        vals.append(vload(b, p, b.add(base, j) if kind == "full" else j, t))
                vstore(b, combine(b, *vals), outs[0], b.add(base, j))
            _span(b, row, lanes, step)
    _row_jobs(k, rows, row, name, body)


def _clamp(b, y, op):
    """Add's fused clamp, as kernels_float._act_clamp, lane-wise."""
    if op.act_min is not None:
        lo = const(y.type, op.act_min)
        y = b.select(b.fcmp_ordered("<", y, lo), lo, y)
    if op.act_max is not None:
        hi = const(y.type, op.act_max)
        y = b.select(b.fcmp_ordered(">", y, hi), hi, y)
    return y


_COMBINE = {ops.Add: "fadd", ops.Sub: "fsub", ops.Mul: "fmul", ops.Div: "fdiv"}


def emit_binary(node: Node, k) -> None:
    op = node.op
    out_shape = k.graph.types[node.outputs[0]].shape
    plan = elementwise_plan([k.graph.types[v].shape for v in node.inputs], out_shape)
    if plan is None:
        return kernels_float.emit_float_binary(node, k)
    kinds, row = plan
    fn = _COMBINE[type(op)]

    def combine(b, x, y):
        z = getattr(b, fn)(x, y)
        return _clamp(b, z, op) if isinstance(op, ops.Add) else z
    _elementwise(k, node, kinds, row, combine, f"{fn}_job")


def emit_erf(node: Node, k) -> None:
    shape = k.graph.types[node.inputs[0]].shape
    _elementwise(k, node, [("full", 0)], _row_length(shape, 0), lambda b, x: vecmath.erf_for(k.spec)(k.mod, b, x),
                "erf_job")

