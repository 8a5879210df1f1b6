"""The backend protocol: what every backend module (`BACKENDS[target.backend]`) exposes, and the
registry that names them. A leaf module (only qcomp.errors): target, ref, codegen, builder and api
all read it.

Every backend module has the same two functions:

    check(graph, target) -> list[Problem]     every node the backend cannot emit (empty: it can)
    emit(graph, target, out_dir, *, <backend-specific keyword options>) -> dict   manifest entries

and one table from op class to emitter, `EMITTERS` (docs/ops.md is generated from these tables:
`python -m qcomp.coverage > docs/ops.md`). Every emitter of every backend has ONE signature:

    emit_x(node: Node, ctx) -> None

where `ctx` is the backend's context object: llvm a per-node `Kernel` (module, builder, the node's
argument pointers, its scratch pointer; `ctx.reserve(nbytes)` reports the scratch it uses), cuda
its `Context` (launches, weights, the Jinja environment `ctx.env`), c its program `Ctx` (the
emitter appends to `ctx.calls`); the `ref` interpreter's entries return the node's kernel, and
their ctx is the graph. A table value is the emitter itself or an `Emitter(emit,
why_not)`, whose `why_not(node, graph) -> str | None` states the emitter's precondition (dtypes,
modes, constant operands): the reason it cannot emit this node, or None. `check` is derived from
the table (`check_nodes`), and `emit` calls `check` first and raises one UnsupportedModelError
listing every problem (`refuse`), so the two never disagree on what a backend covers. (One limit
stays inside its emitter, as it depends on the target rather than the node: the llvm dot kernels'
folded bias, bias - activation_offset * sum(w), must fit int32.)
"""
from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .errors import UnsupportedModelError

# Target.backend -> the module that implements the protocol (imported lazily: llvmlite, jinja2
# and the toolchains load only for the backend a build uses)
BACKENDS: dict[str, str] = {
    "ref": "qcomp.ref.integer",
    "llvm": "qcomp.codegen.llvm",
    "c": "qcomp.codegen.c",
    "cuda": "qcomp.codegen.cuda",
}


def backend_module(backend: str):
    """The module of `backend` (a Target.backend); it has check() and emit()."""
    if backend not in BACKENDS:
        raise UnsupportedModelError(f"backend {backend!r} is not part of this qcomp version "
                                    f"(known: {', '.join(BACKENDS)})")
    return importlib.import_module(BACKENDS[backend])


@dataclass(frozen=True)
class Problem:
    """One node a backend cannot emit: which, why, and what the user can do about it."""
    node: str
    op: str
    dtypes: str       # "i8, i8 -> i8"
    reason: str
    advice: str

    def __str__(self) -> str:
        return f"node {self.node!r} ({self.op} {self.dtypes}): {self.reason}; {self.advice}"


@dataclass(frozen=True)
class Emitter:
    """A table entry with a precondition: `why_not(node, graph)` is the reason `emit` cannot
    emit the node, or None when it can."""
    emit: Callable[[Any, Any], None]
    why_not: Callable[[Any, Any], str | None] | None = None


Table = Mapping[type, Callable | Emitter]


def emitter_of(table: Table, node) -> Callable[[Any, Any], None]:
    """The emitter of `node`'s op (check() has already accepted the node)."""
    entry = table[type(node.op)]
    return entry.emit if isinstance(entry, Emitter) else entry


def why_not_of(entry) -> Callable[[Any, Any], str | None] | None:
    return entry.why_not if isinstance(entry, Emitter) else None


def dtypes_of(graph, node) -> str:
    ins = ", ".join(graph.types[v].dtype.value for v in node.inputs)
    outs = ", ".join(graph.types[v].dtype.value for v in node.outputs)
    return f"{ins} -> {outs}"


def problem(graph, node, reason: str, advice: str) -> Problem:
    return Problem(node.name, node.op.kind, dtypes_of(graph, node), reason, advice)


def skip_advice(node, graph) -> str:
    """What to do about a node a backend cannot emit: an int8 node can stay in float (--skip),
    any node can go to another target."""
    if any(graph.types[v].dtype.value == "i16" for v in (*node.inputs, *node.outputs)):   # A16W8
        return "it computes on int16 values (--precision NAME=int16): drop those entries, or build for --target ref"
    if node.inputs and graph.types[node.inputs[0]].dtype.value == "i8":
        return f"use --skip {node.name} to keep it in float, or build for another target (`qcomp targets`)"
    return "build this model for another target (`qcomp targets`), e.g. --target ref"


def check_nodes(graph, table: Table, backend: str,
                advice: Callable[[Any, Any], str] = skip_advice) -> list[Problem]:
    """A Problem for every node whose op has no entry in `table` or whose entry's precondition
    fails. `advice(node, graph)` says what to do (default: skip_advice)."""
    out = []
    for node in graph.nodes:
        entry = table.get(type(node.op))
        if entry is None:
            out.append(problem(graph, node, f"the {backend} backend has no emitter for {node.op.kind}",
                               advice(node, graph)))
            continue
        why_not = why_not_of(entry)
        reason = why_not(node, graph) if why_not is not None else None
        if reason:
            out.append(problem(graph, node, reason, advice(node, graph)))
    return out


def refuse(problems: list[Problem], target) -> UnsupportedModelError:
    """One error listing every problem (a user fixes them all in one round)."""
    lines = "\n".join(f"  - {p}" for p in problems)
    return UnsupportedModelError(f"target {target.name} cannot build this model: {len(problems)} node(s) "
                                 f"it cannot emit:\n{lines}")


def raise_problems(problems: list[Problem], target) -> None:
    if problems:
        raise refuse(problems, target)
