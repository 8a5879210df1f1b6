"""The dsp-c backend: a TARGET graph as portable fixed-point C99 (targets dsp-c, cortex-m4).

    emit(graph, target, out_dir) -> manifest entries

writes model.c (one kernel call per node, activations at liveness-planned offsets of one
caller-provided arena (qcomp.passes.plan_memory), then one scratch area for conv patches),
model.h (the ABI of runtime/qcomp.h plus QCOMP_MODEL_ARENA_BYTES),
weights.c (const aligned int8/int32 arrays), qcomp_kernels.c/.h (the fixed-point kernels,
transcribed from qcomp/fixedpoint.py; elementwise, pooling and movement in
qcomp_kernels_elem.c), runner.c (file in, file out: `qcomp run` drives it) and a
Makefile, then compiles them warning-free (-std=c99 -Wall -Wextra -Wpedantic -Werror) with the
target's toolchain. No floats in the math: only the I/O quantize/dequantize, removed by
-DQCOMP_NO_FLOAT (raw int8 I/O). All templates render in ONE jinja2 environment with
StrictUndefined and receive precomputed integers and sanitized names only (names.py).

Manifest figures (toolchain.py): flash_bytes (code + weights of the model's objects, from `size`),
ram_bytes (arena + static data + stack bound), stack_bytes (the heaviest call chain of gcc's call
graph: no recursion, no unbounded frame), workspace_bytes (= QCOMP_MODEL_ARENA_BYTES of model.h).
emit(..., plain=True) writes the plain per-op reference form measured by benchmarks/dsp_cost.py.

Ops: the emitter tables of emit_compute.py and emit_movement.py; a node outside them raises
UnsupportedModelError naming the target, the node, its op and dtypes. Dynamic quantization
(DynamicDense / DynamicMatMul, --quant dynamic) and float ops left by --quant weight or --skip are
refused with the advice to quantize statically (--quant full, the default).
"""
from __future__ import annotations

import dataclasses
import math
import shutil
from pathlib import Path

import jinja2
import numpy as np

from ...errors import UnsupportedModelError
from ...ir import DType, Graph, qops
from ...ir.io_quant import input_forms, output_forms
from ...passes.plan_memory import plan_memory
from ...resources import data_dir
from ...target import Target
from . import emit_compute, emit_movement, toolchain
from .names import CNames, c_comment, c_string
from .program import C_TYPES, Call, Ctx, unsupported

DYNAMIC_OPS = (qops.DynamicDense, qops.DynamicMatMul)
STATIC_HINT = "quantize it statically: --quant full (the default) with --calib samples, and no --skip of this node"

TABLE = {**emit_compute.TABLE, **emit_movement.TABLE}
TEMPLATES = Path(__file__).resolve().parent / "templates"
STATIC_FILES = ("qcomp_kernels.c", "qcomp_kernels_elem.c", "qcomp_kernels.h", "runner.c")
_ENV = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), undefined=jinja2.StrictUndefined,
                          keep_trailing_newline=True, autoescape=False)
_ABI_DTYPES = {DType.FLOAT32: "QCOMP_FLOAT32", DType.INT8: "QCOMP_INT8", DType.INT32: "QCOMP_INT32"}
_ROW = 24   # values per line in weights.c
ARENA_ALIGN = 64   # QCOMP_WORKSPACE_ALIGN


def _calls(ctx: Ctx) -> list[Call]:
    # the most useful error first: dynamic quantization (its float Conv/others would be reported
    # otherwise), then float ops left by --quant weight / --skip, then any other op without a kernel
    for node in ctx.graph.nodes:
        if isinstance(node.op, DYNAMIC_OPS):
            raise unsupported(ctx, node, "dynamic quantization (activation scales computed at run time, "
                                         "--quant dynamic) needs float math, which the C backend does not "
                                         f"have; {STATIC_HINT}")
    for node in ctx.graph.nodes:
        if type(node.op) not in TABLE:
            floats = any(ctx.dtype(v) is DType.FLOAT32 for v in node.inputs)
            raise unsupported(ctx, node, "it computes in float, and the C backend has integer kernels only; "
                                         f"{STATIC_HINT}" if floats else "no C kernel for this op")
    calls: list[Call] = []
    for node in ctx.graph.nodes:
        calls += TABLE[type(node.op)](ctx, node)
    return calls


def _weights(ctx: Ctx) -> list[dict]:
    used = sorted({v for n in ctx.graph.nodes for v in n.inputs if v in ctx.graph.constants})
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
                                    f"has dtype {t.dtype.value}; the C ABI takes float32, int8 or int32")
    if len(t.shape) > 8:
        raise UnsupportedModelError(f"target {ctx.target_name}: {v!r} has rank {len(t.shape)} (at most 8)")
    q = _quant_of(g, v, as_input)
    scale = float(np.float32(q.scale[0])) if q is not None else 0.0
    n = math.prod(t.shape)
    raw_bytes = n if q is not None and t.dtype is DType.FLOAT32 else ctx.nbytes(v)
    return {"name": c_string(v), "dtype": _ABI_DTYPES[t.dtype], "rank": len(t.shape),
            "shape": list(t.shape) or [0], "scale": f"{scale:.9e}f", "zero_point": int(q.zero_point[0]) if q else 0,
            "bytes": ctx.nbytes(v), "raw_bytes": raw_bytes,
            "raw_dtype": "QCOMP_INT8" if raw_bytes != ctx.nbytes(v) else _ABI_DTYPES[t.dtype],
            "entry": {"name": v, "dtype": str(t.dtype.np), "shape": list(t.shape), "bytes": ctx.nbytes(v),
                      "raw_bytes": raw_bytes, "raw_dtype": "int8" if raw_bytes != ctx.nbytes(v) else str(t.dtype.np)}}


def _align(n: int) -> int:
    return (n + ARENA_ALIGN - 1) // ARENA_ALIGN * ARENA_ALIGN


def _pad8(n: int) -> int:
    return (n + 7) // 8 * 8


def supports(graph: Graph, target: Target) -> str | None:
    """None if every node of `graph` has a C emitter, else the UnsupportedModelError message."""
    try:
        _calls(Ctx(graph, target.name, plan_memory(graph).offsets, CNames()))
        for v in (*graph.inputs, *graph.outputs):
            _io(Ctx(graph, target.name, {}, CNames()), v, v in graph.inputs)
    except UnsupportedModelError as e:
        return str(e)
    return None


def plain_plan(graph: Graph):
    """Every planned value at its own offset (no reuse by liveness): the plain reference layout."""
    plan = plan_memory(graph)
    offsets, end = {}, 0
    for v in (o for n in graph.nodes for o in n.outputs if o in plan.offsets):   # in execution order
        offsets[v] = end
        end = _align(end + plan.sizes[v])
    return dataclasses.replace(plan, offsets=offsets, workspace_bytes=end)


def emit(graph: Graph, target: Target, out_dir: str | Path, *, plain: bool = False) -> dict:
    """Write and compile the C artifact for `graph` into out_dir; return its manifest entries.

    plain=True writes the plain per-op reference form instead (benchmarks/dsp_cost.py): every
    activation in its own slice of the arena (no liveness reuse), and -DQCOMP_PLAIN kernels (direct
    nested-loop convolution and dense, no patch, no two-row blocking, no DSP instructions). Same
    ABI, same results bit for bit."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    plan = plain_plan(graph) if plain else plan_memory(graph)
    # the plain convolution reads its input directly: no patch scratch (a null pointer)
    ctx = Ctx(graph, target.name, plan.offsets, CNames(), scratch_offset=None if plain else _align(plan.workspace_bytes))
    calls = _calls(ctx)
    arena = _align(plan.workspace_bytes) + _align(ctx.scratch_bytes) if ctx.scratch_bytes else plan.workspace_bytes
    weights = _weights(ctx)
    inputs = [_io(ctx, v, True) for v in graph.inputs]
    outputs = [_io(ctx, v, False) for v in graph.outputs]
    if not inputs or not outputs:
        raise UnsupportedModelError(f"target {target.name}: graph {graph.name!r} needs at least one input and output")
    io_bytes = sum(_pad8(t["bytes"]) for t in inputs) + sum(_pad8(max(t["bytes"], t["raw_bytes"])) for t in outputs)
    build = toolchain.build_for(target, plain=plain)
    common = {"target": target.name, "model_comment": c_comment(graph.name),
              "arena_bytes": arena, "activation_bytes": plan.activation_bytes}
    files = {
        "model.c": _ENV.get_template("model.c.j2").render(
            **common, weights=weights, calls=calls, inputs=inputs, outputs=outputs,
            arrays=[a for c in calls for a in c.arrays], structs=[s for c in calls for s in c.structs]),
        "model.h": _ENV.get_template("model.h.j2").render(**common, inputs=inputs, outputs=outputs, io_bytes=io_bytes),
        "weights.c": _ENV.get_template("weights.c.j2").render(**common, weights=weights),
        "Makefile": _ENV.get_template("Makefile.j2").render(
            **common, program=build.program, compiler=build.compiler,
            cflags=[*build.cflags, *toolchain.WARNINGS], ldflags=list(build.ldflags), sources=list(build.sources)),
    }
    for name, text in files.items():
        (out / name).write_text(text)
    for name in STATIC_FILES:
        shutil.copyfile(TEMPLATES / name, out / name)
    shutil.copyfile(data_dir("runtime") / "qcomp.h", out / "qcomp.h")
    toolchain.compile_program(build, out)
    sizes = toolchain.sizes(build, out, arena)
    runner = {"program": build.program, "kind": target.kind, "command": list(target.runner.get("command", [])),
              "instructions_per_tick": int(target.runner.get("instructions_per_tick", 0)),
              "inputs": [t["entry"] for t in inputs], "outputs": [t["entry"] for t in outputs]}
    return {
        "files": {"source": "model.c", "header": "model.h", "weights": "weights.c", "kernels": "qcomp_kernels.c",
                  "kernels_elem": "qcomp_kernels_elem.c", "kernels_header": "qcomp_kernels.h",
                  "runner_source": "runner.c", "makefile": "Makefile", "program": build.program},
        "workspace_bytes": arena, "activation_bytes": plan.activation_bytes,
        **sizes, "c_runner": runner, "c_variant": "plain" if plain else "optimized",
    }
