"""Op cases of a compiled target run in a few artifacts instead of one each.

Every artifact costs a build: about 1.5 s for a cross llvm target (the LLVM compile in a child
process, the static runner's link), about 0.8 s for the host llvm targets (x86-*), about 0.9 s for the C targets (dsp-c, cortex-m4 / m7 / m55:
gcc compiles the model-independent kernel files, 0.8 s of it, again for every artifact), plus a
runner start (a QEMU boot for the cross targets). So ~110 cases cost minutes per target. Here the
cases are packed into batches: one TARGET graph per batch, the disjoint union of its cases' graphs
(every value and node renamed `c<i>.<name>`, case i's inputs and outputs in order), built and run
once (one build, one runner start or firmware boot, all inputs and outputs as files). Nothing
connects the cases inside a union, and every kernel reads only its own node's operands, so each
case computes what it computes alone; a batch holds at most MAX_TENSORS inputs and outputs
(runtime/llvm/runner.c) and at most MAX_BYTES of values and constants (the Cortex-M RAM and flash:
4 MiB, and 512 KiB of ITCM for the code and weights on mps3-an547).

Only the cases the target's backend accepts (its `check(graph, target)` is empty) are batched: a
case the backend refuses (targets.REFUSED) runs alone, so its refusal is its own.

`batched(run_graph)` turns a `run(graph, feeds)` into one that serves each case from its batch
(`run_graph.qcomp_target`, when set, names the target whose backend decides what is batched).
Failure attribution: a call whose graph or feeds are not exactly a case's own (by the graph's
printed text form and the feeds' bytes) runs alone, so the result always belongs to the graph that
was passed in; a batch whose build or run fails is not retried as a batch: each of its cases then
runs alone, so the failing case fails its own test with its own error and the others pass.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import numpy as np

from qcomp.ir import Graph, Node, Stage
from qcomp.ir.printer import format_graph

from .cases import CASES, materialize

MAX_TENSORS = 64
NAMES = frozenset(c.name for c in CASES)
MAX_BYTES = 1 << 20
Run = Callable[[Graph, Mapping[str, np.ndarray]], dict[str, np.ndarray]]


def union(graphs: list[Graph]) -> Graph:
    """The disjoint union of TARGET graphs: graph i's value and node names prefixed `c<i>.`."""
    u = Graph("opcase_batch", Stage.TARGET)
    for i, g in enumerate(graphs):
        name = f"c{i}.".__add__
        u.types.update({name(v): t for v, t in g.types.items()})
        u.constants.update({name(v): a for v, a in g.constants.items()})
        u.inputs += [name(v) for v in g.inputs]
        u.outputs += [name(v) for v in g.outputs]
        u.nodes += [Node(name(n.name), n.op, tuple(map(name, n.inputs)), tuple(map(name, n.outputs)))
                    for n in g.nodes]
    return u


def footprint(g: Graph) -> int:
    """Bytes of every value and constant of g: a bound on what the case adds to a batch's memory."""
    return sum(math.prod(t.shape) * t.dtype.np.itemsize for t in g.types.values())


def _accepts(target_name: str | None) -> Callable[[Graph], bool]:
    """Whether the backend of `target_name` builds g (None: every graph is batched)."""
    if target_name is None:
        return lambda g: True
    from qcomp.protocol import backend_module
    from qcomp.target import get_target
    target = get_target(target_name)
    backend = backend_module(target.backend)
    return lambda g: not backend.check(g, target)


def _batches(accepts: Callable[[Graph], bool]) -> list[list]:
    """The accepted cases in order, cut into batches of at most MAX_TENSORS inputs and outputs and
    MAX_BYTES of values and constants."""
    out, inputs, outputs, size = [[]], 0, 0, 0
    for case in CASES:
        g, _ = materialize(case)
        if not accepts(g):
            continue
        if out[-1] and (inputs + len(g.inputs) > MAX_TENSORS or outputs + len(g.outputs) > MAX_TENSORS
                        or size + footprint(g) > MAX_BYTES):
            out.append([])
            inputs = outputs = size = 0
        out[-1].append(case)
        inputs, outputs, size = inputs + len(g.inputs), outputs + len(g.outputs), size + footprint(g)
    return [b for b in out if b]


def _same(graph: Graph, feeds: Mapping[str, np.ndarray], case) -> bool:
    g, f = materialize(case)
    return (format_graph(graph) == format_graph(g) and sorted(feeds) == sorted(f)
            and all(np.asarray(feeds[k]).dtype == f[k].dtype and np.array_equal(feeds[k], f[k]) for k in f))


def batched(run_graph: Run) -> Run:
    """run(graph, feeds) that answers a case from its batch's single run (module docstring)."""
    batches: list[list] | None = None
    results: dict[str, dict[str, np.ndarray]] = {}
    failed: set[int] = set()   # batches whose union failed: their cases run alone (the failure is theirs)

    def run_batch(cases) -> None:
        parts = [materialize(c) for c in cases]
        feeds = {f"c{i}.{k}": v.copy() for i, (_, f) in enumerate(parts) for k, v in f.items()}
        got = run_graph(union([g for g, _ in parts]), feeds)
        for i, (case, (g, _)) in enumerate(zip(cases, parts)):
            results[case.name] = {v: got[f"c{i}.{v}"] for v in g.outputs}

    def run(graph: Graph, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        nonlocal batches
        if graph.name not in NAMES:   # not a case at all (another test's graph): no batches to compute
            return run_graph(graph, feeds)
        if batches is None:
            batches = _batches(_accepts(getattr(run_graph, "qcomp_target", None)))
        for index, cases in enumerate(batches):
            case = next((c for c in cases if c.name == graph.name), None)
            if case is None or index in failed or not _same(graph, feeds, case):
                continue
            if case.name not in results:
                try:
                    run_batch(cases)
                except Exception:
                    failed.add(index)
                    break
            return {k: v.copy() for k, v in results[case.name].items()}
        return run_graph(graph, feeds)
    return run


def run_together(run_graph: Run, parts: list[tuple[Graph, Mapping[str, np.ndarray]]]) -> list[dict[str, np.ndarray]]:
    """Each (graph, feeds)'s outputs from one run of the graphs' union (tests that build several small
    graphs for one target: one build instead of one each). When the union fails, the graphs run alone,
    in order, so the first failing graph raises its own error, with a note naming it."""
    feeds = {f"c{i}.{k}": np.asarray(v).copy() for i, (_, f) in enumerate(parts) for k, v in f.items()}
    try:
        got = run_graph(union([g for g, _ in parts]), feeds)
    except Exception:
        out = []
        for g, f in parts:
            try:
                out.append(run_graph(g, {k: np.asarray(v).copy() for k, v in f.items()}))
            except Exception as e:
                e.add_note(f"graph {g.name!r} (run alone after the union of {len(parts)} graphs failed)")
                raise
        return out
    return [{v: got[f"c{i}.{v}"] for v in g.outputs} for i, (g, _) in enumerate(parts)]
