"""Job counts that divide evenly over 2 and 4 threads.

The pool (runtime/llvm/pool.c) hands out a parallel_for's n jobs from an atomic counter, so with T
threads and n jobs of equal time t a phase takes ceil(n / T) * t against the ideal n * t / T:

    n = 3, T = 2: 2t for 1.5t (+33 %);   n = 7, T = 4: 2t for 1.75t (+14 %);   n = 8: exact at 2 and 4.

A kernel first picks the job count its work allows (a minimum of work per job, at most MAX_JOBS),
then `balanced` rounds that count up to a multiple of QUANTUM (4: exact at 1, 2 and 4 threads) where
the units (rows, vectors, row tiles) allow. Jobs of one size: per = ceil(units / n) units each, the
last one the rest, n = ceil(units / per); `spread` takes, of n and the multiples of QUANTUM down to n / 2,
the n whose split overruns the ideal least at 2 and 4 threads. Rounding up, never from one: a count
that was 1 (one job, no fork-join) stays 1, so the number of fork-joins never grows, and a job
shrinks at most 2x (2 -> 4 jobs).

Job splits never change values here: every job writes its own rows (or tiles) and computes each of
them the way the 1-job form does (min/max are exact and order-free; see the kernels' docstrings).
Measured per-job times and the modelled 2- and 4-thread losses: benchmarks/thread_balance.py.
"""
from __future__ import annotations

QUANTUM = 4


def balanced(jobs: int, units: int, limit: int) -> int:
    """`jobs` (>= 1) rounded up to a multiple of QUANTUM when it is 2 or more, at most `limit` and `units`."""
    if jobs < 2:
        return max(1, jobs)
    return max(1, min(-(-jobs // QUANTUM) * QUANTUM, limit, units))


def _overrun(units: int, per: int, count: int) -> float:
    """The worst makespan / ideal over 2 and QUANTUM threads of count jobs of `per` units (the last one the
    rest), claimed in index order by whichever thread is free first (runtime/llvm/pool.c)."""
    sizes = [per] * (count - 1) + [units - (count - 1) * per]
    worst = 1.0
    for threads in (2, QUANTUM):
        free = [0] * threads
        for size in sizes:
            free[free.index(min(free))] += size
        worst = max(worst, max(free) * threads / units)
    return worst


def spread(units: int, jobs: int) -> tuple[int, int]:
    """(units per job, job count) of `units` over about `jobs` jobs: per = ceil(units / jobs), then as many
    jobs as that takes (the last one holds the rest). Of `jobs` and the multiples of QUANTUM from it down
    to half of it, the split with the smallest overrun at 2 and 4 threads (the most jobs among equals):
    20 rows in 8 jobs is 7 jobs of 3 (2 threads: 12 rows for 10) where 4 jobs of 5 divide exactly; 384 rows
    in 20 jobs is 19 of 20 and one of 4 (+4 %) where 16 of 24 divide exactly."""
    def split(j: int) -> tuple[int, int]:
        per = max(1, -(-units // max(j, 1)))
        return per, max(1, -(-units // per))
    candidates = [jobs] + list(range(jobs - jobs % QUANTUM, max(QUANTUM, -(-jobs // 2)) - 1, -QUANTUM))
    return min((split(j) for j in candidates), key=lambda pc: (_overrun(units, *pc), -pc[1]))


def spread_rows(rows: int, jobs: int, limit: int, group: int = 1) -> tuple[int, int]:
    """(rows per job, job count) for a row kernel that chose `jobs` jobs: the count balanced (above) and
    spread over the rows in whole groups of `group` rows (every job but the last holds a multiple of
    group rows: a kernel whose row pass works on such groups)."""
    units = -(-rows // group)
    per, _ = spread(units, balanced(jobs, units, limit))
    return per * group, -(-rows // (per * group))


def tile_groups(n_tiles: int, per_chunk: int) -> int:
    """Row tiles per job when a chunk's n_tiles tiles go to about per_chunk jobs: the group size of the
    largest count <= per_chunk that divides n_tiles (groups of equal tiles), else ceil(n_tiles / per_chunk).

    E.g. 16 tiles in 3 jobs: groups 6, 6, 4 (the 4-tile job 2/3 as long); 2 jobs of 8 tiles divide evenly.
    Only a count that divides n_tiles and is at least half of per_chunk is taken (the job count shrinks
    at most 2x, so the jobs stay at least as many as the threads they were sized for)."""
    per_chunk = max(1, min(per_chunk, n_tiles))
    for count in range(per_chunk, (per_chunk + 1) // 2 - 1, -1):
        if count >= 1 and n_tiles % count == 0:
            return n_tiles // count
    return -(-n_tiles // per_chunk)
