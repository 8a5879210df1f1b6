"""The LLVM backend: a TARGET graph -> one LLVM module -> model.o -> model.so with the qcomp.h ABI.

    check(graph, target) -> [Problem]      every node it cannot emit (qcomp/protocol.py)
    emit(graph, target, out_dir, *, assembly=False) -> manifest entries {"files", "workspace_bytes", ...}

One internal function per node (returning a qcomp_status), from a table op class -> emitter
(EMITTERS, with the emitters' preconditions as why_not hooks); emit refuses a graph check() finds
problems in with one UnsupportedModelError naming the target and every such node. The target's
data (triple, cpu, features, [dot] instruction, activation offset, vector width: isa.py) decide
every difference between targets, so x86 VNNI and AArch64 SDOT share this code. Memory: the
intermediate values at the offsets of the graph's memory plan (graph.memory, qcomp.passes.plan_memory),
then the kernels' scratch, in one workspace. A Reshape the plan makes a view gets no node function
and no call: its output's pointer is its input's (abi.py).

Coverage: Quantize, Dequantize (per tensor or per channel), QConv2D (grouped; depthwise has its own
kernel), QConvTranspose2D, QDense, QMatMul, QAdd, QSub, QMul, Lut, QRequantize, MaxPool2D, QAvgPool2D,
QMean, QSoftmax, QLayerNorm, ReduceMax, Reshape, Transpose, Slice, Split, Pad, Concat, Resize (nearest: any dtype; linear:
float32), Gather (constant or run-time indices), DynamicDense, DynamicMatMul, and the float-fallback
ops (float32): Cast, LayerNorm, Softmax, Erf, Add/Sub/Mul/Div/Pow/PRelu, Relu, Clip, LeakyRelu,
HardSigmoid, HardSwish, Sigmoid, Tanh, Exp, Sqrt, Gelu, BatchNorm, MaxPool2D, AvgPool2D, ReduceMean,
ReduceMax, Dense, MatMul and Conv2D, the math ops of kernels_math.py (Elu ... Shrink on float32; Min,
Max on float32 and integers, int8 included; Mod on float32 and integers). Not covered (UnsupportedModelError at build, naming the node):
float ConvTranspose2D, float16 or integer tensors in float-only ops, Cast other than integer ->
float32. Files: kernels_dot.py (dot-instruction kernels: the GEMM plan and emit_dot; kernels_tile.py: the
GEMM micro-kernel; kernels_neon.py and kernels_mmla.py: the
arm-neon dot step and the arm-i8mm SMMLA micro-kernel; kernels_qmatmul.py: QMatMul and DynamicMatMul
on them; kernels_dynamic_dense.py: DynamicDense), kernels_depthwise.py (depthwise QConv2D),
kernels_elem.py (elementwise, pooling, movement; kernels_runs.py: movement without index tables;
kernels_parallel.py: serial loops in pool jobs), kernels_elem_vec.py and kernels_softmax_vec.py (int8
QAdd/QSub/QMul/QRequantize and QSoftmax as vector loops), kernels_float.py (float regions of token models;
kernels_float_vec.py and vecmath.py: their LayerNorm, Softmax, Erf, Add/Sub/Mul/Div vectorized and threaded;
kernels_layernorm_vec.py: the LayerNorm row pass),
kernels_fallback.py, kernels_products.py and kernels_math.py (the other float-fallback ops),
kernels_logic.py (comparison, logic, Where, ReduceSum/Min/Prod, ArgMax/ArgMin, CumSum),
kernels_softmax.py (integer Softmax), kernels_norm.py (integer LayerNorm), tables.py (index maps), irgen.py (IR helpers and the fixed-point
spec in IR), abi.py (qcomp.h), profile.py (its per-node profiler), compile.py (child-process compile,
link; split.py: a large module in parts compiled at once), dots.py (the dot step per instruction),
isa.py and cpucheck.py (target data). Kernels shared by the nodes of one shape class
(irgen.Module.shared): kernels_tile.shared_tile, kernels_requantize.py (the micro-kernels' requantize
and store), the depthwise row kernels.
A16W8 (int16 activations): every qops16 op, kernels16.py (scalar loops) and kernels16_dot.py
(QConv2D16 / QDense16 on VPDPWSSD, VPMADDWD or SMLAL; depthwise: kernels16_dw.py; QMatMul16 on the
same steps: kernels16_matmul.py; QAdd16 / QSub16 / QMul16, QConvert, Lut16 as vector loops:
kernels16_elem.py); MaxPool2D,
ReduceMax and the movement ops take int16 values too.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from llvmlite import ir

from ...abi import align
from ...errors import UnsupportedModelError
from ...ir import Graph, Node, ops, qops, qops16
from ...resources import data_dir
from ...target import Target
from ...protocol import Emitter, Problem, check_nodes, emitter_of, raise_problems
from ..memory import planned
from .strided import why_not_strided_output
from . import kernels_logic
from . import (kernels_dot, kernels_elem, kernels_fallback, kernels_float, kernels_math, kernels_products,
               kernels_select, kernels_softmax)
from . import kernels_qmatmul
from . import kernels_float_vec
from . import kernels_residual
from . import kernels_dynamic_dense
from . import kernels_norm
from ...ir.qops_norm import QLayerNorm
from . import kernels16, kernels16_dot
from . import kernels_norm16
from ...ir.qops_norm16 import QLayerNorm16
from . import kernels16_softmax
from . import kernels16_elem, kernels16_matmul
from . import kernels_dynamic_fused
from . import kernels_dynamic_rows
from ...ir import qops_fused
from ...ir import qops_rows
from ..names import CNames
from .abi import check_io, emit_abi, raw_forms, separate_raw_outputs
from .compile import compile_object, cross_artifact, link_shared
from .cpucheck import cpu_check_expr
from .irgen import BLOB_SYMBOL, I32, PTR, Module, c32
from .isa import DotSpec, dot_spec

EMITTERS = {
    qops.QConv2D: kernels_dot.emit_dot, qops.QConvTranspose2D: kernels_dot.emit_dot,
    qops.QDense: kernels_dot.emit_dot, qops.QMatMul: Emitter(kernels_qmatmul.emit_qmatmul, kernels_dot.why_not_matmul),
    ops.Quantize: Emitter(kernels_elem.emit_quantize, kernels_elem.why_not_quantize),
    ops.Dequantize: Emitter(kernels_elem.emit_dequantize, kernels_elem.why_not_dequantize),
    qops.Lut: kernels_elem.emit_lut, qops.QRequantize: kernels_elem.emit_requantize,
    qops.QSoftmax: kernels_softmax.emit_softmax,
    qops.QAdd: kernels_elem.emit_add_sub, qops.QSub: kernels_elem.emit_add_sub, qops.QMul: kernels_elem.emit_mul,
    ops.MaxPool2D: Emitter(kernels_elem.emit_maxpool, kernels_elem.why_not_int8_or_float),
    qops.QAvgPool2D: Emitter(kernels_elem.emit_avgpool, kernels_elem.why_not_avgpool),
    qops.QMean: Emitter(kernels_elem.emit_mean, kernels_elem.why_not_mean),
    ops.ReduceMax: Emitter(kernels_elem.emit_reduce_max, kernels_elem.why_not_int8_or_float),
    **{cls: kernels_elem.emit_movement for cls in (ops.Reshape, ops.Transpose, ops.Slice, ops.Split, ops.Pad,
                                                   ops.Concat)},
    ops.Gather: Emitter(kernels_elem.emit_gather, kernels_float.why_not_gather),
    ops.Cast: Emitter(kernels_float.emit_cast, kernels_float.why_not_cast),
    ops.LayerNorm: Emitter(kernels_float.emit_layer_norm, kernels_float.why_not_layer_norm),
    ops.Softmax: Emitter(kernels_float.emit_softmax, kernels_float.why_not_float_input),
    qops.DynamicDense: Emitter(kernels_dynamic_dense.emit_dynamic_dense, kernels_float.why_not_dynamic_dense),
    qops.DynamicMatMul: Emitter(kernels_qmatmul.emit_dynamic_matmul, kernels_float.why_not_dynamic_matmul),
    **{cls: Emitter(kernels_float.emit_float_binary, kernels_float.why_not_float_binary)
       for cls in (ops.Add, ops.Sub, ops.Mul, ops.Div, ops.Pow, ops.PRelu)},
    ops.Erf: Emitter(kernels_float.emit_erf, kernels_float.why_not_float_input),
    qops.QConv2DAdd: kernels_residual.emit_conv_add,
    ops.Resize: Emitter(kernels_fallback.emit_resize, kernels_fallback.why_not_resize),
    **{cls: Emitter(kernels_fallback.emit_unary, kernels_fallback.why_not_float) for cls in kernels_fallback.UNARY},
    ops.BatchNorm: Emitter(kernels_fallback.emit_batch_norm, kernels_fallback.why_not_batch_norm),
    ops.AvgPool2D: Emitter(kernels_fallback.emit_avgpool, kernels_fallback.why_not_float),
    ops.ReduceMean: Emitter(kernels_fallback.emit_reduce, kernels_fallback.why_not_float),
    ops.Dense: Emitter(kernels_products.emit_dense, kernels_fallback.why_not_float),
    ops.MatMul: Emitter(kernels_products.emit_matmul, kernels_fallback.why_not_float),
    ops.Conv2D: Emitter(kernels_products.emit_conv, kernels_fallback.why_not_float),
    **{cls: Emitter(kernels_math.emit_unary, kernels_fallback.why_not_float) for cls in kernels_math.UNARY},
    **{cls: Emitter(kernels_math.emit_binary, kernels_math.why_not_binary) for cls in (ops.Min, ops.Max, ops.Mod)},
}
# comparison, logic, Where, ReduceSum/Min/Prod, ArgMax/ArgMin, CumSum: kernels_logic.py
EMITTERS.update(kernels_logic.EMITTERS)
EMITTERS[ops.TopK] = Emitter(kernels_select.emit_topk, kernels_select.why_not_topk)   # selection
# the float parts of token models, vectorized and threaded (kernels_float_vec.py; the shapes they do
# not take fall back to kernels_float's loops inside them)
EMITTERS.update({
    ops.LayerNorm: Emitter(kernels_float_vec.emit_layer_norm, kernels_float.why_not_layer_norm),
    ops.Softmax: Emitter(kernels_float_vec.emit_softmax, kernels_float.why_not_float_input),
    ops.Erf: Emitter(kernels_float_vec.emit_erf, kernels_float.why_not_float_input),
    **{cls: Emitter(kernels_float_vec.emit_binary, kernels_float.why_not_float_binary)
       for cls in (ops.Add, ops.Sub, ops.Mul, ops.Div)},
})
# integer LayerNorm (kernels_norm.py)
EMITTERS[QLayerNorm] = Emitter(kernels_norm.emit_layer_norm, kernels_norm.why_not_layer_norm)
# A16W8 (int16 activations, qcomp/ir/qops16.py): kernels16.py, the dot products in kernels16_dot.py
EMITTERS.update({
    **{cls: Emitter(kernels16_dot.emit_dot16, kernels16.why_not_dot16) for cls in (qops16.QConv2D16, qops16.QDense16)},
    qops16.QMatMul16: Emitter(kernels16_matmul.emit_matmul16, kernels16.why_not_matmul16),
    qops16.QAdd16: kernels16_elem.emit_add_sub16, qops16.QSub16: kernels16_elem.emit_add_sub16,
    qops16.QMul16: kernels16_elem.emit_mul16, qops16.QConvert: kernels16_elem.emit_convert,
    qops16.Lut16: kernels16_elem.emit_lut16,
    qops16.QAvgPool2D16: Emitter(kernels16.emit_avgpool16, kernels16.why_not_avgpool16),
    qops16.QMean16: Emitter(kernels16.emit_mean16, kernels16.why_not_mean16),
})
EMITTERS[qops16.QSoftmax16] = Emitter(kernels16_softmax.emit_softmax16, kernels16_softmax.why_not_softmax16)   # int16 Softmax
# int16 Softmax along the last axis as vector loops (kernels16_softmax_vec.py; other axes: the scalar loops)
from . import kernels16_softmax_vec  # noqa: E402
EMITTERS[qops16.QSoftmax16] = Emitter(kernels16_softmax_vec.emit_softmax16, kernels16_softmax.why_not_softmax16)

# int8 Softmax along the last axis as vector loops over a 256-entry exp table (kernels_softmax_vec.py;
# other axes: kernels_softmax's scalar loops)
from . import kernels_softmax_vec  # noqa: E402
EMITTERS[qops.QSoftmax] = kernels_softmax_vec.emit_softmax

# int8 QAdd / QSub / QMul / QRequantize as vector loops where the broadcast is full, scalar or a
# trailing block (kernels_elem_vec.py; other broadcasts: kernels_elem's scalar loops)
from . import kernels_elem_vec  # noqa: E402
EMITTERS.update({qops.QAdd: kernels_elem_vec.emit_add_sub, qops.QSub: kernels_elem_vec.emit_add_sub,
                 qops.QMul: kernels_elem_vec.emit_mul, qops.QRequantize: kernels_elem_vec.emit_requantize})

# integer LayerNorm on int16 (kernels_norm16.py)
EMITTERS[QLayerNorm16] = Emitter(kernels_norm16.emit_layer_norm16, kernels_norm16.why_not_layer_norm16)

# the fused ops of --quant dynamic (ir/qops_fused.py, passes/fuse_dynamic.py): DynamicDense's GEMM, the chain in its epilogue
EMITTERS[qops_fused.DynamicDenseGelu] = Emitter(kernels_dynamic_fused.emit_dynamic_dense_gelu,
                                                kernels_float.why_not_dynamic_dense)
EMITTERS[qops_fused.DynamicDenseAddNorm] = Emitter(kernels_dynamic_fused.emit_dynamic_dense_add_norm,
                                                   kernels_float.why_not_dynamic_dense)
# attention's scores, DynamicMatMul * scale + mask (passes/fuse_dynamic_attention.py): the two steps in its epilogue
EMITTERS[qops_fused.DynamicMatMulScaleAdd] = Emitter(kernels_dynamic_fused.emit_dynamic_matmul_scale_add,
                                                     kernels_dynamic_fused.why_not_dynamic_matmul_scale_add)
# attention's core, head split to head merge (passes/fuse_attention.py): per head, scores, Softmax, P V (kernels_attention.py)
from . import kernels_attention  # noqa: E402

EMITTERS[qops_fused.DynamicAttention] = Emitter(kernels_attention.emit_dynamic_attention,
                                                kernels_attention.why_not_dynamic_attention)
# --quant dynamic --dynamic-granularity row (ir/qops_rows.py): the row's quantize in the pack, zp[r] in the epilogue
EMITTERS[qops_rows.DynamicDenseRows] = Emitter(kernels_dynamic_rows.emit_dynamic_dense_rows,
                                               kernels_float.why_not_dynamic_dense)
# an integer tensor (attention mask) to int8 through a table (ir/qops_intlut.py, passes/lower_int_boundary.py)
from . import kernels_intlut  # noqa: E402

EMITTERS.update(kernels_intlut.EMITTERS)
# GatherElements, GatherND, ScatterElements, ScatterND with run-time indices (kernels_index.py)
from . import kernels_index  # noqa: E402

EMITTERS.update(kernels_index.EMITTERS)
# DynamicDense of one activation merged (ir/qops_split.py, passes/share_dynamic_input.py): one quantize of x
from . import kernels_dynamic_split  # noqa: E402

EMITTERS[qops_fused.DynamicDenseSplit] = Emitter(kernels_dynamic_split.emit_dynamic_dense_split,
                                                 kernels_dynamic_split.why_not_dynamic_dense_split)
# Lut as vector table lookups where the ISA has a variable permute (kernels_lut_vec.py: VPERMT2W, TBL)
from . import kernels_lut_vec  # noqa: E402

EMITTERS[qops.Lut] = kernels_lut_vec.emit_lut


@dataclass
class Kernel:
    """The context of one node's emitter (`emit_x(node, k)`): the module, a builder inside the
    node's function, the pointers of the node's inputs and outputs, and its scratch (after the
    planned values, 64-byte aligned); the emitter reports the scratch bytes it uses with reserve()."""
    mod: Module
    b: ir.IRBuilder
    node: Node
    graph: Graph
    spec: DotSpec
    ins: list
    outs: list
    scratch: ir.Value
    scratch_bytes: int = 0

    def reserve(self, nbytes: int) -> None:
        """The emitter uses scratch[0, nbytes)."""
        self.scratch_bytes = max(self.scratch_bytes, int(nbytes))


def check(graph: Graph, target: Target) -> list[Problem]:
    """Every node the llvm backend cannot emit for `target` (an empty list: it can build `graph`),
    and the graph inputs/outputs the qcomp.h ABI cannot carry."""
    problems = check_nodes(graph, EMITTERS, "llvm")
    try:
        check_io(graph, target.name)
    except UnsupportedModelError as e:
        problems.append(Problem("(graph I/O)", "-", "-", str(e), "change the model's inputs and outputs"))
    return problems


def build_module(graph: Graph, target: Target) -> tuple[Module, dict]:
    """The whole model as one LLVM module, and the manifest entries it implies."""
    raise_problems(check(graph, target), target)
    separated = separate_raw_outputs(graph)
    if separated is not graph:   # new workspace values, which a plan made before does not cover: plan again
        separated.memory = None
    graph = separated
    spec = dot_spec(target)
    mod = Module(CNames().ident("model", graph.name), target.triple)
    graph = planned(graph, strided=why_not_strided_output)   # strided Concat slices: strided.py
    plan = graph.memory
    steps, scratch = [], 0
    for index, node in enumerate(graph.nodes):
        if plan.is_view(node):
            continue
        n_args = len(node.inputs) + len(node.outputs) + 1
        f, b = mod.function(f"node.{index}", I32, [PTR] * n_args)
        f.attributes.add("noinline")   # one symbol per node: profiles (perf) name the node's kernel
        args = list(f.args)
        k = Kernel(mod, b, node, graph, spec, args[:len(node.inputs)], args[len(node.inputs):-1], args[-1])
        emitter_of(EMITTERS, node)(node, k)
        scratch = max(scratch, k.scratch_bytes)
        b.ret(c32(0))
        steps.append((node, f))
    scratch_offset = align(plan.workspace_bytes)
    workspace = scratch_offset + align(scratch)
    emit_abi(mod, graph, steps, plan, workspace, scratch_offset, raw_forms(graph), target)
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


def emit(graph: Graph, target: Target, out_dir, *, assembly: bool = False) -> dict:
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
