"""Replace an elementwise subgraph of one value by the one unary op it computes (static int8 builds).

  %a = Div(%x, 1.4142135)   %b = Erf(%a)   %c = Add(%b, 1.0)   %d = Mul(%x, %c)   %y = Mul(%d, 0.5)
    ->
  %y = Gelu(%x) {approximate=none}             y = x/2 * (1 + erf(x / sqrt 2))

Exporters write some activations as chains of elementwise nodes, in many arrangements: GELU (Mul by
0.5 first or last, Div by sqrt 2 or Mul by 1/sqrt 2, its tanh form with Pow(x, 3) or x * x * x),
HardSwish and HardSigmoid below opset 14 (x * Clip(x + 3, 0, 6) / 6), Sigmoid as 1 / (1 + exp(-x)).
Quantized node by node, each node requantizes to its own calibrated grid (GELU's Erf form: four Luts
and a QMul, five roundings, the QMul's product of two rounded int8 values the coarsest); the one op
becomes one 256-entry Lut, computed in float64 over the input's 256 codes and rounded once to the
output's grid (fixedpoint.build_lut), on every backend.

Matching is by what the subgraph computes, not by its shape. For every float32 value x, the region
R(x) is every node, in order, that is elementwise of x alone: a unary op with a float64 definition
(quantize_modes' table: Erf, Tanh, Clip, Exp, ...) or Add, Sub, Mul, Div, Pow whose operands are x,
values R(x) made, or scalar constants, its output x's shape. A candidate is a node e of R(x) with the
nodes of R(x) it depends on; it qualifies when it has two nodes or more, every value it makes but
e's output is read only inside it (no graph output), none of the nodes and values it removes (all
but e's name and output, which the fused op takes) is named by `--skip` / `--precision` (`keep`), and its float64 evaluation equals one op of FORMS (the same
float64 definitions) within 1e-6 relative on 2009 probe points in [-1000, 1000] (an infinity only
against the same infinity). The largest qualifying candidate is replaced by that op on x, named after
e, writing e's output. Exact arithmetic would agree everywhere; in float32 the two differ by rounding
only (a few ulps), the FLOAT graph is otherwise the model's.

Where it runs: `builder.float_graph` for `--quant full` (STATIC_FLOAT_PASSES), before calibration;
`--quant dynamic` keeps the Erf chain for its own fusion (fuse_dynamic's DynamicDenseGelu).
"""
from __future__ import annotations

import heapq

import numpy as np

from ..ir import Graph, Node, ops
from .quantize_modes import _UNARY_FN

_BINARY = {ops.Add: np.add, ops.Sub: np.subtract, ops.Mul: np.multiply, ops.Div: np.divide, ops.Pow: np.power}
PROBES = np.concatenate([np.linspace(-10.0, 10.0, 2001), [-1000.0, -100.0, -30.0, -12.0, 12.0, 30.0, 100.0, 1000.0]])
TOLERANCE = 1e-6
# the ops a subgraph may become, in the order they are tried (fixed parameters: the exporters' forms)
FORMS = (ops.Gelu(approximate="none"), ops.Gelu(approximate="tanh"), ops.HardSwish(),
         ops.HardSigmoid(alpha=1.0 / 6.0, beta=0.5), ops.Sigmoid(), ops.Tanh(), ops.Mish(), ops.Softplus())


def definition(op, x: np.ndarray) -> np.ndarray:
    """The float64 definition quantize gives `op` (one table for both)."""
    with np.errstate(all="ignore"):
        return _UNARY_FN[type(op)](op, x)


def _scalar(g: Graph, v: str) -> float | None:
    c = g.constants.get(v)
    return float(c.reshape(())) if c is not None and c.size == 1 and c.dtype == np.float32 else None


def _joins(g: Graph, n: Node, region: set[str], shape) -> bool:
    """n is elementwise of the region's values and scalar constants, with the region's shape."""
    kind = type(n.op)
    if len(n.outputs) != 1 or g.types[n.outputs[0]].shape != shape or g.types[n.outputs[0]].dtype.np != np.float32:
        return False
    if kind in _BINARY and len(n.inputs) == 2:
        ok = all(v in region or _scalar(g, v) is not None for v in n.inputs)
        return ok and any(v in region for v in n.inputs)
    return kind in _UNARY_FN and len(n.inputs) == 1 and n.inputs[0] in region


def evaluate(g: Graph, x: str, nodes: list[Node], xs: np.ndarray) -> np.ndarray:
    """The region's last node's value in float64, x = xs."""
    vals = {x: xs}
    for n in nodes:
        args = [vals[v] if v in vals else _scalar(g, v) for v in n.inputs]
        with np.errstate(all="ignore"):
            vals[n.outputs[0]] = (_BINARY[type(n.op)](*args) if type(n.op) in _BINARY
                                  else _UNARY_FN[type(n.op)](n.op, args[0]))
    return np.broadcast_to(vals[nodes[-1].outputs[0]], xs.shape)


def matches(g: Graph, x: str, nodes: list[Node]):
    """The op of FORMS the region computes, or None."""
    got = evaluate(g, x, nodes, PROBES)
    for op in FORMS:
        want = definition(op, PROBES)
        with np.errstate(all="ignore"):
            close = (got == want) | (np.abs(got - want) <= TOLERANCE * (1.0 + np.abs(want)))
        if np.all(close):
            return op
    return None


def _candidate(g: Graph, region: list[Node], end: Node, consumers: dict, keep) -> list[Node] | str:
    """The nodes of `region` that `end` depends on, or why they cannot be replaced."""
    made = {o: n for n in region for o in n.outputs}
    need, stack = set(), [end]
    while stack:
        n = stack.pop()
        if id(n) not in need:
            need.add(id(n))
            stack += [made[v] for v in n.inputs if v in made]
    sub = [n for n in region if id(n) in need]
    if len(sub) < 2:
        return "one node (already one table)"
    inside = {id(n) for n in sub}
    for n in sub:
        if n is not end and (n.name in keep or n.outputs[0] in keep):
            return f"{n.name!r} is named by --skip or --precision"
        if n is not end and (n.outputs[0] in g.outputs or any(id(r) not in inside for r in consumers[n.outputs[0]])):
            return f"{n.outputs[0]!r} is read outside the subgraph"
    return sub


def _region(g: Graph, x: str, consumers: dict, order: dict, used: set) -> list[Node]:
    """R(x) in graph order, grown along readers only: a reader is taken in order of position, after
    every node before it (so each of its region operands has been decided), so the work is the
    region's and its readers', not the graph's."""
    region_vals, region, seen = {x}, [], set()
    heap = [(order[id(r)], r) for r in consumers.get(x, [])]
    heapq.heapify(heap)
    while heap:
        _, n = heapq.heappop(heap)
        if id(n) in seen:
            continue
        seen.add(id(n))
        if id(n) not in used and _joins(g, n, region_vals, g.types[x].shape):
            region.append(n)
            region_vals.add(n.outputs[0])
            for r in consumers.get(n.outputs[0], []):
                heapq.heappush(heap, (order[id(r)], r))
    return region


def fuse_elementwise(g: Graph, keep=frozenset()) -> Graph:
    consumers = g.consumers()
    used: set[int] = set()
    plan: dict[int, tuple[str, object, list[Node]]] = {}   # id(end node) -> (x, op, region nodes)
    values = [*g.inputs, *(o for n in g.nodes for o in n.outputs)]
    order = {id(n): i for i, n in enumerate(g.nodes)}
    for x in values:
        if g.types[x].dtype.np != np.float32:
            continue
        region = _region(g, x, consumers, order, used)
        best = None
        for end in reversed(region):
            sub = _candidate(g, region, end, consumers, keep)
            if isinstance(sub, list) and (best is None or len(sub) > len(best[1])):
                op = matches(g, x, sub)
                best = (op, sub) if op is not None else best
        if best is not None:
            used.update(id(n) for n in best[1])
            plan[id(best[1][-1])] = (x, best[0], best[1])
    if not plan:
        return g
    out = g.copy()
    nodes = []
    for old, n in zip(g.nodes, out.nodes):
        if id(old) in plan:
            x, op, _ = plan[id(old)]
            nodes.append(Node(old.name, op, (x,), old.outputs))
        elif id(old) not in used:
            nodes.append(n)
    out.nodes = nodes
    out.prune()
    return out
