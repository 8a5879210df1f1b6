"""The targets the op-case table is crossed with.

A `Target` is a name, a `run(graph, feeds) -> outputs` callable (graph: a TARGET-stage graph;
feeds and outputs: dicts of numpy arrays keyed by graph input / output name), and `skip()`, the
reason this host cannot run it (None when it can). Adding a backend is one line in TARGETS, e.g.

    Target("x86-vnni", run_x86_vnni, host_skip("x86-vnni")),

where `run_x86_vnni` compiles the graph with the backend and runs the result, and `host_skip`
asks qcomp.target.host_support (missing toolchain, runner or CPU feature) for the reason.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from qcomp.ir import Graph

Run = Callable[[Graph, Mapping[str, np.ndarray]], dict[str, np.ndarray]]


def _always() -> str | None:
    return None


@dataclass(frozen=True)
class Target:
    name: str
    run: Run
    skip: Callable[[], str | None] = _always


def host_skip(target_name: str) -> Callable[[], str | None]:
    """The reason qcomp.target.host_support gives for not running `target_name` here, or None."""
    def why() -> str | None:
        from qcomp.target import get_target, host_support
        support = host_support(get_target(target_name))
        return None if support.can_run else f"target {target_name}: {support.why}"
    return why


def run_ref(graph: Graph, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    from qcomp.ref import run_integer
    return run_integer(graph, feeds)


TARGETS: list[Target] = [
    Target("ref", run_ref),
]
