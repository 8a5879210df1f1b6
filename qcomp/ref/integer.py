"""The integer reference interpreter: runs a TARGET-stage graph exactly as every backend must.

    outputs = run_integer(graph, {"input": x})               float in, float out
    raw     = run_integer(graph, {"input": x}, raw=True)     int8 outputs before their Dequantize

Integer ops run through integer_kernels (the arithmetic of qcomp.fixedpoint); Quantize and
Dequantize use the quant params of their int8 side; type-generic ops and float-fallback ops use
the float kernels. Results of tests against this interpreter are compared with exact equality.
"""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from .. import fixedpoint
from ..errors import QcompError
from ..ir import Graph, Node, Stage, ops
from ..ir.io_quant import output_forms
from .integer_kernels import TABLE
from .interpreter import OnValue, call_kernel, execute, float_kernel


def _quantize(graph: Graph, node: Node):
    q = graph.types[node.outputs[0]].quant
    if q.per_channel:
        raise QcompError(f"node {node.name!r}: Quantize to per-channel params is not an activation op")
    scale, zp = q.scale[0], int(q.zero_point[0])
    dtype = graph.types[node.outputs[0]].dtype.np
    lo, hi = graph.types[node.outputs[0]].dtype.qrange
    return lambda op, x: fixedpoint.quantize(x, scale, zp, lo, hi).astype(dtype)


def _dequantize(graph: Graph, node: Node):
    q = graph.types[node.inputs[0]].quant
    rank = graph.types[node.inputs[0]].rank
    if q.per_channel:
        shape = [1] * rank
        shape[q.axis] = -1
        scale, zp = q.scale.reshape(shape), q.zero_point.reshape(shape)
    else:
        scale, zp = q.scale[0], q.zero_point[0]
    return lambda op, x: np.asarray(fixedpoint.dequantize(x, scale, zp), dtype=np.float32)


def _run_node(graph: Graph, node: Node, args: list[np.ndarray]) -> tuple[np.ndarray, ...]:
    op_type = type(node.op)
    if op_type is ops.Quantize:
        kernel = _quantize(graph, node)
    elif op_type is ops.Dequantize:
        kernel = _dequantize(graph, node)
    elif op_type in TABLE:
        kernel = TABLE[op_type]
    elif op_type is ops.Requantize:
        raise QcompError(f"node {node.name!r}: Requantize must be lowered to QRequantize (lower_integer) "
                         f"before the integer reference runs the graph")
    else:
        kernel = float_kernel(node, args)
    return call_kernel(graph, node, args, kernel)


def run_integer(graph: Graph, feeds: Mapping[str, np.ndarray], on_value: OnValue | None = None,
                raw: bool = False) -> dict[str, np.ndarray]:
    """Run a TARGET-stage graph. With raw=True, each output in its int8 form (qcomp.ir.io_quant: the
    int8 value before the Dequantize that writes it); an output without one comes back unchanged
    (the artifact's `--raw` contract, qcomp.artifact.Artifact.run)."""
    if graph.stage is not Stage.TARGET:
        raise QcompError(f"run_integer runs TARGET-stage graphs (after lower_integer), but graph "
                         f"{graph.name!r} is at stage {graph.stage.name}")
    if not raw:
        return execute(graph, feeds, on_value, _run_node)
    # the int8 value each Dequantize-written output comes from; other outputs come back unchanged
    wanted = {o: f.node.inputs[0] for o, f in output_forms(graph).items() if f is not None and f.node is not None}
    sources = set(wanted.values())
    captured: dict[str, np.ndarray] = {}

    def capture(name: str, value: np.ndarray) -> None:
        if name in sources:
            captured[name] = value
        if on_value is not None:
            on_value(name, value)

    outs = execute(graph, feeds, capture, _run_node)
    return {o: captured[wanted[o]] if o in wanted else outs[o] for o in graph.outputs}
