"""Loops of the memory-bound kernels (Quantize, Dequantize, Lut, QRequantize, QAdd/QSub/QMul,
int8 MaxPool2D, QMean and int8 ReduceMax, the movement gathers) split over the thread pool.

Such a kernel is a loop over n independent iterations: iteration i writes output element i (or
output pixel i of a pool, output element i of a reduction) and reads nothing another iteration
writes. parallel_loop runs it as jobs of contiguous ranges [j * per_job, min((j + 1) * per_job, n))
through runtime/llvm/pool.c; each iteration is computed exactly as in the serial loop, so results
are identical for every thread count (jobs of one node write disjoint bytes).

Why: with the convolutions split over the threads, these loops were the serial part of a CNN
(Amdahl): ResNet-18's input Quantize and NCHW -> NHWC gather, its MaxPool, MobileNetV2's residual
QAdds and its global average pool (QMean). A loop stays on the calling thread unless it has at
least two jobs' worth of work (MIN_JOB_WORK units, a few microseconds: a fork-join costs about one),
the policy of the dot kernels' JOB_MACS (kernels_depthwise._n_jobs).

Work units: the caller states the cost of one iteration in elements moved (a pixel of a 3x3
MaxPool over C channels: 9 * C); one unit is about a nanosecond of a scalar loop.
"""
from __future__ import annotations

from contextlib import contextmanager

from .irgen import c64, job_function, loop, parallel_for

MIN_JOB_WORK = 16_384                    # work units per job, at least
MAX_JOBS = 64


def n_jobs(n: int, work_per_iteration: int) -> int:
    """The job count of a loop of n iterations: one per MIN_JOB_WORK units, at most MAX_JOBS and n."""
    return max(1, min(MAX_JOBS, n, n * max(1, work_per_iteration) // MIN_JOB_WORK))


@contextmanager
def _inside(k, b, ins, outs):
    """k.b, k.ins, k.outs are the job function's while the body is emitted (restored after)."""
    saved = k.b, k.ins, k.outs
    k.b, k.ins, k.outs = b, ins, outs
    try:
        yield
    finally:
        k.b, k.ins, k.outs = saved


def parallel_loop(k, n: int, work_per_iteration: int, body, name: str = "i") -> None:
    """body(i) for every i < n, in jobs (module docstring). While body emits, k.b, k.ins and
    k.outs are those of the function it is emitted into (the node's own, or a job function's):
    body must read them there, not keep the node's from before. Tables (k.mod.table) are globals
    and may be created inside. Not for a body that uses k.scratch (shared by the jobs)."""
    jobs = n_jobs(n, work_per_iteration)
    if jobs == 1:
        with loop(k.b, n, name) as i:
            body(i)
        return
    per_job = -(-n // jobs)
    jobs = -(-n // per_job)
    n_in = len(k.ins)
    f, b, ptrs, j = job_function(k.mod, f"{name}_job", n_in + len(k.outs))
    i0 = b.mul(j, c64(per_job))
    i1 = b.select(b.icmp_signed("<", b.add(i0, c64(per_job)), c64(n)), b.add(i0, c64(per_job)), c64(n))
    with _inside(k, b, ptrs[:n_in], ptrs[n_in:]):
        with loop(b, b.sub(i1, i0), name) as d:
            body(b.add(i0, d))
    b.ret_void()
    parallel_for(k.mod, k.b, f, [*k.ins, *k.outs], jobs)
