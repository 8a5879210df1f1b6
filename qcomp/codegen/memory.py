"""The memory plan every backend reads: `graph.memory`, set by qcomp.passes.plan_memory.

The build runs plan_memory as the last TARGET pass, so a backend finds the plan in the graph and
takes every offset and view from it (no backend plans on its own: the plan the verifier checked,
`qcomp inspect` prints and the manifest reports is the one the code uses). A TARGET graph built
by hand (tests, benchmarks) gets the same pass here, and its plan is checked, before any code is
generated. Strided Concat slices (ir/memory_concat.py) exist only where the backend passes
`strided`: the llvm build plans with them (builder.BACKEND_PLANS), the C and cuda backends never.
"""
from __future__ import annotations

from ..ir import Graph, IRError
from ..ir.memory import plan_errors
from ..passes.plan_memory import WritesRows, plan_memory


def planned(graph: Graph, strided: WritesRows | None = None) -> Graph:
    """`graph` itself when it carries a memory plan it can use, else `graph` planned by plan_memory.
    strided: the backend's producers that write rows with a stride (llvm); a backend without it
    (C, cuda) replans a plan that has strided Concat slices, which its kernels cannot fill."""
    if graph.memory is not None and (strided is not None or not graph.memory.view_rows):
        return graph
    out = plan_memory(graph, strided=strided)
    errs = plan_errors(out, out.memory)
    if errs:
        raise IRError(f"graph {graph.name!r}: plan_memory made an invalid plan: {errs[0]}")
    return out
