"""Turn chains of Reshapes and Transposes that keep the elements' order into one Reshape.

The memory plan makes a Reshape a view (no kernel runs, `passes/plan_memory.py`); a Transpose is
a copy. A chain of them read as a whole is the identity on the row-major element order when

  chain(arange(n)).ravel() == arange(n)              (n = the elements of the chain's input x)

and then it equals Reshape(x, y.shape). That one test covers:

  Reshape(Reshape(x, s1), s2) == Reshape(x, s2)     (a reshape never reorders)
  Transpose(x, q) == Reshape(x, y.shape)            when q keeps the axes of extent > 1 in order
                                                     (moving axes of extent 1 reorders nothing)
  Reshape(Transpose(Reshape(x, s1), q), s2) == Reshape(x, s2)
                                                     when the pair cancels (a split, a move of
                                                     size-1 axes, the merge back)
  Reshape(x, x.shape) == x

The chain is walked up from each Reshape/Transpose node y through the Reshape/Transpose nodes
that produce its input (at most MAX_CHAIN of them); the longest prefix whose composed order is the
identity is replaced, so y reads the chain's root directly. Nodes of the chain that something else
reads stay; the rest fall dead and are pruned. A node whose output is a graph output keeps its
name (a Reshape to the same shape stays: the memory plan decides if it copies). Exact at every
stage and dtype (only moves values); run on the FLOAT graph before calibration, after
`fold_transposes` composed Transpose chains.
"""
from __future__ import annotations

import numpy as np

from ..ir import Graph, Node, ops
from .pipeline import each_node

MAX_CHAIN = 8              # Reshape/Transpose nodes walked up from each node
MAX_ELEMENTS = 1 << 24     # the order test evaluates the chain on an arange of the tensor's size

_MOVES = (ops.Reshape, ops.Transpose)


def _apply(op, x: np.ndarray) -> np.ndarray:
    return x.reshape(op.shape) if isinstance(op, ops.Reshape) else x.transpose(op.perm)


def keeps_order(chain: list[Node], shape: tuple[int, ...]) -> bool:
    """Whether the chain (first node first) applied to a tensor of `shape` keeps row-major order."""
    size = int(np.prod(shape, dtype=np.int64))
    x = np.arange(size, dtype=np.int64).reshape(shape)
    for n in chain:
        x = _apply(n.op, x)
    return bool(np.array_equal(x.ravel(), np.arange(size, dtype=np.int64)))


def chain_above(n: Node, producers: dict[str, Node]) -> list[Node]:
    """n and the Reshape/Transpose nodes above it, nearest first (n first), at most MAX_CHAIN."""
    chain = [n]
    while len(chain) < MAX_CHAIN:
        p = producers.get(chain[-1].inputs[0])
        if p is None or not isinstance(p.op, _MOVES):
            break
        chain.append(p)
    return chain


def foldable_prefix(g: Graph, n: Node, producers: dict[str, Node]) -> tuple[int | None, str | None]:
    """(the length of the longest chain ending at n that keeps the order, None) or (None, why not)."""
    if not isinstance(n.op, _MOVES):
        return None, f"{n.kind} is not a Reshape or Transpose"
    if g.types[n.outputs[0]].size > MAX_ELEMENTS:
        return None, f"more than {MAX_ELEMENTS} elements: the order test is not run"
    chain = chain_above(n, producers)
    for length in range(len(chain), 0, -1):
        part = chain[:length][::-1]
        if length == 1 and isinstance(n.op, ops.Reshape) and \
                g.types[n.inputs[0]].shape != g.types[n.outputs[0]].shape:
            return None, (f"the {len(chain) - 1} longer chains ending here reorder the elements, and a Reshape "
                          f"alone to a new shape is already a view")
        if keeps_order(part, g.types[part[0].inputs[0]].shape):
            return length, None
    return None, f"each of the {len(chain)} chains ending here reorders the elements"


def why_not_foldable(g: Graph, n: Node, producers: dict[str, Node]) -> str | None:
    """None when n ends a chain (of one node or more) that keeps the order, else why not."""
    return foldable_prefix(g, n, producers)[1]


def fold_reshapes(g: Graph) -> Graph:
    if not any(isinstance(n.op, _MOVES) for n in g.nodes):
        return g
    out = g.copy()
    producers = out.producers()
    changed = False
    for n in each_node(list(out.nodes)):
        length, _ = foldable_prefix(out, n, producers)
        if length is None:
            continue
        root = chain_above(n, producers)[length - 1].inputs[0]
        y = n.outputs[0]
        if out.types[root].shape == out.types[y].shape and y not in out.outputs:
            out.replace_uses(y, root)
        elif n.inputs == (root,) and isinstance(n.op, ops.Reshape):
            continue   # already Reshape(root): a graph output of its input's shape keeps its node
        else:
            n.op = ops.Reshape(shape=out.types[y].shape)
            n.inputs = (root,)
        changed = True
    if not changed:
        return g
    out.prune()
    return out
