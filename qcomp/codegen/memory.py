"""The memory plan every backend reads: `graph.memory`, set by qcomp.passes.plan_memory.

The build runs plan_memory as the last TARGET pass, so a backend finds the plan in the graph and
takes every offset and view from it (no backend plans on its own: the plan the verifier checked,
`qcomp inspect` prints and the manifest reports is the one the code uses). A TARGET graph built
by hand (tests, benchmarks) gets the same pass here, and its plan is checked, before any code is
generated.
"""
from __future__ import annotations

from ..ir import Graph, IRError
from ..ir.memory import plan_errors
from ..passes.plan_memory import plan_memory


def planned(graph: Graph) -> Graph:
    """`graph` itself when it carries a memory plan, else `graph` planned by plan_memory."""
    if graph.memory is not None:
        return graph
    out = plan_memory(graph)
    errs = plan_errors(out, out.memory)
    if errs:
        raise IRError(f"graph {graph.name!r}: plan_memory made an invalid plan: {errs[0]}")
    return out
