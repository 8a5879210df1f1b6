"""Fuse attention's score steps into the DynamicMatMul that computes Q K^T: one DynamicMatMulScaleAdd.

  %d = DynamicMatMul(%q, %kt) {act_min, act_max}              d: read by the Mul only
  %s = Mul(%d, %c)                    (or Mul(%c, %d))        c: a one-element f32 constant (1/sqrt(d_head))
  %y = Add(%s, %m)                    (or Add(%m, %s))        m: f32 [1, ..., 1, N] (the additive mask,
                                                              a run-time value or a constant)
    ->
  %y = DynamicMatMulScaleAdd(%q, %kt, %m) {act_min, act_max, scale: c}

as BERT-style exports compute the attention scores before their Softmax. The value is the
sequence's element for element (qcomp/ir/qops_fused.py: one IEEE float32 operation per step, in the
unfused order; float32 addition and multiplication are commutative, so operand order changes
nothing). What the fusion saves: two float passes over the [heads, S, S] scores (each a load and a
store of S * S floats per head) and two nodes; the llvm backend computes both steps in the GEMM's
epilogue on each tile while it is in registers (codegen/llvm/kernels_dynamic_fused.py).

Where it runs: only on backends that emit DynamicMatMulScaleAdd (builder.BACKEND_FUSIONS: llvm),
between lower_integer and plan_memory; every other backend, and the `ref` target, run the unfused
sequence. Only products the GEMM micro-kernels run fuse (K * 255 * 255 <= 2^31 - 1, the bound of
kernels_qmatmul.gemm_form): deeper ones keep their scalar int64 loop, unfused.

What does not fuse (why_not_fusable gives the reason): a value of the chain that is a graph output
or has other readers; a Mul by anything but a one-element f32 constant (a Div by sqrt(d) as older
exports write it is not matched); an Add with a fused clamp; an addend that varies along any axis
but the last (a mask of shape [B, 1, S, S] or [B, 1, 1, S] with B > 1) or is not float32.
"""
from __future__ import annotations

from .. import fixedpoint
from ..ir import DType, Graph, Node, ops, qops
from ..ir.qops_fused import DynamicMatMulScaleAdd
from .fuse_dynamic import _only_reader, _other, _scalar
from .pipeline import each_node


def match(g: Graph, mm: Node, consumers: dict) -> tuple[Node, float, str] | str:
    """(the Add ending the chain, the Mul's scale, the addend) of DynamicMatMul -> Mul -> Add, or why not."""
    if type(mm.op) is not qops.DynamicMatMul:
        return f"{mm.name!r} is a {mm.kind}, not a DynamicMatMul"
    kd = g.types[mm.inputs[0]].shape[-1]
    if fixedpoint.max_abs_accumulator(kd, w_max=255, x_span=255) > fixedpoint.INT32_MAX:
        return f"{mm.name!r} multiplies over K = {kd}: too deep for the GEMM form's int32 accumulators"
    d = mm.outputs[0]
    mul = _only_reader(g, d, consumers, ops.Mul)
    if isinstance(mul, str):
        return mul
    c = _other(mul, d)
    scale = _scalar(g, c or "")
    if scale is None:
        return f"{mul.name!r} multiplies by {c!r}, not a scalar f32 constant"
    s = mul.outputs[0]
    add = _only_reader(g, s, consumers, ops.Add)
    if isinstance(add, str):
        return add
    m = _other(add, s)
    out = g.types[d].shape
    if m is None or m == s:
        return f"{add.name!r} adds {s!r} to itself"
    t = g.types[m]
    if t.dtype is not DType.FLOAT32 or t.rank > len(out) or t.shape[-1:] != out[-1:] or any(x != 1 for x in t.shape[:-1]):
        return (f"{add.name!r} adds {m!r} ({t.dtype.value}{list(t.shape)}), not a float32 [1, ..., 1, {out[-1]}] "
                f"that varies along the last axis only")
    if add.op.act_min is not None or add.op.act_max is not None:
        return f"the Add {add.name!r} has a fused clamp"
    return add, scale, m


def why_not_fusable(g: Graph, mm: Node, consumers: dict) -> str | None:
    """None when `mm` heads a fusable chain, else why not."""
    found = match(g, mm, consumers)
    return found if isinstance(found, str) else None


def fuse_dynamic_attention(g: Graph) -> Graph:
    consumers = g.consumers()
    plan: dict[int, tuple[Node, float, str]] = {}    # id(Add) -> (DynamicMatMul, scale, addend)
    for n in each_node(g.nodes):
        if type(n.op) is qops.DynamicMatMul:
            found = match(g, n, consumers)
            if not isinstance(found, str):
                add, scale, m = found
                plan[id(add)] = (n, scale, m)
    if not plan:
        return g
    out = g.copy()
    out.memory = None
    consumers_of = g.consumers()
    gone = {id(x) for mm, _, _ in plan.values() for x in (mm, consumers_of[mm.outputs[0]][0])}
    nodes = []
    for old, n in zip(g.nodes, out.nodes):
        if id(old) in gone:
            continue
        if id(old) in plan:
            mm, scale, m = plan[id(old)]
            op = DynamicMatMulScaleAdd(mm.op.act_min, mm.op.act_max, scale)
            n = Node(mm.name, op, (*mm.inputs, m), old.outputs)
        nodes.append(n)
    out.nodes = nodes
    out.prune()
    return out
