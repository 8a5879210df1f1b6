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
   A second Reshape of the same value into another graph output is the copy case. A Reshape of a
   Concat slice (a view at offset o > 0 of a larger class) into a graph output is a copy too.
   Concat, where every axis before the concat axis has extent 1 (memory.concat_slices: operand i
   is bytes [s_i, s_i + bytes_i) of the output): every operand's class moves into the output's
   storage at offset o(y) + s_i, the operand's producer writes its slice, the Concat runs no kernel:
     y = Concat(x_0, .., x_n-1) a view   <=>  every x_i is a workspace value (no graph input,
       constant or graph output, no view of one), owns its whole class (o(x_i) = 0 and its class
       is x_i's size: not already a slice of another Concat), no two operands share a class, and
       every s_i is a multiple of ALIGN (the kernels' vector stores and the workspace keep ALIGN)
   (`why_not_concat_view` gives the reason for each other case: then the Concat copies.) Quant
   params need no rule: a TARGET Concat's operands already carry the output's params (quantize puts
   a Requantize before any operand that had others), so the Requantize writes into the slice. The
   output may be a graph output: the producers then write into the caller's buffer. Nested
   Concats join one class. An operand read by other nodes stays readable in its slice (the same
   bytes, alive until the class's last read).
   Strided slices (ir/memory_concat.py), only with `strided=writes_rows`, the backend's
   `why_not(node, graph) -> str | None` for a producer that cannot write its rows with a row
   stride (llvm: codegen/llvm/strided.py): a Concat with rows before its axis (an NHWC channel
   concat) whose every operand is a workspace value with no views, read by this Concat only (its
   other readers would read a dense tensor) and made by a producer that writes rows, becomes a view
   too: operand i is rows of b_i bytes at s_i, B apart (view_rows[x_i] = (b_i, B)). Otherwise it copies.
2. Offsets. Greedy by size (TFLite's "greedy by size" arena planner): place the largest workspace
   class first, each at the lowest ALIGN-aligned offset that collides with no placed class alive
   at the same time.

    workspace_bytes <= activation_bytes = sum of the workspace classes' sizes

`plan_memory(g, aliases=False)` makes no views (every Reshape and Concat copies): the layout before
views, for figures (benchmarks/memory_plan.py) and tests; `concats=False` keeps the Reshape views
and copies every Concat (the layout before Concat views).
"""
from __future__ import annotations

from collections.abc import Callable

from ..errors import QcompError
from ..ir import Graph, Node, Stage, ops
from ..ir.memory import ALIGN, MemoryPlan, concat_slices, external, lifetimes
from ..ir.memory_concat import row_slices

WritesRows = Callable[[Node, Graph], "str | None"]   # why a producer cannot write rows with a stride

__all__ = ["ALIGN", "plan_memory", "view_slices", "views", "why_not_concat_view", "why_not_strided_view"]


def _align(n: int) -> int:
    return (n + ALIGN - 1) // ALIGN * ALIGN


def views(g: Graph) -> dict[str, str]:
    """view value -> the root of its storage class, by the rules of the module docstring."""
    return view_slices(g)[0]


class _Classes:
    """The storage classes while the walk builds them: root and offset of every value placed."""

    def __init__(self, g: Graph):
        self.g, self.outside = g, external(g)
        self.root: dict[str, str] = {}
        self.offset: dict[str, int] = {}
        self.members: dict[str, list[str]] = {}
        self.concats: set[str] = set()             # outputs of the Concats made views

    def base(self, v: str) -> str:
        return self.root.get(v, v)

    def join(self, v: str, base: str, offset: int) -> None:
        self.root[v], self.offset[v] = base, offset
        self.members.setdefault(base, [base]).append(v)

    def move(self, base: str, into: str, at: int) -> None:
        """The whole class of `base` now lives at byte `at` of `into`'s storage."""
        moved = self.members.pop(base, [base])
        for v in moved:
            self.root[v], self.offset[v] = into, at + self.offset.get(v, 0)
        self.members.setdefault(into, [into]).extend(moved)

    def whole(self, v: str) -> bool:
        """v's bytes are all of its class's bytes (not a slice of a Concat's output)."""
        return self.offset.get(v, 0) == 0 and self.g.types[self.base(v)].nbytes == self.g.types[v].nbytes


def why_not_concat_view(g: Graph, node, classes: _Classes) -> str | None:
    """Why this Concat must copy its operands (None: each can live in its slice of the output)."""
    starts = concat_slices(g, node)
    if starts is None:
        axis = node.op.axis
        return (f"its operands are strided in the output (axes before the concat axis {axis} have "
                f"extents {g.types[node.outputs[0]].shape[:axis]}, not all 1)")
    if any(s % ALIGN for s in starts):
        return f"an operand's slice starts at a byte offset that is not a multiple of {ALIGN} ({starts})"
    bases = []
    for x in node.inputs:
        base = classes.base(x)
        if x in classes.outside or base in classes.outside:
            return f"operand {x!r} is (a view of) a graph input, output or constant"
        if not classes.whole(x):
            return f"operand {x!r} is already a slice of another Concat's output"
        bases.append(base)
    if len(set(bases)) != len(bases):
        return "two operands share their storage (the same value, or views of one)"
    return None


def why_not_strided_view(g: Graph, node: Node, classes: _Classes, writes_rows: WritesRows,
                         readers: dict[str, list[Node]], producers: dict[str, Node]) -> str | None:
    """Why this Concat's operands cannot be strided slices of its output (None: they can)."""
    for x in node.inputs:
        if x in classes.outside:
            return f"operand {x!r} is a graph input, output or constant"
        if classes.base(x) != x or x in classes.members:
            return f"operand {x!r} shares its storage with views (they would read a strided tensor)"
        if [id(r) for r in readers.get(x, [])] != [id(node)]:
            return f"operand {x!r} is read by other nodes too, which read dense tensors"
        why = writes_rows(producers[x], g)
        if why is not None:
            return f"operand {x!r}: {why}"
    return None


def view_slices(g: Graph, concats: bool = True, copies: dict[str, str] | None = None,
                strided: WritesRows | None = None) -> tuple[dict[str, str], dict[str, int], dict[str, tuple[int, int]], set[str]]:
    """(view value -> the root of its class, view value -> its byte offset there when not 0,
    strided view -> (row bytes, row stride), the outputs of the Concat views); `copies`, when given, gets the reason of every Concat
    that stays a copy (by output value); `strided`: the producers that write rows (docstring)."""
    c = _Classes(g)
    rows: dict[str, tuple[int, int]] = {}
    readers: dict[str, list[Node]] = {}
    producers = {o: n for n in g.nodes for o in n.outputs}
    for n in g.nodes:
        for x in n.inputs:
            readers.setdefault(x, []).append(n)
    for n in g.nodes:
        if isinstance(n.op, ops.Concat) and concats:
            why = why_not_concat_view(g, n, c)
            if why is None:
                for x, s in zip(n.inputs, concat_slices(g, n)):
                    c.move(c.base(x), n.outputs[0], s)
                c.concats.add(n.outputs[0])
                continue
            if strided is not None and concat_slices(g, n) is None:
                why = why_not_strided_view(g, n, c, strided, readers, producers)
                if why is None:
                    _, widths, starts, total = row_slices(g, n)
                    for x, w, s in zip(n.inputs, widths, starts):
                        c.move(x, n.outputs[0], s)
                        rows[x] = (w, total)
                    c.concats.add(n.outputs[0])
                    continue
            if copies is not None:
                copies[n.outputs[0]] = why
            continue
        if not isinstance(n.op, ops.Reshape):
            continue
        x, y = n.inputs[0], n.outputs[0]
        base = c.base(x)
        if y in c.outside:
            if base in c.outside or not c.whole(x):
                continue                          # caller buffer / constant / a slice -> graph output: a copy
            c.move(base, y, 0)                    # the class now lives in the caller's output buffer
        else:
            c.join(y, base, c.offset.get(x, 0))
    aliases = {v: r for v, r in c.root.items() if v != r}
    return aliases, {v: c.offset[v] for v in aliases if c.offset.get(v, 0)}, rows, c.concats


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


def plan_memory(g: Graph, aliases: bool = True, concats: bool = True, strided: WritesRows | None = None) -> Graph:
    """`g` with its memory plan (g.memory); aliases=False: no views, every Reshape and Concat copies;
    concats=False: Reshape views only, every Concat copies; strided: the backend's producers that
    write rows with a stride (then channel Concats of their outputs are strided views)."""
    if g.stage is not Stage.TARGET:
        raise QcompError(f"plan_memory plans TARGET graphs (after lower_integer), got a {g.stage.name} graph")
    alias, slices, rows, concat_views = view_slices(g, concats, strided=strided) if aliases else ({}, {}, {}, set())
    live = lifetimes(g, alias)
    sizes = {v: g.types[v].nbytes for v in live}
    offsets = _place(live, sizes)
    workspace = max((_align(max(sizes[v], 1)) + o for v, o in offsets.items()), default=0)
    out = g.copy()
    out.memory = MemoryPlan(offsets, sizes, workspace, sum(sizes.values()), alias, slices, rows, concat_views)
    return out
