"""Concat slices of the memory plan: where each operand of a Concat view lives in the output's bytes.

A Concat along axis a of row-major tensors is, byte for byte, R rows (R = prod(shape[:a])): row r
of the output is row r of operand 0, then row r of operand 1, ... With b_i = prod(shape_i[a:]) *
itemsize the bytes of one operand row, B = sum_i b_i and s_i = sum_{j<i} b_j:

    operand i, row r  ==  output bytes [r * B + s_i, r * B + s_i + b_i)

R = 1 (every axis before a has extent 1): operand i is the one contiguous range [s_i, s_i + b_i),
a dense view at offset s_i (`concat_slices`; plan.view_offsets). R > 1 (a channel concat of NHWC
with H x W > 1): operand i is R rows of b_i bytes, B apart (`row_slices`): a *strided* view,
plan.view_rows[x_i] = (b_i, B). Only a producer that writes its rows with a row stride can fill
one (the llvm GEMM kernels: codegen/llvm/strided.py), so plan_memory makes strided views only when
the backend says which producers can, and a strided value may have no reader but its Concat
(every other kernel reads dense tensors) and no views of its own.

The verifier's checks of these edges (`concat_edge_errors`, `strided_errors`):
    o(x_i) = o(y) + s_i for every operand of a Concat view (o: the byte offset in the root)
    dense:   R = 1, o(x_i) a multiple of ALIGN, [o, o + bytes) inside the root
    strided: view_rows[x_i] = (b_i, B), y itself dense, o + (R - 1) * B + b_i <= root's bytes,
             x_i read by its Concat only
    a Concat view (plan.concat_views) holds all of its operands in its output's storage.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .graph import Graph, Node
from .ops import Concat

if TYPE_CHECKING:
    from .memory import MemoryPlan


def row_slices(g: Graph, node: Node) -> tuple[int, list[int], list[int], int]:
    """(R rows, b_i bytes of each operand's row, s_i its start in an output row, B bytes per output row)."""
    axis = node.op.axis
    rows = int(np.prod(g.types[node.outputs[0]].shape[:axis], dtype=np.int64))
    widths = [g.types[x].nbytes // rows if rows else 0 for x in node.inputs]
    starts = [int(s) for s in np.cumsum([0] + widths[:-1])]
    return rows, widths, starts, sum(widths)


def concat_slices(g: Graph, node: Node) -> list[int] | None:
    """The byte offset s_i of each operand inside a Concat's output when every operand is one
    contiguous byte range of it (every axis before the concat axis has extent 1), else None."""
    if not isinstance(node.op, Concat) or any(d != 1 for d in g.types[node.outputs[0]].shape[:node.op.axis]):
        return None
    return row_slices(g, node)[2]


def concat_edge_errors(g: Graph, plan: "MemoryPlan", n: Node, edges: dict[str, int]) -> list[str]:
    """A Concat view's edges counted into `edges` (by root), and every offset or stride they break."""
    y = n.outputs[0]
    if y not in plan.concat_views:
        return []
    strided = any(x in plan.view_rows for x in n.inputs)
    apart = [x for x in n.inputs if plan.storage(x) != plan.storage(y)]
    if apart or (not strided and concat_slices(g, n) is None):
        return [f"memory plan: Concat {n.name!r} is a view, but operands {apart} live elsewhere or its "
                f"operands are neither contiguous slices nor strided ones their producers write"]
    edges[plan.storage(y)] = edges.get(plan.storage(y), 0) + len(n.inputs)
    rows, widths, starts, total = row_slices(g, n)
    errs = [f"memory plan: Concat {n.name!r}: operand {x!r} lives at offset {plan.offset_in_storage(x)} of "
            f"{plan.storage(y)!r}, its slice starts at {plan.offset_in_storage(y) + s}"
            for x, s in zip(n.inputs, starts) if plan.offset_in_storage(x) != plan.offset_in_storage(y) + s]
    if strided:
        if y in plan.view_rows:
            errs.append(f"memory plan: Concat {n.name!r} writes strided operands into {y!r}, which is strided itself")
        errs += [f"memory plan: Concat {n.name!r}: operand {x!r} has rows {plan.view_rows.get(x)}, its slice "
                 f"is rows of {b} bytes {total} apart" for x, b in zip(n.inputs, widths)
                 if plan.view_rows.get(x) != (b, total)]
    return errs


def strided_errors(g: Graph, plan: "MemoryPlan") -> list[str]:
    """Each strided value: a view, its R rows inside the root, read by its Concat view only."""
    errs = []
    readers: dict[str, list[Node]] = {}
    for n in g.nodes:
        for x in n.inputs:
            readers.setdefault(x, []).append(n)
    for v, (width, stride) in plan.view_rows.items():
        r = plan.aliases.get(v)
        if r is None or r not in g.types or v not in g.types or width <= 0 or stride < width:
            errs.append(f"memory plan: {v!r} has rows ({width}, {stride}) but is not a strided view of a value of the graph")
            continue
        o, rows = plan.offset_in_storage(v), g.types[v].nbytes // width
        if o < 0 or rows * width != g.types[v].nbytes or o + (rows - 1) * stride + width > g.types[r].nbytes:
            errs.append(f"memory plan: strided view {v!r} ({rows} rows of {width} bytes, {stride} apart, at {o}) "
                        f"is not inside the {g.types[r].nbytes} bytes of {r!r}")
        users = readers.get(v, [])
        if len(users) != 1 or not isinstance(users[0].op, Concat) or not plan.is_view(users[0]) or v in g.outputs:
            errs.append(f"memory plan: strided view {v!r} is read by {[u.name for u in users]}; only the Concat "
                        f"whose slice it is may read it")
    return errs


__all__ = ["concat_edge_errors", "concat_slices", "row_slices", "strided_errors"]
