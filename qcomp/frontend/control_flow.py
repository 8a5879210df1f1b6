"""Control flow with a static schedule: If inlined, Loop and Scan unrolled at import.

qcomp compiles a static dataflow graph, so control flow is resolved while the model is imported:

- `If(cond)`: when `cond` is a constant once the input shapes are fixed (a literal, or computed
  from `Shape` / `Size`, which fold: TorchScript exports branch on shapes like this), the taken
  branch's nodes are converted in place, reading outer-scope values by name as ONNX scoping says,
  and its outputs become the If's outputs. A condition computed from the input data cannot be
  decided at import: the node is refused, naming why.
- `Loop(M, cond, v...)`: unrolled, iteration i converting the body with `iter_num = i`,
  `cond_in`, and the loop-carried values of iteration i-1 bound to the body's inputs. The number
  of iterations must be known at import: M constant, and the body's `cond_out` constant in every
  iteration (it usually is: a literal true, or a comparison of the folded iteration counter).
  Scan outputs are the per-iteration values stacked along a new axis 0 (Reshape to a leading 1,
  then Concat; constants stack at import).
- `Scan(initial states..., scan inputs...)` (opset 9 and later; opset 8 is converted first): T =
  the scan inputs' length along `scan_input_axes`, static since every shape is. Iteration t reads
  slice t (T-1-t for direction 1) of each scan input (Slice, then Reshape dropping the axis) and
  the states of iteration t-1; scan outputs stack along `scan_output_axes` (reversed for
  direction 1).

Unrolling multiplies the body: more than MAX_TRIP_COUNT iterations, or more than MAX_UNROLLED_NODES
body nodes in all, is refused naming the node, the count and the limit. Every body node gets the
IR name "LOOP/iterI/NODE" (If: "IF/then/NODE"), so errors and reports name the iteration.
"""
from __future__ import annotations

import numpy as np
import onnx

from ..ir import ops as irops
from . import layout, tensors
from .context import Attrs, Const, Context, Unsupported, Val, Value

MAX_TRIP_COUNT = 256          # iterations of one Loop or Scan that qcomp unrolls
MAX_UNROLLED_NODES = 20000    # body nodes of one Loop or Scan, all iterations together


def subgraph_names(g: onnx.GraphProto) -> set[str]:
    """Every value name used inside the subgraphs of g's nodes (recursively), so that helper values
    the importer creates never take one."""
    names: set[str] = set()
    for n in g.node:
        for a in n.attribute:
            subs = [a.g] if a.type == onnx.AttributeProto.GRAPH else list(a.graphs)
            for sub in subs:
                names |= {v.name for v in list(sub.input) + list(sub.output)} | {t.name for t in sub.initializer}
                names |= {v for m in sub.node for v in list(m.input) + list(m.output) if v}
                names |= subgraph_names(sub)
    return names


def _graph_attr(node: onnx.NodeProto, key: str) -> onnx.GraphProto:
    a = next((a for a in node.attribute if a.name == key), None)
    if a is None or a.type != onnx.AttributeProto.GRAPH:
        raise Unsupported(f"attribute {key!r} is missing or not a graph (the model is invalid)")
    return a.g


def run_subgraph(ctx: Context, sub: onnx.GraphProto, bindings: dict[str, Value], prefix: str) -> list[Value]:
    """Convert the nodes of `sub` in the current scope plus `bindings` (its inputs) and its own
    initializers; the values of its outputs. The enclosing scope is left as it was."""
    from .importer import _convert    # the importer converts every node kind, control flow included

    outer_env, outer_node, outer_name = ctx.env, ctx.node, ctx.node_name
    ctx.env = dict(outer_env)
    try:
        for t in sub.initializer:
            ctx.env[t.name] = Const(tensors.to_array(t), t.name)
        ctx.env.update(bindings)
        for k, node in enumerate(sub.node):
            inner = node.name or f"{node.op_type}_{k}"
            ctx.node, ctx.node_name = node, f"{prefix}/{inner}"
            missing = [i for i in node.input if i and i not in ctx.env]
            if missing:
                raise Unsupported(f"its subgraph node {inner!r} ({node.op_type}) reads {missing[0]!r}, which is "
                                  f"not defined in its scope (or could not be imported)")
            try:
                outs = _convert(ctx, node)
            except Unsupported as e:
                raise Unsupported(f"its subgraph node {ctx.node_name!r} ({node.op_type}): {e}") from None
            for name, v in zip(node.output, outs):
                if name:
                    ctx.env[name] = v
        missing = [o.name for o in sub.output if o.name not in ctx.env]
        if missing:
            raise Unsupported(f"its subgraph does not compute its output {missing[0]!r} (the model is invalid)")
        return [ctx.env[o.name] for o in sub.output]
    finally:
        ctx.env, ctx.node, ctx.node_name = outer_env, outer_node, outer_name


def _check_size(node: onnx.NodeProto, body: onnx.GraphProto, trips: int, what: str) -> None:
    if trips > MAX_TRIP_COUNT:
        raise Unsupported(f"{what} {trips} iterations; qcomp unrolls at most {MAX_TRIP_COUNT} "
                          f"(MAX_TRIP_COUNT): a longer loop cannot be compiled as a static graph")
    if trips * len(body.node) > MAX_UNROLLED_NODES:
        raise Unsupported(f"unrolling its {trips} iterations of {len(body.node)} body nodes would make "
                          f"{trips * len(body.node)} nodes; qcomp unrolls at most {MAX_UNROLLED_NODES} "
                          f"(MAX_UNROLLED_NODES)")


def _stack(ctx: Context, values: list[Value], axis: int, base: str) -> Value:
    """np.stack(values, axis): at import for constants, else Reshape (a 1 at `axis`) + Concat."""
    if all(isinstance(v, Const) for v in values):
        return Const(np.stack([v.array for v in values], axis=axis), base)
    shape = ctx.shape(values[0])
    if any(ctx.shape(v) != shape for v in values):
        raise Unsupported(f"its scan output {base!r} changes shape between iterations "
                          f"({sorted({ctx.shape(v) for v in values})}); ONNX stacks equal shapes")
    if any(ctx.dtype(v) != ctx.dtype(values[0]) for v in values):
        raise Unsupported(f"its scan output {base!r} changes element type between iterations")
    a = axis + len(shape) + 1 if axis < 0 else axis
    one = shape[:a] + (1,) + shape[a:]
    names = [ctx.reshaped(v, one, suffix=f"{base}/stack{k}") for k, v in enumerate(values)]
    if len(names) == 1:
        return Val(names[0], layout.identity(len(one)))
    y = ctx.emit(irops.Concat(a), names, out=ctx.fresh(base), suffix=f"{base}/stack")[0]
    return Val(y, layout.identity(len(one)))


# ---- If -----------------------------------------------------------------------------------------

def if_(ctx: Context, node: onnx.NodeProto) -> list[Value]:
    cond = ctx.inputs(node)[0]
    if not isinstance(cond, Const):
        raise Unsupported("its condition is computed at run time from the input data; qcomp compiles a static "
                          "graph and inlines an If only when its condition is a constant once the input shapes "
                          "are fixed (a literal, or computed from Shape/Size). Export the model with the branch "
                          "taken (tracing instead of scripting), or make the condition depend on shapes only")
    if cond.array.size != 1:
        raise Unsupported(f"its condition has {cond.array.size} elements; ONNX defines it as one bool")
    branch = "then_branch" if bool(cond.array.reshape(-1)[0]) else "else_branch"
    sub = _graph_attr(node, branch)
    outs = run_subgraph(ctx, sub, {}, f"{ctx.node_name}/{branch.split('_')[0]}")
    if len(outs) != len(node.output):
        raise Unsupported(f"its {branch} has {len(outs)} outputs but the If has {len(node.output)}")
    return outs


# ---- Loop ---------------------------------------------------------------------------------------

def _scalar(ctx: Context, v: Value, what: str) -> np.ndarray:
    if not isinstance(v, Const):
        raise Unsupported(f"{what} is computed at run time from the input data; qcomp unrolls a Loop only when "
                          f"its number of iterations is known at import (constant or computed from shapes)")
    if v.array.size != 1:
        raise Unsupported(f"{what} has {v.array.size} elements; ONNX defines it as a scalar")
    return v.array.reshape(-1)[0]


def loop(ctx: Context, node: onnx.NodeProto) -> list[Value]:
    ins = ctx.inputs(node) + [None] * 2
    body = _graph_attr(node, "body")
    trip = None if ins[0] is None else int(_scalar(ctx, ins[0], "its trip count M (input 0)"))
    keep = True if ins[1] is None else bool(_scalar(ctx, ins[1], "its condition (input 1)"))
    carried = ctx.inputs(node)[2:]
    n_carried = len(carried)
    n_scan = len(body.output) - 1 - n_carried
    if len(body.input) != 2 + n_carried or n_scan < 0:
        raise Unsupported(f"its body has {len(body.input)} inputs and {len(body.output)} outputs for "
                          f"{n_carried} loop-carried values (the model is invalid)")
    if trip is not None:
        _check_size(node, body, max(trip, 0), "its trip count M asks for")
    scans: list[list[Value]] = [[] for _ in range(n_scan)]
    i = 0
    while keep and (trip is None or i < trip):
        if i >= MAX_TRIP_COUNT:
            raise Unsupported(f"its condition stays true for more than {MAX_TRIP_COUNT} iterations; qcomp unrolls "
                              f"at most {MAX_TRIP_COUNT} (MAX_TRIP_COUNT)")
        bindings = {body.input[0].name: Const(np.array(i, np.int64), f"{ctx.node_name}_iter{i}"),
                    body.input[1].name: Const(np.array(keep), f"{ctx.node_name}_cond{i}")}
        bindings.update({b.name: v for b, v in zip(body.input[2:], carried)})
        outs = run_subgraph(ctx, body, bindings, f"{ctx.node_name}/iter{i}")
        keep = bool(_scalar(ctx, outs[0], f"the loop condition its body computes in iteration {i}"))
        carried = outs[1:1 + n_carried]
        for k, v in enumerate(outs[1 + n_carried:]):
            scans[k].append(v)
        i += 1
    if n_scan and i == 0:
        raise Unsupported("it runs zero iterations, so its scan outputs would be empty; qcomp has no empty tensors")
    return carried + [_stack(ctx, vals, 0, node.output[n_carried + k] or f"{ctx.node_name}_scan{k}")
                      for k, vals in enumerate(scans)]


# ---- Scan ---------------------------------------------------------------------------------------

def _slice_at(ctx: Context, x: Value, axis: int, t: int, base: str) -> Value:
    """x[..., t, ...] along `axis` (the axis removed)."""
    shape = ctx.shape(x)
    if isinstance(x, Const):
        return Const(np.take(x.array, t, axis=axis), base)
    if shape[axis] > 1:
        spec = [(0, d, 1) for d in shape]
        spec[axis] = (t, t + 1, 1)
        ir = [spec[p] for p in x.perm]
        op = irops.Slice(tuple(s[0] for s in ir), tuple(s[1] for s in ir), tuple(s[2] for s in ir))
        x = Val(ctx.emit(op, [x.name], suffix=f"{base}/slice{t}")[0], x.perm)
    dropped = shape[:axis] + shape[axis + 1:]
    return Val(ctx.reshaped(x, dropped, suffix=f"{base}/take{t}"), layout.identity(len(dropped)))


def scan(ctx: Context, node: onnx.NodeProto) -> list[Value]:
    if ctx.opset < 9:
        raise Unsupported("Scan of opset 8 (with a batch axis) is not supported; qcomp converts opset-8 models "
                          "to opset 11 first")
    a = Attrs(node)
    body = _graph_attr(node, "body")
    m = a.int("num_scan_inputs", 0)
    ins = ctx.inputs(node)
    n_states = len(ins) - m
    k_out = len(body.output) - n_states
    if m < 1 or n_states < 0 or k_out < 0 or len(body.input) != len(ins):
        raise Unsupported(f"num_scan_inputs {m} does not fit its {len(ins)} inputs and a body of "
                          f"{len(body.input)} inputs, {len(body.output)} outputs (the model is invalid)")
    in_axes = a.ints("scan_input_axes", (0,) * m, length=m)
    in_dirs = a.ints("scan_input_directions", (0,) * m, length=m)
    out_axes = a.ints("scan_output_axes", (0,) * k_out, length=k_out)
    out_dirs = a.ints("scan_output_directions", (0,) * k_out, length=k_out)
    xs = ins[n_states:]
    if any(v is None for v in ins):
        raise Unsupported("an input is empty; Scan takes every state and scan input")
    axes = [ctx.axis(ax, ctx.rank(x), "scan_input_axes entry") for ax, x in zip(in_axes, xs)]
    lengths = {ctx.shape(x)[ax] for x, ax in zip(xs, axes)}
    if len(lengths) != 1:
        raise Unsupported(f"its scan inputs have different lengths {sorted(lengths)} along their scan axes")
    steps = lengths.pop()
    if steps == 0:
        raise Unsupported("its scan inputs are empty; qcomp has no empty tensors")
    _check_size(node, body, steps, "its scan inputs have")
    states = list(ins[:n_states])
    scans: list[list[Value]] = [[] for _ in range(k_out)]
    for t in range(steps):
        bindings = {b.name: v for b, v in zip(body.input[:n_states], states)}
        for j, (x, ax, d) in enumerate(zip(xs, axes, in_dirs)):
            bindings[body.input[n_states + j].name] = _slice_at(ctx, x, ax, steps - 1 - t if d else t,
                                                                f"{ctx.node_name}/in{j}")
        outs = run_subgraph(ctx, body, bindings, f"{ctx.node_name}/iter{t}")
        states = outs[:n_states]
        for k, v in enumerate(outs[n_states:]):
            scans[k].append(v)
    results = []
    for k, (vals, ax, d) in enumerate(zip(scans, out_axes, out_dirs)):
        base = node.output[n_states + k] or f"{ctx.node_name}_scan{k}"
        results.append(_stack(ctx, vals[::-1] if d else vals, ax, base))
    return states + results


CONVERTERS = {"If": if_, "Loop": loop, "Scan": scan}
