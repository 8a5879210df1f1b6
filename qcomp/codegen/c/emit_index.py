"""C emitters of GatherElements, GatherND, ScatterElements and ScatterND with run-time indices:
qcomp_index_gather / qcomp_index_scatter (templates/qcomp_kernels_index.c) with the addressing of
qcomp/codegen/index_plan.py as node-local arrays (base, dims, strides). Any element type moves
(bytes); a scatter's max / min reduction runs on int8 codes (passes/quantize_index.py); add and
mul are float regions, which the C targets do not run."""
from __future__ import annotations

from ...ir import DType, Graph, Node
from ...ir.ops_index import ScatterElements, ScatterND
from ...protocol import Emitter
from ..index_plan import INDEX_OPS, index_plan
from .program import Call, Ctx

_REDUCTION = {"none": 0, "max": 1, "min": 2}


def why_not_index(node: Node, graph: Graph) -> str | None:
    """Reduction none, or max / min of int8 values."""
    reduction = getattr(node.op, "reduction", "none")
    if reduction == "none":
        return None
    if reduction in _REDUCTION and graph.types[node.inputs[0]].dtype is DType.INT8:
        return None
    return (f"reduction {reduction!r} of {graph.types[node.inputs[0]].dtype.value} values: the C backend "
            f"scatters with reduction none, or max / min of int8 values")


def index(node: Node, ctx: Ctx) -> None:
    plan = index_plan(node, ctx.graph)
    data, idx, y = node.inputs[0], node.inputs[1], node.outputs[0]
    base = ctx.array(node, "base", plan.base)
    dims, strides = ctx.array(node, "dims", plan.dims), ctx.array(node, "strides", plan.strides)
    arrays = (dims, strides) if plan.constant_base else (base, dims, strides)
    common = (f"((const void *){ctx.ptr(idx, True)})", "1" if ctx.dtype(idx) is DType.INT64 else "0")
    addressing = (str(plan.rows), str(plan.k), "((const int32_t *)0)" if plan.constant_base else base.name,
                  dims.name, strides.name)
    out, src = f"((uint8_t *){ctx.ptr(y, False)})", f"((const uint8_t *){ctx.ptr(data, True)})"
    if isinstance(node.op, (ScatterElements, ScatterND)):
        upd = f"((const uint8_t *){ctx.ptr(node.inputs[2], True)})"
        args = (out, src, *common, upd, *addressing, str(plan.inner), str(ctx.elem_size(data)),
                str(ctx.graph.types[data].size), str(_REDUCTION[plan.reduction]))
        kernel = "qcomp_index_scatter"
    else:
        args = (out, src, *common, *addressing, str(plan.inner), str(ctx.elem_size(data)))
        kernel = "qcomp_index_gather"
    ctx.calls += [Call(ctx.comment(node), kernel, args, arrays=arrays, checked=True)]


TABLE = {cls: Emitter(index, why_not_index) for cls in INDEX_OPS}
