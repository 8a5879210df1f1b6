"""The memory plan of a TARGET graph: where every value lives, as data the IR carries.

Storage. Graph inputs and outputs live in the caller's buffers, constants in the weights; every
other value lives in ONE workspace at a byte offset. A Reshape only renames bytes (row-major order
is unchanged), so the plan may make its output a *view*: the output shares its input's storage and
no kernel runs for the node. Views group values into storage classes:

  aliases[v] = r      v has no storage of its own; it lives where r lives (r: the class's root)
  storage(v) = aliases.get(v, v)

A class is one base value plus the Reshapes hanging off it, connected by Reshape edges; exactly
one node writes it (the base's producer; none for a graph input or constant). Its root is the
base, or the graph output the class was moved into (the base's producer then writes straight into
the caller's output buffer). A class holds at most one caller buffer or constant: a Reshape from
one caller buffer (or constant) to another stays a copy.

Concat slices. A Concat whose axes before the concat axis all have extent 1 lays its operands
end to end: operand i is the byte range [s_i, s_i + bytes_i) of the output, s_i = sum_{j<i} bytes_j.
The plan may then make every operand a view at that offset, so each producer writes straight into
its slice and the Concat runs no kernel. A view is (root, byte offset):

  view_offsets[v] = o        v lives at byte o of storage(v)'s bytes (absent: o = 0)
  Reshape view  x -> y:      o(y) = o(x)
  Concat view   x_i -> y:    o(x_i) = o(y) + s_i,   every o a multiple of ALIGN

Such a class is a tree of Reshape and Concat edges; each byte has one writer (the producer of the
operand whose slice holds it). A Concat with rows before its axis (R > 1) has strided operands:
view_rows[v] = (row bytes, row stride), made only for producers a backend can point at rows
(memory_concat.py: the row arithmetic and the checks of both kinds of slice). A Concat is a view
when the plan lists its output in concat_views (`is_view`); the verifier checks every such edge.
(Membership alone does not say it: a copying Concat's operands and output can join one class when
a later Concat view takes them, each still in its own bytes.)

Liveness. A workspace class lives from the step of its writer to the last step that reads any of
its values (an alias extends its base's lifetime to the alias's last use). Two classes alive at
the same step must not share a byte; every offset is a multiple of ALIGN and ends inside the
workspace. The verifier (verify.py) checks all of this when a graph carries a plan.

    activation_bytes = sum of the workspace classes' sizes   (what no reuse by liveness would need)
    workspace_bytes  = end of the highest placed class        (<= activation_bytes rounded to ALIGN)
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from .graph import Graph, Node
from .memory_concat import concat_edge_errors, concat_slices, strided_errors
from .ops import Concat, Reshape

ALIGN = 64  # bytes: a cache line, a zmm register, QCOMP_WORKSPACE_ALIGN of runtime/qcomp.h


@dataclass(frozen=True)
class MemoryPlan:
    offsets: Mapping[str, int]             # workspace root -> byte offset
    sizes: Mapping[str, int]               # workspace root -> bytes
    workspace_bytes: int
    activation_bytes: int                  # sum of `sizes` (no reuse by liveness)
    aliases: Mapping[str, str] = field(default_factory=dict)   # view value -> its class's root
    view_offsets: Mapping[str, int] = field(default_factory=dict)   # view value -> byte offset in its root (absent: 0)
    view_rows: Mapping[str, tuple[int, int]] = field(default_factory=dict)   # strided view -> (row bytes, row stride)
    concat_views: frozenset[str] = frozenset()   # outputs of the Concats that are views (no kernel)

    def __post_init__(self):
        for name in ("offsets", "sizes", "aliases", "view_offsets"):
            object.__setattr__(self, name, MappingProxyType(dict(getattr(self, name))))
        rows = {v: (int(w), int(s)) for v, (w, s) in dict(self.view_rows).items()}   # .qir stores lists
        object.__setattr__(self, "view_rows", MappingProxyType(rows))
        object.__setattr__(self, "concat_views", frozenset(self.concat_views))

    def storage(self, value: str) -> str:
        """The value that owns `value`'s bytes (itself unless it is a view)."""
        return self.aliases.get(value, value)

    def offset_in_storage(self, value: str) -> int:
        """Where `value`'s bytes start inside storage(value)'s bytes (0 unless a Concat slice)."""
        return self.view_offsets.get(value, 0)

    def row_stride(self, value: str) -> int | None:
        """The bytes between `value`'s rows when it is a strided Concat slice (memory_concat.py), else None."""
        rows = self.view_rows.get(value)
        return None if rows is None else rows[1]

    def is_view(self, node: Node) -> bool:
        """True for a Reshape whose output already lives where its input does, and for a Concat the plan
        made a view (its operands live in their slices of its output): it runs no kernel. (A copying
        Concat's operands may end up in its output's class, each in its own bytes, when a later
        Concat takes both: membership alone does not make a view.)"""
        if isinstance(node.op, Reshape):
            return self.storage(node.inputs[0]) == self.storage(node.outputs[0])
        if isinstance(node.op, Concat):
            return node.outputs[0] in self.concat_views
        return False


def external(g: Graph) -> set[str]:
    """Values that never live in the workspace: caller buffers and constants."""
    return set(g.inputs) | set(g.outputs) | set(g.constants)


def lifetimes(g: Graph, aliases: Mapping[str, str] = MappingProxyType({})) -> dict[str, tuple[int, int]]:
    """workspace root -> (first step, last step) over the values of its storage class."""
    outside = external(g)
    life: dict[str, list[int]] = {}
    for step, n in enumerate(g.nodes):
        for v in n.inputs:
            r = aliases.get(v, v)
            if r in life:
                life[r][1] = step
        for o in n.outputs:
            r = aliases.get(o, o)
            if r not in outside and r not in life:
                life[r] = [step, step]
    return {v: (a, b) for v, (a, b) in life.items()}


def plan_errors(g: Graph, plan: MemoryPlan) -> list[str]:
    """Every way `plan` is not a valid memory plan of `g` (empty when it is)."""
    errs: list[str] = []
    outside = external(g)
    produced = {o for n in g.nodes for o in n.outputs}
    errs += _alias_errors(g, plan, outside)
    if errs:
        return errs
    live = lifetimes(g, plan.aliases)
    for v in sorted(set(live) - set(plan.offsets)):
        errs.append(f"memory plan: value {v!r} lives in the workspace but has no offset")
    for v, off in plan.offsets.items():
        if v not in produced or v in outside or v in plan.aliases:
            errs.append(f"memory plan: {v!r} has an offset but is not a workspace value of the graph "
                        f"(a caller buffer, a constant, a view or unknown)")
            continue
        size = plan.sizes.get(v)
        if size != g.types[v].nbytes:
            errs.append(f"memory plan: {v!r} is planned with {size} bytes, its type {g.types[v]} has "
                        f"{g.types[v].nbytes}")
            continue
        if off % ALIGN:
            errs.append(f"memory plan: {v!r} at offset {off} is not aligned to {ALIGN} bytes")
        if off < 0 or off + size > plan.workspace_bytes:
            errs.append(f"memory plan: {v!r} at [{off}, {off + size}) is outside the workspace of "
                        f"{plan.workspace_bytes} bytes")
    if errs:
        return errs
    placed = sorted((plan.offsets[v], v) for v in live)
    for i, (oa, a) in enumerate(placed):
        end = oa + plan.sizes[a]
        for ob, b in placed[i + 1:]:
            if ob >= end:
                break
            (fa, la), (fb, lb) = live[a], live[b]
            if not (la < fb or lb < fa):
                errs.append(f"memory plan: {a!r} (steps {fa}..{la}) and {b!r} (steps {fb}..{lb}) are alive "
                            f"together and overlap in the workspace at [{max(oa, ob)}, {min(end, ob + plan.sizes[b])})")
    return errs


def _alias_errors(g: Graph, plan: MemoryPlan, outside: set[str]) -> list[str]:
    """Each class: members inside the root's bytes at ALIGN-aligned offsets, connected by its
    Reshape and Concat edges (offsets as the module docstring says), at most one caller buffer or
    constant (then it is the root), and a root that is not itself a view."""
    errs = []
    for v, o in plan.view_offsets.items():
        r = plan.aliases.get(v)
        if r is None or r not in g.types or v not in g.types:
            errs.append(f"memory plan: {v!r} has a view offset but is not a view of a value of the graph")
        elif v not in plan.view_rows and (o < 0 or o % ALIGN or o + g.types[v].nbytes > g.types[r].nbytes):
            errs.append(f"memory plan: view {v!r} at [{o}, {o + g.types[v].nbytes}) of {r!r} is not an "
                        f"{ALIGN}-aligned range inside its {g.types[r].nbytes} bytes")
    members: dict[str, list[str]] = {}
    for v, r in plan.aliases.items():
        if v not in g.types or r not in g.types:
            errs.append(f"memory plan: alias {v!r} -> {r!r} names a value the graph does not have")
            continue
        if r in plan.aliases:
            errs.append(f"memory plan: {v!r} is a view of {r!r}, which is a view itself (aliases name roots)")
            continue
        members.setdefault(r, [r]).append(v)
    if errs:
        return errs
    errs += strided_errors(g, plan)
    edges: dict[str, int] = {}
    for n in g.nodes:
        errs += _edge_errors(g, plan, n, edges)
    for r, vs in members.items():
        where = f"memory plan: the storage of {r!r} ({', '.join(map(repr, vs))})"
        if edges.get(r, 0) != len(vs) - 1:
            errs.append(f"{where} is not a chain of Reshapes and Concat slices: only values linked by "
                        f"Reshape nodes or contiguous Concat operands may share bytes")
        caller = sorted(v for v in vs if v in outside)
        if len(caller) > 1 or (caller and caller[0] != r):
            errs.append(f"{where} holds caller buffers or constants {caller}; only one, as the root")
    return errs


def _edge_errors(g: Graph, plan: MemoryPlan, n: Node, edges: dict[str, int]) -> list[str]:
    """Count a view node's edges into `edges` (by root); the offsets its edges must have."""
    y = n.outputs[0]
    if isinstance(n.op, Reshape) and plan.is_view(n):
        edges[plan.storage(y)] = edges.get(plan.storage(y), 0) + 1
        if plan.offset_in_storage(n.inputs[0]) != plan.offset_in_storage(y):
            return [f"memory plan: Reshape {n.name!r} is a view, but {n.inputs[0]!r} and {y!r} start at "
                    f"different offsets of {plan.storage(y)!r}"]
        return []
    if isinstance(n.op, Concat):
        return concat_edge_errors(g, plan, n, edges)
    return []


__all__ = ["ALIGN", "MemoryPlan", "concat_slices", "external", "lifetimes", "plan_errors"]
