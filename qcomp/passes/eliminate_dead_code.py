"""Remove nodes, constants and values that no graph output depends on."""
from __future__ import annotations

from ..ir import Graph


def eliminate_dead_code(g: Graph) -> Graph:
    out = g.copy()
    out.prune()
    if len(out.nodes) == len(g.nodes) and len(out.types) == len(g.types):
        return g
    return out
