"""Plan the workspace of a TARGET graph: views for Reshapes, then offsets by liveness (the last TARGET pass).

The result is the graph with `memory` set (qcomp/ir/memory.py: the plan's terms and invariants;
the verifier checks them). Every backend reads its offsets from there.

1. Views. A Reshape keeps row-major order, so its output can share its input's bytes. Walking the
   nodes in order, with storage(v) the root of v's storage class:
     input in the workspace, output in the workspace   -> the output is a view of storage(input)
     input a caller buffer or constant, output in the workspace -> a view of that buffer / constant
     input in the workspace, output a graph output     -> the input's whole class moves into the
                                                          caller's output buffer (its producer writes
                                                          there; the class lives in no workspace)
     input a caller buffer or constant, output a graph output -> stays a copy (two buffers the
                                                          caller owns, or a constant and a buffer)
   Chains of Reshapes join one class. The base's lifetime extends to the last use of its views.
   A second Reshape of the same value into another graph output is the copy case.
2. Offsets. Greedy by size (TFLite's "greedy by size" arena planner): place the largest workspace
   class first, each at the lowest ALIGN-aligned offset that collides with no placed class alive
   at the same time.

    workspace_bytes <= activation_bytes = sum of the workspace classes' sizes

`plan_memory(g, aliases=False)` makes no views (every Reshape copies): the layout before views,
for figures (benchmarks/memory_plan.py) and tests.
"""
from __future__ import annotations

from ..errors import QcompError
from ..ir import Graph, Stage, ops
from ..ir.memory import ALIGN, MemoryPlan, external, lifetimes

__all__ = ["ALIGN", "plan_memory", "views"]


def _align(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


def views(g: Graph) -> dict[str, str]:
    """view value -> the root of its storage class, by the rules of the module docstring."""
    outside = external(g)
    root: dict[str, str] = {}
    members: dict[str, list[str]] = {}
    for n in g.nodes:
        if not isinstance(n.op, ops.Reshape):
            continue
        x, y = n.inputs[0], n.outputs[0]
        base = root.get(x, x)
        if y in outside:
            if base in outside:
                continue                          # caller buffer / constant -> graph output: a copy
            moved = members.pop(base, [base])     # the class now lives in the caller's output buffer
            for v in moved:
                root[v] = y
            members[y] = moved + [y]
        else:
            root[y] = base
            members.setdefault(base, [base]).append(y)
    return {v: r for v, r in root.items() if v != r}


def _place(live: dict[str, tuple[int, int]], sizes: dict[str, int]) -> dict[str, int]:
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
    return offsets


def plan_memory(g: Graph, aliases: bool = True) -> Graph:
    """`g` with its memory plan (g.memory); aliases=False: no views, every Reshape copies."""
    if g.stage is not Stage.TARGET:
        raise QcompError(f"plan_memory plans TARGET graphs (after lower_integer), got a {g.stage.name} graph")
    alias = views(g) if aliases else {}
    live = lifetimes(g, alias)
    sizes = {v: g.types[v].nbytes for v in live}
    offsets = _place(live, sizes)
    workspace = max((_align(max(sizes[v], 1)) + o for v, o in offsets.items()), default=0)
    out = g.copy()
    out.memory = MemoryPlan(offsets, sizes, workspace, sum(sizes.values()), alias)
    return out
