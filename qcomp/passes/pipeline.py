"""Run an explicit sequence of passes, verifying the IR after each.

A failure inside a pass, or an IR the verifier rejects after it, raises PassError naming the pass
and the passes that ran before it, so a broken invariant is traced to the pass that broke it.
"""
from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

from ..errors import QcompError
from ..ir import Graph, IRError, verify

Pass = Callable[[Graph], Graph]


class PassError(QcompError):
    """A pass failed or left the graph in a state its stage does not allow."""


def pass_name(p: Pass) -> str:
    if isinstance(p, functools.partial):
        return pass_name(p.func)
    return getattr(p, "__name__", type(p).__name__)


def run_passes(g: Graph, passes: Sequence[Pass], on_pass: Callable[[str, Graph], None] | None = None) -> Graph:
    """Apply `passes` in order; verify after each; call on_pass(name, graph) after each."""
    verify(g)
    done: list[str] = []
    for p in passes:
        name = pass_name(p)
        after = f" (after {', '.join(done)})" if done else " (first pass)"
        try:
            out = p(g)
        except QcompError as e:
            if isinstance(e, IRError):
                raise PassError(f"pass {name}{after} failed: {e}") from e
            raise
        if not isinstance(out, Graph):
            raise PassError(f"pass {name}{after} returned {type(out).__name__}, not a Graph")
        try:
            verify(out)
        except IRError as e:
            raise PassError(f"pass {name}{after} produced an invalid graph: {e}") from e
        done.append(name)
        if on_pass is not None:
            on_pass(name, out)
        g = out
    return g
