"""`import_onnx`: an ONNX model to a FLOAT-stage IR graph.

Steps:
 1. load (load.py): ModelLoadError for anything that is not a loadable ONNX model of opset 11..21;
 2. fix the input shapes: static dims from the model, dynamic ones from `input_shapes`
    (ShapeError naming the input and the --input-shape flag otherwise);
 3. walk the nodes in order: `Constant` and nodes whose inputs are all known fold (fold.py);
    `Shape`/`Size` of run-time values fold too (every IR shape is static); every other node goes
    to its converter (ops_*.py), which emits IR nodes whose shapes come from the IR ops' `infer`;
 4. every problem (unknown op, unsupported attribute, run-time value where a constant is needed)
    is collected by root cause (problems.py: nodes that only depend on a failed node are counted,
    not listed), and one UnsupportedModelError lists them all;
 5. graph outputs are brought back to ONNX layout under their ONNX names, their shapes checked
    against what the model declares; unused nodes are pruned and the graph verified;
 6. a pre-quantized model (QuantizeLinear/DequantizeLinear, QLinear* or dynamic-quantization ops)
    leaves its own scales and zero points in graph.meta (ops_quant.py, qcomp.ir.prequant), which
    the quantize pass uses instead of calibration.
"""
from __future__ import annotations

import os
from collections import Counter

import numpy as np
import onnx

from ..errors import ModelLoadError, ShapeError, UnsupportedModelError
from ..ir import Graph, TensorType, verify
from ..ir import ops as irops
from ..ir.prequant import set_prequant
from ..ir.types import IRError
from . import control_flow, ops_gather
from . import (dynamic_ops, fold, layout, load, ops_conv, ops_math, ops_math_more, ops_movement, ops_quant, ops_shape,
               qlinear_ops, tensors)
from . import ops_recurrent
from . import int_io
from . import int_codes
from .context import MAX_TENSOR_BYTES, Const, Context, Unsupported, Val, Value, onnx_dtype, too_big
from .problems import Problems
from . import ops_einsum, ops_logic, ops_norm, ops_reduce

CONVERTERS = {**ops_conv.CONVERTERS, **ops_math.CONVERTERS, **ops_math_more.CONVERTERS, **ops_shape.CONVERTERS,
              **ops_movement.CONVERTERS, **ops_quant.CONVERTERS, **qlinear_ops.CONVERTERS,
              **dynamic_ops.CONVERTERS}
# comparison and logic, reductions and index ops, instance / group norm, Einsum
CONVERTERS.update({**ops_logic.CONVERTERS, **ops_reduce.CONVERTERS, **ops_norm.CONVERTERS, **ops_einsum.CONVERTERS})
CHECKS = {**ops_conv.CHECKS, **ops_math.CHECKS, **ops_shape.CHECKS, **ops_movement.CHECKS, **qlinear_ops.CHECKS}
CONVERTERS.update(ops_recurrent.CONVERTERS)   # LSTM, GRU, RNN unrolled into IR ops
CHECKS.update(ops_recurrent.CHECKS)
CONVERTERS.update(control_flow.CONVERTERS)   # If, Loop, Scan: resolved at import (control_flow.py)
CONVERTERS.update(ops_gather.CONVERTERS)     # GatherElements, GatherND, Scatter*, OneHot as one Gather
CHECKS.update(ops_gather.CHECKS)
CONVERTERS.update(int_codes.CONVERTERS)      # Clip, MaxPool, Relu of int8/uint8 model inputs: on the codes
SUPPORTED_OPS = tuple(sorted(set(CONVERTERS) | {"Constant", "Shape", "Size"}))


def import_onnx(model: str | os.PathLike | onnx.ModelProto,
                input_shapes: dict[str, tuple[int, ...]] | None = None) -> Graph:
    """Import an ONNX model (path or ModelProto) as a verified FLOAT-stage IR graph."""
    m = load.load(model)
    opset = load.default_opset(m)
    g = m.model.graph
    initializers = {t.name for t in g.initializer}
    inputs = [i for i in g.input if i.name not in initializers]
    twice = next((n for n, c in Counter(i.name for i in inputs).items() if c > 1), None)
    if twice is not None:
        raise ModelLoadError(f"{m.source}: graph input {twice!r} is listed twice (the file is corrupt)")
    shapes = _input_shapes(inputs, input_shapes or {})

    graph = Graph(name=g.name or "model")
    reserved = {v for n in g.node for v in list(n.input) + list(n.output)} | {i.name for i in g.input} \
        | initializers | {o.name for o in g.output} | control_flow.subgraph_names(g)
    ctx = Context(graph, opset, reserved)
    for i in inputs:
        graph.add_input(i.name, TensorType(shapes[i.name], _input_dtype(i)))
        ctx.env[i.name] = Val(i.name, layout.identity(len(shapes[i.name])))
    _check_input_sizes(graph)
    for t in g.initializer:
        ctx.env[t.name] = Const(_to_array(t, m), t.name)

    ctx.onnx_outputs, ctx.onnx_nodes = {o.name for o in g.output}, list(g.node)   # int_io.py
    problems = _convert_nodes(ctx, m)
    if problems:
        raise UnsupportedModelError(problems.message(m.source, SUPPORTED_OPS))
    _outputs(ctx, g, m.source)
    int_io.reciprocal_divisors(graph)   # (q / 255 - mean) / std of an integer Cast input: all integer
    graph.prune()
    set_prequant(graph, ops_quant.prequant_table(ctx, graph, m.source))
    graph.meta.update({
        "opset": str(opset), "producer": f"{m.model.producer_name} {m.model.producer_version}".strip(),
        "ir_version": str(m.model.ir_version), "source_sha256": m.sha256, "source": m.source,
    })
    if m.converted_from is not None:
        graph.meta["converted_from_opset"] = str(m.converted_from)
    return verify(graph)


# ---- inputs -----------------------------------------------------------------------------------

def _dims(vi: onnx.ValueInfoProto) -> list[int | str] | None:
    t = vi.type.tensor_type
    if not vi.type.HasField("tensor_type") or not t.HasField("shape"):
        return None
    return [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in t.shape.dim]


def _input_shapes(inputs: list[onnx.ValueInfoProto], given: dict[str, tuple[int, ...]]) -> dict[str, tuple[int, ...]]:
    def show(vi):
        d = _dims(vi)
        return f"{vi.name!r} ({','.join(map(str, d)) if d is not None else 'unknown shape'})"

    names = [i.name for i in inputs]
    unknown = [k for k in given if k not in names]
    if unknown:
        raise ShapeError(f"--input-shape names {', '.join(repr(k) for k in unknown)}, which "
                         f"{'is' if len(unknown) == 1 else 'are'} not an input of the model; its inputs are: "
                         + ", ".join(show(i) for i in inputs))
    out, errors = {}, []
    for vi in inputs:
        dims = _dims(vi)
        if vi.name in given:
            shape = tuple(int(d) for d in given[vi.name])
            if any(d <= 0 for d in shape):
                errors.append(f"--input-shape {vi.name}={','.join(map(str, shape))}: dimensions must be positive")
            elif dims is not None and len(dims) != len(shape):
                errors.append(f"--input-shape {vi.name} has {len(shape)} dims but input {show(vi)} has "
                              f"rank {len(dims)}")
            elif dims is not None and any(isinstance(d, int) and d > 0 and d != s for d, s in zip(dims, shape)):
                errors.append(f"--input-shape {vi.name}={','.join(map(str, shape))} contradicts the static "
                              f"shape of input {show(vi)}")
            out[vi.name] = shape
        elif dims is None:
            errors.append(f"input {vi.name!r} has no static shape: pass --input-shape {vi.name}=D0,D1,...")
        elif any(not isinstance(d, int) or d <= 0 for d in dims):
            shown = ",".join(str(d) if isinstance(d, str) or d > 0 else "?" for d in dims)
            fixed = ",".join(str(d) if isinstance(d, int) and d > 0 else "1" for d in dims)
            errors.append(f"input {vi.name!r} has a dynamic dimension ({shown}): pass --input-shape "
                          f"{vi.name}={fixed}")
        else:
            out[vi.name] = tuple(int(d) for d in dims)
    if errors:
        raise ShapeError("\n".join(errors))
    return out


def _check_input_sizes(graph: Graph) -> None:
    """Every input fits MAX_TENSOR_BYTES (Context.emit checks every value computed from them)."""
    for name in graph.inputs:
        t = graph.types[name]
        if (nbytes := too_big(t)) is not None:
            raise ShapeError(f"input {name!r} has shape {t.shape} ({nbytes:,} bytes of {t.dtype.value}); qcomp "
                             f"compiles tensors of at most {MAX_TENSOR_BYTES:,} bytes. Check the input shapes "
                             f"(--input-shape)")


def _input_dtype(vi: onnx.ValueInfoProto):
    try:
        return onnx_dtype(vi.type.tensor_type.elem_type)
    except Unsupported as e:
        raise UnsupportedModelError(f"input {vi.name!r}: {e}") from None


def _to_array(t: onnx.TensorProto, m: load.Loaded) -> np.ndarray:
    try:
        return tensors.to_array(t)
    except Unsupported as e:
        raise ModelLoadError(f"{m.source}: initializer {t.name!r} cannot be read: it {e}") from None


# ---- nodes ------------------------------------------------------------------------------------

def _convert_nodes(ctx: Context, m: load.Loaded) -> Problems:
    problems = Problems()
    counters: Counter[str] = Counter()
    producer = {name: "a graph input or initializer" for name in ctx.env}
    for node in m.model.graph.node:
        ctx.node = node
        if node.name:
            ctx.node_name = node.name
        else:
            ctx.node_name = f"{node.op_type}_{counters[node.op_type]}"
            counters[node.op_type] += 1
        opset = load.domain_opset(m, node.domain)
        where = f"node {ctx.node_name!r} ({node.op_type}, domain {node.domain or 'ai.onnx'}, opset {opset})"
        missing = [i for i in node.input if i and i not in ctx.env and not problems.is_blocked(i)]
        if missing:
            raise ModelLoadError(f"{m.source}: {where} reads {missing[0]!r}, which no earlier node, input or "
                                 f"initializer defines (the graph is not in topological order, has a cycle, "
                                 f"or the file is corrupt)")
        for o in node.output:
            if o in producer:
                raise ModelLoadError(f"{m.source}: {where} writes {o!r}, which {producer[o]} already defines; "
                                     f"each ONNX value has one producer (the file is corrupt)")
            if o:
                producer[o] = f"node {ctx.node_name!r}"
        try:
            if node.domain not in load.DEFAULT_DOMAINS and (node.domain, node.op_type) not in qlinear_ops.DOMAIN_OPS:
                raise Unsupported(f"ops of domain {node.domain!r} are not supported")
            if problems.blocked_inputs(node):
                reasons = _blocked_reasons(ctx, node, problems)
                if reasons:
                    problems.root(node, where, reasons)
                else:
                    problems.dependent(node, node.op_type in ("Shape", "Size") or (
                        problems.would_be_const(node, lambda i: isinstance(ctx.env.get(i), Const))
                        and node.op_type not in qlinear_ops.NOT_FOLDED))
                continue
            outs = _convert(ctx, node)
        except Unsupported as e:
            problems.root(node, where, [str(e)])
            continue
        except IRError as e:
            problems.root(node, where, [f"the IR rejects it: {e}"])
            continue
        for name, v in zip(node.output, outs):
            if name:
                ctx.env[name] = v
    return problems


def _blocked_reasons(ctx: Context, node: onnx.NodeProto, problems: Problems) -> list[str]:
    """Why `node`, which reads a value that could not be imported, fails whatever that value held
    (empty: it is only a dependent of the nodes that failed)."""
    op = node.op_type
    _check_arity(node, ctx.opset)
    if op in CHECKS:
        return CHECKS[op](node, ctx.opset)
    if op in CONVERTERS or op in ("Shape", "Size", "Constant"):
        return []
    if _foldable(op) and problems.would_be_const(node, lambda i: isinstance(ctx.env.get(i), Const)):
        return []
    return [f"op {op} is not supported" + (" with inputs computed at run time" if _foldable(op) else "")]


def _check_arity(node: onnx.NodeProto, opset: int) -> None:
    """Input/output counts against the op's ONNX schema (a malformed node is reported, not a crash)."""
    n_in, n_out = len(node.input), len(node.output)
    if node.domain not in load.DEFAULT_DOMAINS:
        if node.op_type in qlinear_ops.ARITY:  # onnx has no schema of onnxruntime's com.microsoft ops
            lo, hi = qlinear_ops.ARITY[node.op_type]
            if not lo <= n_in <= hi or n_out != 1 or not node.output[0]:
                raise Unsupported(f"has {n_in} inputs and {n_out} outputs; {node.op_type} takes {lo}..{hi} "
                                  f"inputs and makes one output (the model is invalid)")
        return
    try:
        schema = onnx.defs.get_schema(node.op_type, opset)
    except Exception:  # noqa: BLE001 - no schema: an unknown op, reported later by name
        return
    if not schema.min_input <= n_in <= schema.max_input or not schema.min_output <= n_out <= schema.max_output:
        raise Unsupported(f"has {n_in} inputs and {n_out} outputs; the ONNX schema of {node.op_type} "
                          f"(opset {opset}) allows {schema.min_input}..{schema.max_input} inputs and "
                          f"{schema.min_output}..{schema.max_output} outputs (the model is invalid)")
    single = onnx.defs.OpSchema.FormalParameterOption.Single
    for k, (name, formal) in enumerate(zip(node.input, schema.inputs)):
        if not name and formal.option == single:
            raise Unsupported(f"input {k} ({formal.name}) is empty, but the ONNX schema of {node.op_type} "
                              f"requires it (the model is invalid)")


def _convert(ctx: Context, node: onnx.NodeProto) -> list[Value]:
    op = node.op_type
    _check_arity(node, ctx.opset)
    if op == "Constant":
        return [Const(fold.constant_node(node), node.output[0])]
    ins = ctx.inputs(node)
    if any(isinstance(v, dynamic_ops.SYMBOLIC) for v in ins):
        return dynamic_ops.symbolic(ctx, node, ins)
    if op == "Shape":
        return [Const(fold.shape_of(ctx.shape(ins[0]), node), node.output[0])]
    if op == "Size":
        return [Const(np.array(int(np.prod(ctx.shape(ins[0]), dtype=np.int64)), np.int64), node.output[0])]
    if all(v is None or isinstance(v, Const) for v in ins) and op not in qlinear_ops.NOT_FOLDED \
            and op not in control_flow.CONVERTERS:
        consts = [v.array if v is not None else None for v in ins]
        if op == "DequantizeLinear":
            ops_quant.record_folded_dequantize(ctx, node, consts)
        arrays = fold.evaluate(node, consts, ctx.opset)
        return [Const(a, name) if a is not None else None for a, name in zip(arrays, node.output)]
    if op not in CONVERTERS:
        raise Unsupported(f"op {op} is not supported" + (" with inputs computed at run time"
                                                         if _foldable(op) else ""))
    reasons = CHECKS[op](node, ctx.opset) if op in CHECKS else []
    if reasons:
        raise Unsupported("; ".join(reasons))
    return CONVERTERS[op](ctx, node)


def _foldable(op: str) -> bool:
    return onnx.defs.has(op)


# ---- outputs ----------------------------------------------------------------------------------

def _outputs(ctx: Context, g: onnx.GraphProto, source: str) -> None:
    """Graph outputs in ONNX layout under their ONNX names, checked against the shapes and element
    types the model declares for them. (Only declarations: onnx.shape_inference is not run, since
    its C++ code aborts the whole process on some malformed models.)"""
    graph = ctx.graph
    seen: set[str] = set()
    for o in g.output:
        if o.name not in ctx.env:
            raise ModelLoadError(f"{source}: graph output {o.name!r} is not computed by any node, input or "
                                 f"initializer (the file is corrupt or was edited by hand)")
        if o.name in seen:
            raise ModelLoadError(f"{source}: graph output {o.name!r} is listed twice")
        seen.add(o.name)
        v = ctx.env[o.name]
        if isinstance(v, dynamic_ops.SYMBOLIC):
            raise UnsupportedModelError(f"output {o.name!r} is an intermediate value of dynamic quantization; "
                                        f"qcomp imports the pattern {dynamic_ops.PATTERN}")
        if isinstance(v, Const):
            old = graph.constants.get(o.name)
            if old is not None and old.dtype == v.array.dtype and np.array_equal(old, v.array):
                name = o.name
            else:
                if o.name in graph.types:  # an IR constant took the name (in another layout)
                    ctx.rename(o.name, ctx.fresh(f"{o.name}_ir"))
                name = graph.add_constant(o.name, v.array)
        else:
            name = _named_output(ctx, v, o.name)
        have = graph.types[name]
        dims = _dims(o)
        want = None if dims is None else [d if isinstance(d, int) and d > 0 else None for d in dims]
        elem = o.type.tensor_type.elem_type
        if want is not None and (len(want) != len(have.shape)
                                 or any(w is not None and w != h for w, h in zip(want, have.shape))):
            raise ShapeError(f"output {o.name!r}: the model declares shape {tuple(w or '?' for w in want)} but "
                             f"qcomp computes {have.shape}; the model's shapes are inconsistent (or qcomp has a bug)")
        try:
            want_dtype = onnx_dtype(elem) if elem else None
        except Unsupported as e:
            raise UnsupportedModelError(f"output {o.name!r}: {e}") from None
        if want_dtype is not None and want_dtype is not have.dtype and o.name not in int_io.read(graph):
            raise ShapeError(f"output {o.name!r}: the model declares {want_dtype.value} but qcomp computes "
                             f"{have.dtype.value}; the model's types are inconsistent (or qcomp has a bug)")
        graph.outputs.append(name)


def _named_output(ctx: Context, v: Val, name: str) -> str:
    """The IR value of graph output `name`: in ONNX layout and called exactly `name`."""
    graph = ctx.graph
    ident = layout.identity(len(v.perm))
    if v.name == name and v.perm == ident:
        return name
    if name in graph.types:  # the NHWC (or aliased) value took the output's name: give it another
        if name in graph.inputs:
            raise ShapeError(f"output {name!r} is also an input name; qcomp cannot compile such a model")
        ctx.rename(name, ctx.fresh(f"{name}_{'nhwc' if v.perm == layout.NHWC else 'ir'}"))
        v = ctx.env[name]
    ctx.node_name = name
    src = ctx.graph.types[v.name].shape
    t = layout.transpose_between(v.perm, ident)
    op = irops.Reshape(tuple(src[a] for a in t)) if layout.only_moves_unit_dims(src, t) else irops.Transpose(t)
    return ctx.emit(op, [v.name], out=name, suffix="output")[0]
