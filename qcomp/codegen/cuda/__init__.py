"""The cuda backend: NHWC int8 CUDA kernels from Jinja2 templates, a fatbin from nvcc, a launch plan.

    check(TARGET graph, target) -> [Problem]     every node it cannot emit (qcomp/protocol.py)
    emit(TARGET graph, target, out_dir, *, fatbin=True) -> manifest entries
writes model.cu (every kernel, readable: prelude of fixedpoint transcriptions + one kernel per
launch), weights.bin (constants and packed weights), model.h (the launch plan as C data) and,
when nvcc is present, model.fatbin (SASS for every `target.architectures` entry + PTX). The
manifest gets the launch plan: for every launch its kernel, grid, block, shared memory and its
arguments as (buffer, byte offset), buffers being the workspace (offsets of the graph's memory
plan, graph.memory), the weights, the caller's inputs/outputs and the raw int8 outputs (--raw).
A Reshape the plan makes a view has no launch: its output is its input's (buffer, offset).

Kernels (templates/): implicit-GEMM conv and dense on shared-memory tiles with the requantize
epilogue fused (conv_gemm: mma.sync m16n8k32 s8 tensor cores on sm_80+, __dp4a on sm_75, chosen
per architecture at compile time), direct depthwise/grouped/transposed conv (conv_direct), matmul,
add/sub/mul, LUT (shared-memory table), requantize, integer Softmax and LayerNorm (one thread per row),
quantize/dequantize, max/avg pooling, mean/max reductions, strided copies (Reshape, Transpose,
Slice, Split, Concat, Pad), nearest Resize, the --quant dynamic ops (DynamicDense, DynamicMatMul),
the float-fallback ops Softmax and LayerNorm, and the math ops (math.cu.j2: Elu ... Shrink on
float32; Min, Max on float32, int8 and int32/int64; Mod), and the A16W8 ops on int16 activations
(emit16.py, a16w8.cu.j2: int64 accumulators, the 64-bit requantize; MaxPool2D, ReduceMax and the
copies also on int16). The other float ops of float-fallback regions (Relu ... Gelu, Pow, PRelu,
BatchNorm, pools, ReduceMean, direct float Conv2D / Dense / MatMul): emit_float_fallback.py,
emit_float_products.py.
Emitters are `emit_x(node, ctx)`, their preconditions why_not hooks of the EMITTERS table; emit
refuses a graph check() finds problems in with one UnsupportedModelError naming every such node
(op and dtypes). Templates get
precomputed integers only; one Jinja2 environment with StrictUndefined.
"""
from __future__ import annotations

import functools
import sys
from pathlib import Path

import jinja2

from ...ir import Graph, Stage
from ...protocol import Problem, check_nodes, emitter_of, problem, raise_problems, skip_advice
from ...target import Target
from ..memory import planned
from . import emit16, emit_logic
from . import model_codes
from . import emit16_softmax
from . import emit_compute, emit_dynamic, emit_elementwise, emit_float, emit_math, emit_movement
from . import emit_compute, emit_dynamic, emit_elementwise, emit_float, emit_math, emit_movement, emit_select
from . import emit_norm
from . import emit_norm16
from .. import ADD_PARAMS_FIELDS
from ..names import c_comment, inert
from .context import _CTYPES, BLOCK, Context
from .nvcc import compile_fatbin, find_nvcc

EMITTERS = {**emit_compute.EMITTERS, **emit_dynamic.EMITTERS, **emit_float.EMITTERS, **emit_elementwise.EMITTERS,
            **emit_movement.EMITTERS, **emit_math.EMITTERS}
EMITTERS.update(emit_logic.EMITTERS)   # comparison, logic, Where, ReduceSum/Min/Prod, ArgMax/ArgMin, CumSum
EMITTERS.update(emit_select.EMITTERS)   # TopK
EMITTERS.update(emit_norm.EMITTERS)   # QLayerNorm
EMITTERS.update(emit16.EMITTERS)   # A16W8: int16 activations (qcomp/ir/qops16.py), templates/a16w8.cu.j2
EMITTERS.update(emit_norm16.EMITTERS)   # QLayerNorm16 (int16 LayerNorm, templates/layer_norm16.cu.j2)
EMITTERS.update(emit16_softmax.EMITTERS)   # QSoftmax16, templates/softmax16.cu.j2
from . import emit_index  # noqa: E402

EMITTERS.update(emit_index.EMITTERS)   # IntLut (an attention mask to int8), templates/index.cu.j2
from . import emit_index_ops  # noqa: E402

EMITTERS.update(emit_index_ops.EMITTERS)   # GatherElements, GatherND, ScatterElements, ScatterND (run-time indices)
from . import emit_float_fallback, emit_float_products  # noqa: E402

# float32 ops of float-fallback regions (--skip, LogSoftmax): Relu ... Gelu, Pow, PRelu, BatchNorm, AvgPool2D,
# ReduceMean, float MaxPool2D / ReduceMax (int8 / int16 ones still run emit_elementwise's kernels),
# Conv2D, Dense, MatMul
EMITTERS.update(emit_float_fallback.EMITTERS)
EMITTERS.update(emit_float_products.EMITTERS)
from . import emit_float_resize  # noqa: E402

EMITTERS.update(emit_float_resize.EMITTERS)   # Resize: nearest (emit_movement), linear on float32 (float_resize.cu.j2)
EMULATION_HEADER = "qcomp_cuda_emulate.h"


@functools.cache
def environment() -> jinja2.Environment:
    """Every template sees BLOCK (threads per block) and the AddParams field list; every value it
    prints passes names.inert (no unsanitized model string reaches model.cu)."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(Path(__file__).parent / "templates")),
                             undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True,
                             keep_trailing_newline=True, finalize=inert)
    env.globals.update(BLOCK=BLOCK, add_params_fields=ADD_PARAMS_FIELDS)
    return env


def generate(graph: Graph, target: Target) -> Context:
    """Every kernel source and launch of `graph` (a TARGET-stage graph), in execution order."""
    raise_problems(check(graph, target), target)
    graph = planned(graph)
    env = environment()
    ctx = Context(graph, graph.memory, target.name, env)
    for node in graph.nodes:
        if graph.memory.is_view(node):
            continue
        emitter_of(EMITTERS, node)(node, ctx)
    ctx.sources.insert(0, env.get_template("prelude.cu.j2").render(model=c_comment(graph.name),
                                                                   target=target.name))
    return ctx


def check(graph: Graph, target: Target) -> list[Problem]:
    """Every node the cuda backend cannot emit (no EMITTERS entry, a failed precondition, a value of a
    dtype the kernels do not take), and outputs no node computes. Empty: emit() can build `graph`."""
    if graph.stage is not Stage.TARGET:
        raise ValueError(f"the cuda backend compiles TARGET-stage graphs, got {graph.stage.name}")
    problems = check_nodes(graph, EMITTERS, "cuda")
    flagged = {p.node for p in problems}
    for node in graph.nodes:
        bad = [v for v in (*node.inputs, *node.outputs) if graph.types[v].dtype.value not in _CTYPES]
        if bad and node.name not in flagged:
            problems.append(problem(graph, node, f"value {bad[0]!r} has dtype {graph.types[bad[0]].dtype.value}, "
                                                 f"which the cuda kernels do not take", skip_advice(node, graph)))
    for out in graph.outputs:
        if out in graph.inputs or out in graph.constants:
            problems.append(Problem(out, "graph output", graph.types[out].dtype.value, "the output is a graph "
                                    "input or a constant; the cuda backend needs every output computed by a node",
                                    "compute the output with a node in the model"))
    return problems


def _header(graph: Graph, ctx: Context) -> str:
    lines = [f"/* {c_comment(graph.name)}: launch plan of model.cu (also in manifest.json \"launches\"). */",
             "#pragma once", f"#define QCOMP_WORKSPACE_BYTES {ctx.workspace_bytes}u",
             f"#define QCOMP_WEIGHTS_BYTES {len(ctx.weights)}u", f"#define QCOMP_LAUNCHES {len(ctx.launches)}", ""]
    for launch in ctx.launches:
        args = ", ".join(f"{a.buffer}+{a.offset}" for a in launch.args)
        lines.append(f"/* {launch.kernel}<<<({','.join(map(str, launch.grid))}), ({','.join(map(str, launch.block))})>>>"
                     f"({args}) */")
    return "\n".join(lines) + "\n"


def emit(graph: Graph, target: Target, out_dir, *, fatbin: bool = True) -> dict:
    """Write the artifact's cuda files into out_dir; fatbin=False skips nvcc (emulation-only tests)."""
    out = Path(out_dir)
    ctx = generate(graph, target)
    source = out / "model.cu"
    source.write_text("".join(ctx.sources))
    (out / "weights.bin").write_bytes(bytes(ctx.weights))
    (out / "model.h").write_text(_header(graph, ctx))
    from ...resources import data_dir
    (out / EMULATION_HEADER).write_text((data_dir("runtime") / "cuda" / EMULATION_HEADER).read_text())
    files = {"source": "model.cu", "weights": "weights.bin", "header": "model.h", "emulation_header": EMULATION_HEADER}
    nvcc = find_nvcc(target) if fatbin else None
    notes = []
    if nvcc is not None:
        compile_fatbin(nvcc, target, source, out / "model.fatbin")
        files["fatbin"] = "model.fatbin"
    elif fatbin:
        notes.append("nvcc not found: model.fatbin was not built (pip install nvidia-cuda-nvcc, or install the "
                     "CUDA toolkit, then rebuild); --emulate runs model.cu on the CPU")
        print(f"qcomp: warning: {notes[-1]}", file=sys.stderr)
    g = graph
    return {
        "files": files,
        "workspace_bytes": ctx.workspace_bytes, "activation_bytes": ctx.plan.activation_bytes,
        "weights_file_bytes": len(ctx.weights),
        "architectures": list(target.architectures) + ([target.ptx] if target.ptx else []),
        "buffers": {
            "inputs": [{"name": i, "dtype": g.types[i].dtype.np.name, "shape": list(g.types[i].shape)} for i in g.inputs],
            "outputs": [{"name": o, "dtype": g.types[o].dtype.np.name, "shape": list(g.types[o].shape)}
                        for o in g.outputs],
        },
        "launches": [launch.manifest() for launch in ctx.launches],
        "model_codes": model_codes.manifest_entry(graph, ctx.launches),   # QCOMP_MODEL_CODES (host side)
        "build_notes": notes,
    }
