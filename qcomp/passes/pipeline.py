"""Run an explicit sequence of passes, verifying the IR after each.

A failure inside a pass, or an IR the verifier rejects after it, raises PassError naming the pass
and the passes that ran before it, so a broken invariant is traced to the pass that broke it. Any
exception a pass raises (IRError, and also ValueError, KeyError, ZeroDivisionError, numpy's
errors: a qcomp bug or an input the pass did not foresee) becomes a PassError, which also names
the node the pass was processing when it failed: passes walk their nodes with `each_node(nodes)`,
which records the current one. The user-facing errors passes raise on purpose (QcompError other
than IRError: an accumulator that could overflow, an unknown --skip name) already say what to do,
and pass through unchanged.
"""
from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextvars import ContextVar

from ..errors import QcompError
from ..ir import Graph, IRError, Node, verify

Pass = Callable[[Graph], Graph]

_CURRENT: ContextVar[Node | None] = ContextVar("qcomp_pass_node", default=None)


class PassError(QcompError):
    """A pass failed or left the graph in a state its stage does not allow."""


def pass_name(p: Pass) -> str:
    if isinstance(p, functools.partial):
        return pass_name(p.func)
    return getattr(p, "__name__", type(p).__name__)


def each_node(nodes: Iterable[Node]) -> Iterator[Node]:
    """`for n in each_node(g.nodes):` records n as the node being processed, so an error escaping
    the loop body names it. Cleared when the loop runs to its end (and before every pass)."""
    for n in nodes:
        _CURRENT.set(n)
        yield n
    _CURRENT.set(None)


def _at_node() -> str:
    n = _CURRENT.get()
    return f" at node {n.name!r} ({n.kind})" if n is not None else ""


def run_passes(g: Graph, passes: Sequence[Pass], on_pass: Callable[[str, Graph], None] | None = None,
               before: Sequence[str] = ()) -> Graph:
    """Apply `passes` in order; verify after each; call on_pass(name, graph) after each.
    `before`: names of passes that ran before these (a pipeline continued after calibration)."""
    verify(g)
    done: list[str] = list(before)
    for p in passes:
        name = pass_name(p)
        after = f" (after {', '.join(done)})" if done else " (first pass)"
        token = _CURRENT.set(None)
        try:
            out = p(g)
        except IRError as e:
            raise PassError(f"pass {name}{after} failed{_at_node()}: {e}") from e
        except QcompError:
            raise
        except Exception as e:   # noqa: BLE001 - whatever fails inside a pass is the pass's error
            raise PassError(f"pass {name}{after} failed{_at_node()}: {type(e).__name__}: {e}") from e
        finally:
            _CURRENT.reset(token)
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
