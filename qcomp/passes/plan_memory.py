"""Static memory plan: every intermediate value gets an offset in one workspace, reused by liveness.

A value lives from the step of the node that produces it to the step of its last consumer
(graph inputs and outputs live in caller buffers, constants in the weights: neither is planned).
Values whose lifetimes overlap must not overlap in memory. Greedy by size (TFLite's
"greedy by size" arena planner): place the largest values first, each at the lowest aligned
offset that does not collide with an already placed value alive at the same time.

    workspace_bytes <= sum of all planned value sizes   (the plan's saving is reported next to it)
"""
from __future__ import annotations

from dataclasses import dataclass

from ..abi import WORKSPACE_ALIGN as ALIGN   # QCOMP_WORKSPACE_ALIGN of runtime/qcomp.h (64: a cache line, a zmm)
from ..ir import Graph


@dataclass(frozen=True)
class MemoryPlan:
    offsets: dict[str, int]      # value -> byte offset in the workspace
    sizes: dict[str, int]        # value -> bytes
    workspace_bytes: int
    activation_bytes: int        # sum of every planned value's size (no reuse)


def _align(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


def lifetimes(g: Graph) -> dict[str, tuple[int, int]]:
    """value -> (first step, last step) for every value the workspace holds."""
    external = set(g.inputs) | set(g.outputs) | set(g.constants)
    life: dict[str, list[int]] = {}
    for step, n in enumerate(g.nodes):
        for o in n.outputs:
            if o not in external:
                life[o] = [step, step]
        for i in n.inputs:
            if i in life:
                life[i][1] = step
    return {v: (a, b) for v, (a, b) in life.items()}


def plan_memory(g: Graph) -> MemoryPlan:
    live = lifetimes(g)
    sizes = {v: g.types[v].nbytes for v in live}
    order = sorted(live, key=lambda v: (-sizes[v], live[v][0], v))
    placed: list[tuple[int, int, int, int]] = []  # (offset, end, first, last)
    offsets: dict[str, int] = {}
    for v in order:
        first, last = live[v]
        size = _align(max(sizes[v], 1))
        busy = sorted((o, e) for o, e, f, l in placed if not (l < first or last < f))
        offset = 0
        for o, e in busy:
            if offset + size <= o:
                break
            offset = max(offset, e)
        offsets[v] = offset
        placed.append((offset, offset + size, first, last))
    workspace = max((e for _, e, _, _ in placed), default=0)
    return MemoryPlan(offsets, sizes, workspace, sum(sizes.values()))


def check_plan(g: Graph, plan: MemoryPlan) -> None:
    """Raise AssertionError if two values alive at the same time share bytes (used by tests)."""
    live = lifetimes(g)
    items = sorted(live)
    for i, a in enumerate(items):
        for b in items[i + 1:]:
            (fa, la), (fb, lb) = live[a], live[b]
            if la < fb or lb < fa:
                continue
            oa, ob = plan.offsets[a], plan.offsets[b]
            if oa < ob + plan.sizes[b] and ob < oa + plan.sizes[a]:
                raise AssertionError(f"{a!r} and {b!r} are alive together and overlap in the workspace")
