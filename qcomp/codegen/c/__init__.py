"""The dsp-c backend: a TARGET graph as portable fixed-point C99 (targets dsp-c, cortex-m4).

    emit(graph, target, out_dir) -> manifest entries

writes model.c (one kernel call per node, activations at the offsets of the graph's memory plan
(graph.memory, qcomp.passes.plan_memory) in one caller-provided arena, then one scratch area for
conv patches; a Reshape the plan makes a view is no call at all: its output is its input's bytes),
model.h (the ABI of runtime/qcomp.h plus QCOMP_MODEL_ARENA_BYTES),
weights.c (const aligned int8/int32 arrays), qcomp_kernels.c/.h (the fixed-point kernels,
transcribed from qcomp/fixedpoint.py; Conv2D and Dense of the default build in qcomp_kernels_conv.c:
two pixels x two channels per pass, SMLAD on Cortex-M4/M7, Helium on Cortex-M55; elementwise, pooling
and movement in qcomp_kernels_elem.c; integer Softmax and TopK in qcomp_kernels_rows.c; the integer LayerNorm in qcomp_kernels_norm.c), runner.c (file in, file out: `qcomp run` drives it) and a
Makefile, then compiles them warning-free (-std=c99 -Wall -Wextra -Wpedantic -Werror) with the
target's toolchain. No floats in the math: only the I/O quantize/dequantize, removed by
-DQCOMP_NO_FLOAT (raw int8 I/O). All templates render in ONE jinja2 environment with
StrictUndefined and receive precomputed integers and sanitized names only (qcomp/codegen/names.py;
its `inert` finalize refuses anything else). Status strings, dtype codes and the workspace alignment
come from runtime/qcomp.h through qcomp.abi; the AddParams struct from qcomp.fixedpoint.AddParams.

Manifest figures (toolchain.py): flash_bytes (code + weights of the model's objects, from `size`),
ram_bytes (arena + static data + stack bound), stack_bytes (the heaviest call chain of gcc's call
graph: no recursion, no unbounded frame), workspace_bytes (= QCOMP_MODEL_ARENA_BYTES of model.h).
emit(..., plain=True) writes the plain per-op reference form measured by benchmarks/dsp_cost.py.

Ops: the emitter tables of emit_compute.py and emit_movement.py (`emit_x(node, ctx)`, their
preconditions why_not hooks), and emit16.py for the A16W8 ops (int16 activations, qcomp/ir/qops16.py:
qcomp_kernels16.c, compiled into int16 models only; int16 graph inputs and outputs are QCOMP_INT16); check(graph, target) lists every node outside them, and emit refuses
such a graph with one UnsupportedModelError naming the target and each node, its op and dtypes.
Dynamic quantization (DynamicDense / DynamicMatMul, --quant dynamic) and float ops left by
--quant weight or --skip are refused (a Softmax left in float because the integer Softmax's limits
exclude it, fixedpoint.softmax_refusal, says which limit) with the advice to quantize statically (--quant full, the
default).
"""
from __future__ import annotations

import math
import shutil
from pathlib import Path

import jinja2
import numpy as np

from ... import abi, fixedpoint
from ...errors import UnsupportedModelError
from ...ir import DType, Graph, ops, qops
from ...ir.io_codes import model_inputs, model_outputs
from ...ir.io_quant import input_forms, output_forms
from ...ir.memory import ALIGN, MemoryPlan
from ...protocol import Problem, check_nodes, emitter_of, raise_problems
from ...resources import data_dir
from ...target import Target
from .. import ADD_PARAMS_FIELDS
from ..memory import planned
from . import emit_compute, emit_movement, toolchain
from . import emit16, emit_logic
from . import emit16_softmax
from . import emit_compute, emit_gather, emit_movement, emit_select, toolchain
from . import emit_norm
from . import emit_norm16
from ..names import CNames, c_char_array, c_comment, c_string, inert
from .program import C_TYPES, Call, Ctx

DYNAMIC_OPS = (qops.DynamicDense, qops.DynamicMatMul)
STATIC_HINT = "quantize it statically: --quant full (the default) with --calib samples, and no --skip of this node"

EMITTERS = {**emit_compute.TABLE, **emit_movement.TABLE}
EMITTERS.update(emit_logic.TABLE)   # int8 Compare, Where, ArgMax / ArgMin
EMITTERS.update(emit_gather.TABLE)   # Gather (constant or run-time indices), IntLut
EMITTERS.update(emit_select.TABLE)   # TopK
EMITTERS.update(emit_norm.TABLE)   # QLayerNorm
EMITTERS.update(emit16.TABLE)   # A16W8: int16 activations (qcomp/ir/qops16.py), templates/qcomp_kernels16.c
EMITTERS.update(emit_norm16.TABLE)   # QLayerNorm16 (int16 LayerNorm, templates/qcomp_kernels_norm.c)
EMITTERS.update(emit16_softmax.TABLE)   # QSoftmax16, templates/qcomp_softmax16.c
from . import emit_index  # noqa: E402

EMITTERS.update(emit_index.TABLE)   # GatherElements, GatherND, ScatterElements, ScatterND (run-time indices)
TEMPLATES = Path(__file__).resolve().parent / "templates"
STATIC_FILES = ("qcomp_kernels.c", "qcomp_kernels_conv.c", "qcomp_dot.h", "qcomp_requant.h", "qcomp_kernels_elem.c", "runner.c")
STATIC_FILES += ("qcomp_kernels_norm.c",)   # integer LayerNorm (emit_norm.py)
STATIC_FILES += ("qcomp_kernels_rows.c",)   # integer Softmax and TopK
STATIC_FILES += ("qcomp_kernels16.c", "qcomp_kernels16.h")   # A16W8 (emit16.py)
STATIC_FILES += ("qcomp_softmax16.c",)   # int16 Softmax (emit16_softmax.py)
STATIC_FILES += ("qcomp_kernels_index.c",)   # run-time Gather indices, IntLut (emit_gather.py)
STATIC_FILES += ("qcomp_boundary16.c",)   # float <-> int16 graph inputs and outputs (emit_movement.py)
STATIC_FILES += ("qcomp_dw_mve.h",)   # Helium depthwise convolution (included by qcomp_kernels_conv.c)
_ENV = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), undefined=jinja2.StrictUndefined,
                          keep_trailing_newline=True, autoescape=False, finalize=inert)
_ABI_DTYPES = {t: abi.DTYPE_OF_NUMPY[t.np].name for t in (DType.FLOAT32, DType.INT8, DType.INT32, DType.INT64,
                                                           DType.BOOL, DType.INT16)}   # the C ABI's
_ROW = 24   # values per line in weights.c
ARENA_ALIGN = ALIGN   # QCOMP_WORKSPACE_ALIGN: the memory plan's alignment


def _softmax_advice(node, graph: Graph) -> str | None:
    """Why a Softmax stayed in float (the integer Softmax's limits), when they are the cause."""
    src = next((n for n in graph.nodes if node.inputs[0] in n.outputs), None)
    if src is None or not isinstance(src.op, ops.Dequantize):
        return None
    depth = graph.types[node.inputs[0]].shape[node.op.axis]
    reason = fixedpoint.softmax_refusal(depth, 1.0, float(graph.types[src.inputs[0]].quant.scale[0]))
    return None if reason is None else (f"it stayed in float because the integer Softmax cannot run it: {reason}; "
                                        "build it for a target with float math (e.g. --target x86-vnni)")


def _advice(node, graph: Graph) -> str:
    """Dynamic quantization and float ops: quantize statically; anything else: another target."""
    if isinstance(node.op, ops.Softmax) and (why := _softmax_advice(node, graph)) is not None:
        return why
    if isinstance(node.op, DYNAMIC_OPS):
        return ("dynamic quantization (activation scales computed at run time, --quant dynamic) needs float "
                f"math, which the C backend does not have; {STATIC_HINT}")
    if any(graph.types[v].dtype is DType.FLOAT32 for v in node.inputs):
        return f"it computes in float, and the C backend has integer kernels only; {STATIC_HINT}"
    return ("the C backend runs int8 models (integer ops, type-generic ops on int8, Quantize at the inputs, "
            "Dequantize at the outputs); build other models for another target (e.g. --target ref)")


def check(graph: Graph, target: Target) -> list[Problem]:
    """Every node the C backend cannot emit, and graph inputs/outputs its ABI cannot carry."""
    problems = check_nodes(graph, EMITTERS, "c", _advice)
    ctx = Ctx(graph, target.name, planned(graph).memory, CNames())
    for v in (*graph.inputs, *graph.outputs):
        try:
            _io(ctx, v, v in graph.inputs)
        except UnsupportedModelError as e:
            problems.append(Problem(v, "graph input" if v in graph.inputs else "graph output",
                                    graph.types[v].dtype.value, str(e), "change the model's inputs and outputs"))
    return problems


def _calls(ctx: Ctx) -> list[Call]:
    for node in ctx.graph.nodes:
        if not ctx.plan.is_view(node):
            emitter_of(EMITTERS, node)(node, ctx)
    return ctx.calls


def _weights(ctx: Ctx) -> list[dict]:
    readers: dict[str, int] = {}
    for n in ctx.graph.nodes:
        # a Gather's constant indices are compiled into its tables (emit_gather.py), never stored
        for v in {v for k, v in enumerate(n.inputs) if v in ctx.graph.constants
                  and not (isinstance(n.op, ops.Gather) and k == 1)}:
            readers[v] = readers.get(v, 0) + 1
    # a constant every reader of which re-laid into its own array (a depthwise conv's weights) is not stored
    used = sorted(v for v, k in readers.items() if ctx.relaid.get(v, 0) < k)
    out = []
    for v in used:
        arr = np.asarray(ctx.graph.constants[v])
        ctype = C_TYPES.get(ctx.dtype(v))
        if ctype is None or ctype == "float":
            raise UnsupportedModelError(f"target {ctx.target_name}: constant {v!r} has dtype "
                                        f"{ctx.dtype(v).value}; the C backend stores int8 and int32 constants")
        flat = [int(x) for x in arr.ravel()] or [0]
        out.append({"name": ctx.names.ident("w", v), "ctype": ctype, "size": len(flat), "align": 16,
                    "comment": c_comment(f"{v}: {ctx.dtype(v).value}{list(arr.shape)}"),
                    "rows": [flat[i:i + _ROW] for i in range(0, len(flat), _ROW)]})
    return out


def _quant_of(g: Graph, v: str, as_input: bool):
    """Quant params of the int8 form of a graph input / output (qcomp.ir.io_quant), or None."""
    form = (input_forms if as_input else output_forms)(g)[v]
    return form.quant if form is not None else None


def _io(ctx: Ctx, v: str, as_input: bool) -> dict:
    g, t = ctx.graph, ctx.graph.types[v]
    if t.dtype not in _ABI_DTYPES:
        raise UnsupportedModelError(f"target {ctx.target_name}: graph {'input' if as_input else 'output'} {v!r} "
                                    f"has dtype {t.dtype.value}; the C ABI takes float32, int8, int16, int32, int64 or bool")
    if len(t.shape) > 8:
        raise UnsupportedModelError(f"target {ctx.target_name}: {v!r} has rank {len(t.shape)} (at most 8)")
    q = _quant_of(g, v, as_input)
    scale = float(np.float32(q.scale[0])) if q is not None else 0.0
    n = math.prod(t.shape)
    raw = _raw_dtype(g, v, as_input) if q is not None and t.dtype is DType.FLOAT32 else t.dtype
    raw_bytes = n * raw.itemsize
    m = dict(zip(g.inputs, model_inputs(g)) if as_input else zip(g.outputs, model_outputs(g)))[v]
    code_bytes = n if m.has_codes else 0   # QCOMP_MODEL_CODES: one byte per uint8 / int8 code
    codes = {"code_dtype": str(m.dtype.np), "code_bytes": code_bytes} if m.has_codes else {}
    return {"name": c_char_array(v), "dtype": _ABI_DTYPES[t.dtype], "rank": len(t.shape),
            "shape": list(t.shape) or [0], "scale": f"{scale:.9e}f", "zero_point": int(q.zero_point[0]) if q else 0,
            "bytes": ctx.nbytes(v), "raw_bytes": raw_bytes, "raw_dtype": _ABI_DTYPES[raw],
            "model_dtype": abi.DTYPE_OF_NUMPY[m.dtype.np].name, "has_codes": int(m.has_codes),
            "model_scale": f"{float(np.float32(m.scale)):.9e}f", "model_zero_point": m.zero_point,
            "code_bytes": code_bytes,
            "entry": {"name": v, "dtype": str(t.dtype.np), "shape": list(t.shape), "bytes": ctx.nbytes(v),
                      "raw_bytes": raw_bytes, "raw_dtype": str(raw.np), **codes}}


def _raw_dtype(g: Graph, v: str, as_input: bool) -> DType:
    """The integer side of a float graph input's Quantize / output's Dequantize: int8, or int16 for an
    int16 boundary (raw I/O exchanges the int16 values, as the reference's --raw does)."""
    node = (input_forms if as_input else output_forms)(g)[v].node
    if node is None:
        return DType.INT8
    return g.types[node.outputs[0] if as_input else node.inputs[0]].dtype


def _pad8(n: int) -> int:
    return (n + 7) // 8 * 8


def write_kernels(out: Path) -> None:
    """The model-independent files into out: the kernels, their header (AddParams from
    qcomp.fixedpoint), the runner and qcomp.h."""
    for name in STATIC_FILES:
        shutil.copyfile(TEMPLATES / name, out / name)
    (out / "qcomp_kernels.h").write_text(_ENV.get_template("qcomp_kernels.h.j2").render(
        add_params_fields=ADD_PARAMS_FIELDS))
    shutil.copyfile(data_dir("runtime") / "qcomp.h", out / "qcomp.h")


def plain_plan(graph: Graph) -> MemoryPlan:
    """The graph's plan with every workspace value at its own offset (no reuse by liveness; the same
    views): the plain reference layout."""
    plan = planned(graph).memory
    offsets, end = {}, 0
    for v in (o for n in graph.nodes for o in n.outputs if o in plan.offsets):   # in execution order
        offsets[v] = end
        end = abi.align(end + plan.sizes[v])
    return MemoryPlan(offsets, plan.sizes, end, plan.activation_bytes, plan.aliases, plan.view_offsets,
                      plan.view_rows, plan.concat_views)


def emit(graph: Graph, target: Target, out_dir: str | Path, *, plain: bool = False) -> dict:
    """Write and compile the C artifact for `graph` into out_dir; return its manifest entries.

    plain=True writes the plain per-op reference form instead (benchmarks/dsp_cost.py): every
    activation in its own slice of the arena (no liveness reuse), and -DQCOMP_PLAIN kernels (direct
    nested-loop convolution and dense, no patch, no two-row blocking, no DSP instructions). Same
    ABI, same results bit for bit."""
    raise_problems(check(graph, target), target)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    graph = planned(graph)
    plan = plain_plan(graph) if plain else graph.memory
    # the plain convolution reads its input directly: no patch scratch (a null pointer)
    ctx = Ctx(graph, target.name, plan, CNames(), scratch_offset=None if plain else abi.align(plan.workspace_bytes),
              plain=plain)
    calls = _calls(ctx)
    arena = (abi.align(plan.workspace_bytes) + abi.align(ctx.scratch_bytes) if ctx.scratch_bytes
             else plan.workspace_bytes)
    weights = _weights(ctx)
    inputs = [_io(ctx, v, True) for v in graph.inputs]
    outputs = [_io(ctx, v, False) for v in graph.outputs]
    if not inputs or not outputs:
        raise UnsupportedModelError(f"target {target.name}: graph {graph.name!r} needs at least one input and output")
    io_bytes = sum(_pad8(t["bytes"]) for t in inputs) + sum(_pad8(max(t["bytes"], t["raw_bytes"])) for t in outputs)
    int16 = any(t.dtype is DType.INT16 for t in graph.types.values())   # A16W8: qcomp_kernels16.c
    build = toolchain.build_for(target, plain=plain, int16=int16)
    common = {"target": target.name, "model_comment": c_comment(graph.name),
              "statuses": [s._replace(message=c_string(s.message)) for s in abi.STATUS],
              "unknown_status": c_string(abi.UNKNOWN_STATUS),
              "arena_bytes": arena, "activation_bytes": plan.activation_bytes}
    files = {
        "model.c": _ENV.get_template("model.c.j2").render(
            **common, weights=weights, calls=calls, inputs=inputs, outputs=outputs, kernels16=int16,
            codes_exact=ctx.codes_exact,
            arrays=[a for c in calls for a in c.arrays], structs=[s for c in calls for s in c.structs]),
        "model.h": _ENV.get_template("model.h.j2").render(**common, inputs=inputs, outputs=outputs, io_bytes=io_bytes),
        "weights.c": _ENV.get_template("weights.c.j2").render(**common, weights=weights),
        "Makefile": _ENV.get_template("Makefile.j2").render(
            **common, program=build.program, compiler=build.compiler,
            cflags=[*build.cflags, *toolchain.WARNINGS], ldflags=list(build.ldflags), sources=list(build.sources)),
    }
    for name, text in files.items():
        (out / name).write_text(text)
    write_kernels(out)
    toolchain.compile_program(build, out)
    sizes = toolchain.sizes(build, out, arena)
    runner = {"program": build.program, "kind": target.kind, "command": list(target.runner.get("command", [])),
              "instructions_per_tick": float(target.runner.get("instructions_per_tick", 0)),
              "inputs": [t["entry"] for t in inputs], "outputs": [t["entry"] for t in outputs]}
    return {
        "files": {"source": "model.c", "header": "model.h", "weights": "weights.c", "kernels": "qcomp_kernels.c",
                  "kernels_conv": "qcomp_kernels_conv.c", "kernels_elem": "qcomp_kernels_elem.c", "kernels_norm": "qcomp_kernels_norm.c", "kernels_rows": "qcomp_kernels_rows.c", "kernels_index": "qcomp_kernels_index.c", "kernels_header": "qcomp_kernels.h",
                  "runner_source": "runner.c", "makefile": "Makefile", "program": build.program,
                  **({"kernels16": "qcomp_kernels16.c", "kernels16_header": "qcomp_kernels16.h",
                     "softmax16": "qcomp_softmax16.c", "boundary16": "qcomp_boundary16.c"} if int16 else {})},
        "workspace_bytes": arena, "activation_bytes": plan.activation_bytes,
        **sizes, "c_runner": runner, "c_variant": "plain" if plain else "optimized",
    }
