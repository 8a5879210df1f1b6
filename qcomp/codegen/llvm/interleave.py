"""Interleave the independent epilogues of a GEMM tile, so the CPU sees several dependency chains at once.

A float epilogue (DynamicDenseGelu's GELU with its erf polynomial, DynamicDenseAddNorm's additions)
is a long chain of dependent float32 operations per vector of `lanes` outputs: the erf alone is about
25 dependent steps (lookups, 11 Horner multiplies and adds, the reconstruction; since then 5 fused
multiply-adds replace 10 of them), some 60 cycles of
latency. The micro-kernel emits one vector's chain after the other (kernels_tile._micro_kernel: for r,
for j: epilogue), and LLVM's scheduler keeps that order, so the out-of-order core, whose float
scheduler holds a few dozen operations, overlaps barely two chains: the epilogue runs at its latency,
not its throughput (MiniLM's GELU node: 39 cycles per vector for erf; interleaved, about 20).

Interleave records the instructions each epilogue call appends (a contiguous slice of the tile's
last basic block) and, once the tile functions are complete, reorders each group of GROUP slices
that follow each other directly (a run: arm-i8mm's micro-kernel emits other code between some calls)
round-robin: instruction p of slice 0, of slice 1, ..., then p + 1. Each slice keeps its own order,
and the slices are independent (a vector's epilogue reads its accumulator, its block's per-run
tables and its own output element, and writes only that element), so the reordered block computes
and stores exactly the same values: only the schedule changes.
"""
from __future__ import annotations

GROUP = 9   # MiniLM's GELU node (tiles of 6 x 4 vectors): 6, 8, 9, 12 alike on Zen 4, 18 slower


class Interleave:
    """wrap(epilogue) records the slices; apply() reorders them (after the tiles are emitted)."""

    def __init__(self, group: int = GROUP):
        self.group = group
        self.blocks: dict[int, tuple] = {}      # id(block) -> (block, [(start, end), ...])

    def wrap(self, epilogue):
        def run(b, *args, **kwargs):
            block, start = b.block, len(b.block.instructions)
            epilogue(b, *args, **kwargs)
            assert b.block is block, "an interleaved epilogue must not branch"
            runs = self.blocks.setdefault(id(block), (block, []))[1]
            if runs and runs[-1][-1][1] == start:       # right after the previous call: the same run
                runs[-1].append((start, len(block.instructions)))
            else:                                       # other code between (arm-i8mm's zips): a new run
                runs.append([(start, len(block.instructions))])
        return run

    def apply(self) -> None:
        for block, runs in self.blocks.values():
            ins = list(block.instructions)
            for slices in runs:
                first, last = slices[0][0], slices[-1][1]
                out = []
                for g in range(0, len(slices), self.group):
                    parts = [ins[s:e] for s, e in slices[g:g + self.group]]
                    for p in range(max(len(x) for x in parts)):
                        out.extend(x[p] for x in parts if p < len(x))
                block.instructions[first:last] = out
        self.blocks.clear()
