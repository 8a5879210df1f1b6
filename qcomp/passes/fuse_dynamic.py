"""Fuse a DynamicDense, its bias Add and the Erf form of GELU after it into one DynamicDenseGelu, and a
DynamicDense, its bias Add, a residual Add and a LayerNorm into one DynamicDenseAddNorm.

  %d = DynamicDense(%x, %w, %b, %w_scale)                     d: read by the Add only
  %h = Add(%bias, %d)                 (or Add(%d, %bias))     bias: a constant f32[N] (or [1, .., 1, N])
  %t = Div(%h, %c_div)                                        c_div: a scalar constant (sqrt 2)
  %e = Erf(%t)
  %a = Add(%e, %c_one)                (or Add(%c_one, %e))    c_one: a scalar constant (1)
  %m = Mul(%h, %a)                    (or Mul(%a, %h))
  %y = Mul(%m, %c_half)               (or Mul(%c_half, %m))   c_half: a scalar constant (0.5)
    ->
  %y = DynamicDenseGelu(%x, %w, %b, %w_scale, %bias) {act_min, act_max, div, one, half}

  %d = DynamicDense(%x, %w, %b, %w_scale)
  %h = Add(%bias, %d)                 (or Add(%d, %bias))     as above
  %s = Add(%h, %r)                    (or Add(%r, %h))        r: float32 of h's shape (the residual)
  %y = LayerNorm(%s, %gamma, %beta) {axis: last, epsilon}
    ->
  %y = DynamicDenseAddNorm(%x, %w, %b, %w_scale, %bias, %r, %gamma, %beta) {act_min, act_max, epsilon}

x * 0.5 * (1 + erf(x / sqrt 2)) as torch exports GELU, and a BERT layer's output projection. The value is the sequence's element for
element (qcomp/ir/qops_fused.py: float32 addition and multiplication are commutative, so the
operand order of an Add or Mul changes nothing). What the fusion saves: five float passes over the
[M, N] intermediate (two and a node for the residual form), each a store and a load of M * N floats;
the llvm backend computes the elementwise steps in the GEMM's epilogue on each tile while it is in
registers, then (residual form) the LayerNorm's row pass in place (codegen/llvm/kernels_dynamic_fused.py).

Where it runs: only on backends that emit DynamicDenseGelu and DynamicDenseAddNorm (builder.BACKEND_FUSIONS: llvm), between
lower_integer and plan_memory; every other backend, and the `ref` target, run the unfused sequence.

What does not fuse (why_not_fusable gives the reason): a value of the chain that is a graph output
or has readers outside it (h has exactly the Div and the Mul); an Add with a fused clamp; a bias
that is not a constant f32 of N values along the last axis; a scalar operand that is not a one-element f32 constant; another
order of the ops (x * 0.5 first, a Gelu node, the tanh form); a residual of another shape (a
broadcasting Add); a LayerNorm over more than the last axis; a DynamicDenseRows (--dynamic-granularity
row: its epilogue already reads per-row data, and these chains stay unfused there).
"""
from __future__ import annotations

import numpy as np

from ..ir import DType, Graph, Node, ops, qops
from ..ir.qops_fused import DynamicDenseAddNorm, DynamicDenseGelu
from .pipeline import each_node


def _scalar(g: Graph, name: str) -> float | None:
    """The float32 value of a one-element f32 constant, else None."""
    c = g.constants.get(name)
    if c is None or c.dtype != np.float32 or c.size != 1:
        return None
    return float(c.reshape(-1)[0])


def _other(node: Node, value: str) -> str | None:
    """The operand of a binary node that is not `value` (None when both are)."""
    a, b = node.inputs
    return b if a == value else a if b == value else None


def _only_reader(g: Graph, value: str, consumers: dict, kind) -> Node | str:
    """The single reader of `value` when it is a `kind` node (and value no graph output), else why not."""
    readers = consumers.get(value, [])
    if value in g.outputs:
        return f"{value!r} is a graph output"
    if len(readers) != 1 or type(readers[0].op) is not kind:
        return f"{value!r} is read by {[r.kind for r in readers]}, not by one {kind.__name__}"
    return readers[0]


def _bias_add(g: Graph, dense: Node, consumers: dict) -> tuple[Node, str] | str:
    """(the Add of a constant bias that alone reads the DynamicDense, the bias) or why not."""
    if type(dense.op) is not qops.DynamicDense:
        return f"{dense.name!r} is a {dense.kind}, not a DynamicDense"
    d = dense.outputs[0]
    n = g.types[d].shape[-1]
    add = _only_reader(g, d, consumers, ops.Add)
    if isinstance(add, str):
        return add
    bias = _other(add, d)
    c = g.constants.get(bias)
    if (c is None or c.dtype != np.float32 or c.size != n or c.shape[-1:] != (n,)
            or c.ndim > g.types[d].rank):
        return f"the Add after {dense.name!r} adds {bias!r}, not a constant f32 bias of {n} values along the last axis"
    if add.op.act_min is not None or add.op.act_max is not None:
        return f"the bias Add {add.name!r} has a fused clamp"
    return add, bias


def match_add_norm(g: Graph, dense: Node, consumers: dict) -> tuple[list[Node], dict] | str:
    """(the chain's nodes after the DynamicDense, the fused op's attributes and extra inputs) of
    DynamicDense -> bias Add -> residual Add -> LayerNorm (last axis), or why not."""
    found = _bias_add(g, dense, consumers)
    if isinstance(found, str):
        return found
    add, bias = found
    h = add.outputs[0]
    res = _only_reader(g, h, consumers, ops.Add)
    if isinstance(res, str):
        return res
    r = _other(res, h)
    if r is None or r == h or g.types[r].shape != g.types[h].shape or g.types[r].dtype is not DType.FLOAT32:
        return f"{res.name!r} does not add a float32 residual of {h!r}'s shape to it"
    if res.op.act_min is not None or res.op.act_max is not None:
        return f"the residual Add {res.name!r} has a fused clamp"
    norm = _only_reader(g, res.outputs[0], consumers, ops.LayerNorm)
    if isinstance(norm, str):
        return norm
    rank = g.types[h].rank
    if norm.inputs[0] != res.outputs[0] or norm.op.axis % rank != rank - 1:
        return f"{norm.name!r} normalizes over axes from {norm.op.axis}, not the last axis alone"
    return [add, res, norm], {"epsilon": norm.op.epsilon, "inputs": (bias, r, *norm.inputs[1:])}


def match(g: Graph, dense: Node, consumers: dict) -> tuple[list[Node], dict] | str:
    """(the chain's nodes after the DynamicDense, the fused op's extra attributes and bias) or why not."""
    found = _bias_add(g, dense, consumers)
    if isinstance(found, str):
        return found
    add, bias = found
    h = add.outputs[0]
    readers = consumers.get(h, [])
    div = [r for r in readers if type(r.op) is ops.Div and r.inputs[0] == h]
    mul = [r for r in readers if type(r.op) is ops.Mul and h in r.inputs]
    if h in g.outputs or len(readers) != 2 or len(div) != 1 or len(mul) != 1:
        return f"{h!r} is read by {[r.kind for r in readers]}, not by one Div (h / c) and one Mul"
    div, mul = div[0], mul[0]
    c_div = _scalar(g, div.inputs[1])
    if c_div is None:
        return f"{div.name!r} divides by {div.inputs[1]!r}, not a scalar f32 constant"
    erf = _only_reader(g, div.outputs[0], consumers, ops.Erf)
    if isinstance(erf, str):
        return erf
    one_add = _only_reader(g, erf.outputs[0], consumers, ops.Add)
    if isinstance(one_add, str):
        return one_add
    c_one = _scalar(g, _other(one_add, erf.outputs[0]) or "")
    if c_one is None or one_add.op.act_min is not None or one_add.op.act_max is not None:
        return f"{one_add.name!r} is not erf + a scalar f32 constant without a clamp"
    a = one_add.outputs[0]
    if _other(mul, h) != a or a in g.outputs or len(consumers.get(a, [])) != 1:
        return f"{mul.name!r} does not multiply {h!r} by {a!r} (read by it alone)"
    half_mul = _only_reader(g, mul.outputs[0], consumers, ops.Mul)
    if isinstance(half_mul, str):
        return half_mul
    c_half = _scalar(g, _other(half_mul, mul.outputs[0]) or "")
    if c_half is None:
        return f"{half_mul.name!r} does not multiply by a scalar f32 constant"
    return [add, div, erf, one_add, mul, half_mul], {"div": c_div, "one": c_one, "half": c_half,
                                                     "inputs": (bias,)}


def why_not_fusable(g: Graph, dense: Node, consumers: dict) -> str | None:
    """None when `dense` heads a fusable chain, else why neither chain fuses."""
    gelu, add_norm = match(g, dense, consumers), match_add_norm(g, dense, consumers)
    if not isinstance(gelu, str) or not isinstance(add_norm, str):
        return None
    return gelu if gelu == add_norm else f"GELU: {gelu}; residual LayerNorm: {add_norm}"


def fuse_dynamic(g: Graph) -> Graph:
    consumers = g.consumers()
    plan: dict[int, tuple[Node, list[Node], dict]] = {}   # id(last node) -> (dense, chain, attrs)
    for n in each_node(g.nodes):
        for matcher in (match, match_add_norm):
            found = matcher(g, n, consumers)
            if not isinstance(found, str):
                chain, attrs = found
                plan[id(chain[-1])] = (n, chain, attrs)
    if not plan:
        return g
    out = g.copy()
    out.memory = None
    gone = {id(node) for dense, chain, _ in plan.values() for node in (dense, *chain[:-1])}
    nodes = []
    for old, n in zip(g.nodes, out.nodes):
        if id(old) in gone:
            continue
        if id(old) in plan:
            dense, _, attrs = plan[id(old)]
            if "epsilon" in attrs:
                op = DynamicDenseAddNorm(dense.op.act_min, dense.op.act_max, attrs["epsilon"])
            else:
                op = DynamicDenseGelu(dense.op.act_min, dense.op.act_max, attrs["div"], attrs["one"], attrs["half"])
            bias, *rest = attrs["inputs"]
            if out.constants[bias].ndim != 1:         # [1, ..., 1, N] as exported: the same values as [N]
                bias = out.add_constant(f"{bias}/row", out.constants[bias].reshape(-1))
            n = Node(dense.name, op, (*dense.inputs, bias, *rest), old.outputs)
        nodes.append(n)
    out.nodes = nodes
    out.prune()
    return out
