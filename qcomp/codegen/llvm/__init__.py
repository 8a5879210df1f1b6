"""The LLVM backend: a TARGET graph -> one LLVM module -> model.o -> model.so with the qcomp.h ABI.

    emit(graph, target, out_dir) -> manifest entries {"files", "workspace_bytes", ...}

One internal function per node (returning a qcomp_status), from a table op class -> emitter (EMITTERS); a node without an
entry is an UnsupportedModelError naming the target, the node, its op and dtypes. The target's
data (triple, cpu, features, [dot] instruction, activation offset, vector width: isa.py) decide
every difference between targets, so x86 VNNI and AArch64 SDOT share this code. Memory: the
intermediate values at plan_memory's offsets, then the kernels' scratch, in one workspace.

Coverage: Quantize, Dequantize (per tensor or per channel), QConv2D (grouped; depthwise has its own
kernel), QConvTranspose2D, QDense, QMatMul, QAdd, QSub, QMul, Lut, QRequantize, MaxPool2D, QAvgPool2D,
QMean, ReduceMax, Reshape, Transpose, Slice, Split, Pad, Concat, Resize (nearest: any dtype; linear:
float32), Gather (constant or run-time indices), DynamicDense, DynamicMatMul, and the float-fallback
ops (float32): Cast, LayerNorm, Softmax, Erf, Add/Sub/Mul/Div/Pow/PRelu, Relu, Clip, LeakyRelu,
HardSigmoid, HardSwish, Sigmoid, Tanh, Exp, Sqrt, Gelu, BatchNorm, MaxPool2D, AvgPool2D, ReduceMean,
ReduceMax, Dense, MatMul and Conv2D. Not covered (UnsupportedModelError at build, naming the node):
float ConvTranspose2D, float16 or integer tensors in float-only ops, Cast other than integer ->
float32. Files: kernels_dot.py (dot-instruction kernels), kernels_elem.py (elementwise, pooling,
movement), kernels_float.py (float regions of token models), kernels_fallback.py (the other
float-fallback ops), tables.py (index maps), irgen.py (IR helpers and the fixed-point spec in IR),
abi.py (qcomp.h), compile.py (child-process compile, link), isa.py and cpucheck.py (target data).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from llvmlite import ir

from ...errors import UnsupportedModelError
from ...ir import Graph, Node, ops, qops
from ...passes.plan_memory import ALIGN, plan_memory
from ...resources import data_dir
from ...target import Target
from . import kernels_dot, kernels_elem, kernels_fallback, kernels_float
from .abi import check_io, emit_abi, raw_forms, separate_raw_outputs
from .compile import compile_object, cross_artifact, link_shared
from .cpucheck import cpu_check_expr
from .irgen import BLOB_SYMBOL, I32, PTR, Module, c32
from .isa import DotSpec, dot_spec

EMITTERS = {
    qops.QConv2D: kernels_dot.emit_dot, qops.QConvTranspose2D: kernels_dot.emit_dot,
    qops.QDense: kernels_dot.emit_dot, qops.QMatMul: kernels_dot.emit_matmul,
    ops.Quantize: kernels_elem.emit_quantize, ops.Dequantize: kernels_elem.emit_dequantize,
    qops.Lut: kernels_elem.emit_lut, qops.QRequantize: kernels_elem.emit_requantize,
    qops.QAdd: kernels_elem.emit_add_sub, qops.QSub: kernels_elem.emit_add_sub, qops.QMul: kernels_elem.emit_mul,
    ops.MaxPool2D: kernels_elem.emit_maxpool, qops.QAvgPool2D: kernels_elem.emit_avgpool,
    qops.QMean: kernels_elem.emit_mean, ops.ReduceMax: kernels_elem.emit_reduce_max,
    **{cls: kernels_elem.emit_movement for cls in (ops.Reshape, ops.Transpose, ops.Slice, ops.Split, ops.Pad,
                                                   ops.Concat)},
    ops.Gather: kernels_elem.emit_gather, ops.Cast: kernels_float.emit_cast,
    ops.LayerNorm: kernels_float.emit_layer_norm, ops.Softmax: kernels_float.emit_softmax,
    qops.DynamicDense: kernels_float.emit_dynamic_dense, qops.DynamicMatMul: kernels_float.emit_dynamic_matmul,
    **{cls: kernels_float.emit_float_binary for cls in (ops.Add, ops.Sub, ops.Mul, ops.Div, ops.Pow, ops.PRelu)},
    ops.Erf: kernels_float.emit_erf, ops.Resize: kernels_fallback.emit_resize,
    **{cls: kernels_fallback.emit_unary for cls in kernels_fallback.UNARY},
    ops.BatchNorm: kernels_fallback.emit_batch_norm, ops.AvgPool2D: kernels_fallback.emit_avgpool,
    ops.ReduceMean: kernels_fallback.emit_reduce, ops.Dense: kernels_fallback.emit_dense,
    ops.MatMul: kernels_fallback.emit_matmul, ops.Conv2D: kernels_fallback.emit_conv,
}


@dataclass
class Kernel:
    """What an emitter gets: the module, a builder inside the node's function, the pointers of the
    node's inputs and outputs, and its scratch (after the planned values, 64-byte aligned).
    The emitter returns the scratch bytes it uses."""
    mod: Module
    b: ir.IRBuilder
    node: Node
    graph: Graph
    spec: DotSpec
    ins: list
    outs: list
    scratch: ir.Value


def unsupported(graph: Graph, target: Target) -> str | None:
    """Why the backend cannot emit `graph` (the first node it lacks a kernel for), or None."""
    for n in graph.nodes:
        if type(n.op) not in EMITTERS:
            dtypes = ", ".join(graph.types[v].dtype.value for v in n.inputs)
            return (f"target {target.name}: node {n.name!r} op {n.kind} ({dtypes} -> "
                    f"{', '.join(graph.types[v].dtype.value for v in n.outputs)}) has no kernel in the llvm backend")
    return None


def build_module(graph: Graph, target: Target) -> tuple[Module, dict]:
    """The whole model as one LLVM module, and the manifest entries it implies."""
    why = unsupported(graph, target)
    if why:
        raise UnsupportedModelError(why)
    check_io(graph, target.name)
    graph = separate_raw_outputs(graph)
    spec = dot_spec(target)
    mod = Module(graph.name, target.triple)
    plan = plan_memory(graph)
    steps, scratch = [], 0
    for index, node in enumerate(graph.nodes):
        n_args = len(node.inputs) + len(node.outputs) + 1
        f, b = mod.function(f"node.{index}", I32, [PTR] * n_args)
        f.attributes.add("noinline")   # one symbol per node: profiles (perf) name the node's kernel
        args = list(f.args)
        k = Kernel(mod, b, node, graph, spec, args[:len(node.inputs)], args[len(node.inputs):-1], args[-1])
        scratch = max(scratch, EMITTERS[type(node.op)](k))
        b.ret(c32(0))
        steps.append((node, f))
    scratch_offset = -(-plan.workspace_bytes // ALIGN) * ALIGN
    workspace = scratch_offset + (-(-scratch // ALIGN) * ALIGN)
    emit_abi(mod, graph, steps, plan.offsets, workspace, scratch_offset, raw_forms(graph), target)
    return mod, {"workspace_bytes": workspace, "activation_bytes": plan.activation_bytes}


def _header(graph: Graph, entries: dict) -> str:
    abi = (data_dir("runtime") / "qcomp.h").read_text()
    lines = ["/* model.h: the qcomp ABI of this artifact (generated by qcomp's llvm backend).",
             f" * workspace: {entries['workspace_bytes']} bytes, aligned to QCOMP_WORKSPACE_ALIGN.",
             " * inputs:  " + "; ".join(f"{i}: {graph.types[v].dtype.value}{list(graph.types[v].shape)}"
                                        for i, v in enumerate(graph.inputs)),
             " * outputs: " + "; ".join(f"{i}: {graph.types[v].dtype.value}{list(graph.types[v].shape)}"
                                        for i, v in enumerate(graph.outputs)),
             " */", f"#define QCOMP_MODEL_WORKSPACE_SIZE {entries['workspace_bytes']}u", ""]
    return "\n".join(lines) + abi


def emit(graph: Graph, target: Target, out_dir, assembly: bool = False) -> dict:
    """Write model.ll, model.o (+ weights.bin/.S/.o), model.so, model.h (and model.s with
    assembly=True) into out_dir."""
    out = Path(out_dir)
    mod, entries = build_module(graph, target)
    text = str(mod.m)
    (out / "model.ll").write_text(text)
    compile_object(out / "model.ll", out / "model.o", target, out / "model.s" if assembly else None)
    blob = None
    if mod.blob:
        blob = out / "weights.bin"
        blob.write_bytes(bytes(mod.blob))
    objects = link_shared(out / "model.o", out / "model.so", target, blob, BLOB_SYMBOL, cpu_check_expr(target))
    (out / "model.h").write_text(_header(graph, entries))
    files = {"library": "model.so", "header": "model.h", "object": "model.o", "llvm_ir": "model.ll"}
    if blob is not None:
        files |= {"weights": "weights.bin", "weights_object": "weights.o"}
    if assembly:
        files["assembly"] = "model.s"
    if target.kind == "cross":  # a device artifact: + libmodel.a and a static runner (compile.cross_artifact)
        files |= cross_artifact(out, objects, target)
    return {"files": files, **entries}
