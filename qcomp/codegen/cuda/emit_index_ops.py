"""CUDA emitters of GatherElements, GatherND, ScatterElements and ScatterND with run-time indices
(templates/index.cu.j2), with the addressing of qcomp/codegen/index_plan.py. Gathers: one thread
per output element. Scatters: one thread per position inside a row (I threads), each applying the
rows in order, so repeated indices combine in the reference's order and no two threads write one
element. An index out of range sets the run's status word (the runner raises InputError)."""
from __future__ import annotations

import math

from ... import abi
from ...ir import DType, Node
from ...ir.ops_index import ScatterElements, ScatterND
from ...protocol import Emitter
from ..index_plan import INDEX_OPS, index_plan
from .context import BLOCK, Arg, Context, grid_1d


def why_not_index(node: Node, graph) -> str | None:
    """Reduction none (any type), max / min of int8 or float32, add / mul of float32."""
    reduction = getattr(node.op, "reduction", "none")
    dtype = graph.types[node.inputs[0]].dtype
    if reduction == "none" or (reduction in ("max", "min") and dtype in (DType.INT8, DType.FLOAT32)) \
            or (reduction in ("add", "mul") and dtype is DType.FLOAT32):
        return None
    return f"reduction {reduction!r} of {dtype.value} values: the cuda backend combines int8 with max / min, " \
           f"float32 with add / mul / max / min"


def index(node: Node, ctx: Context) -> None:
    g = ctx.graph
    plan = index_plan(node, g)
    data, idx, y = ctx.value(node.inputs[0]), ctx.value(node.inputs[1]), ctx.value(node.outputs[0])
    base = ctx.add_weight(plan.base if not plan.constant_base else plan.base[:1])
    status = Arg("status", 0, "int32_t")
    scatter = isinstance(node.op, (ScatterElements, ScatterND))
    total = plan.inner if scatter else plan.rows * plan.inner
    name = ctx.kernel_name(node)
    src = ctx.env.get_template("index.cu.j2").render(
        kind="index_scatter" if scatter else "index_gather", name=name, node=ctx.comment(node), op=node.kind,
        total=total, inner=plan.inner, rows=plan.rows, k=plan.k, axes=list(zip(plan.dims, plan.strides)),
        base=not plan.constant_base, size=math.prod(g.types[node.inputs[0]].shape), reduction=plan.reduction,
        ctype=data.ctype, itype=idx.ctype, bad_input=abi.STATUS_OF["QCOMP_ERR_BAD_INPUT"])
    args = [data, idx, ctx.value(node.inputs[2]), base, y, status] if scatter else [data, idx, base, y, status]
    ctx.add(node, name, src, grid_1d(total), (BLOCK, 1, 1), args)


EMITTERS = {cls: Emitter(index, why_not_index) for cls in INDEX_OPS}
