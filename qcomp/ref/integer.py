"""The integer reference interpreter: runs a TARGET-stage graph exactly as every backend must.

    outputs = run_integer(graph, {"input": x})               float in, float out
    raw     = run_integer(graph, {"input": x}, raw=True)     int8 outputs before their Dequantize

Integer ops run through integer_kernels (the arithmetic of qcomp.fixedpoint); Quantize and
Dequantize use the quant params of their int8 side; type-generic ops and float-fallback ops use
the float kernels. Results of tests against this interpreter are compared with exact equality.

The `ref` target's backend (qcomp/protocol.py): check(graph, target) lists the nodes this
interpreter cannot run (why_not, the same test _run_node makes); emit(graph, target, out) writes
nothing, since the ref artifact's program is the quantized graph (model.qir) the builder writes
for every target, lowered and interpreted at load.
"""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from .. import fixedpoint
from ..errors import QcompError
from ..ir import Graph, Node, Stage, ops
from ..protocol import Problem, problem, raise_problems
from .integer_kernels import TABLE
from .interpreter import OnValue, call_kernel, execute, float_kernel
from .kernels import ACCEPTS, KERNELS


def why_not(node: Node, graph: Graph) -> str | None:
    """Why the integer reference cannot run `node`, or None."""
    op_type = type(node.op)
    if op_type is ops.Quantize:
        q = graph.types[node.outputs[0]].quant
        return "Quantize to per-channel params is not an activation op" if q is None or q.per_channel else None
    if op_type is ops.Dequantize or op_type in TABLE:
        return None
    if op_type is ops.Requantize:
        return "Requantize must be lowered to QRequantize (lower_integer) before the integer reference runs the graph"
    accepts = ACCEPTS.get(op_type)
    if op_type not in KERNELS:
        return f"the reference interpreter has no kernel for {node.kind}"
    if node.inputs and accepts is not None and np.dtype(graph.types[node.inputs[0]].dtype.np) not in accepts:
        return f"the reference interpreter has no {node.kind} kernel for {graph.types[node.inputs[0]].dtype.value}"
    return None


def check(graph: Graph, target) -> list[Problem]:
    """Every node the integer reference cannot run (the `ref` target's backend check)."""
    return [problem(graph, n, why, "this is a qcomp limitation: please report it with the model")
            for n in graph.nodes if (why := why_not(n, graph)) is not None]


def emit(graph: Graph, target, out_dir) -> dict:
    """Refuse a graph the reference cannot run; the artifact needs no file beyond model.qir."""
    raise_problems(check(graph, target), target)
    return {}


def _quantize(graph: Graph, node: Node):
    q = graph.types[node.outputs[0]].quant
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
    if op_type in (ops.Quantize, ops.Requantize) and (why := why_not(node, graph)) is not None:
        raise QcompError(f"node {node.name!r}: {why}")
    if op_type is ops.Quantize:
        kernel = _quantize(graph, node)
    elif op_type is ops.Dequantize:
        kernel = _dequantize(graph, node)
    elif op_type in TABLE:
        kernel = TABLE[op_type]
    else:
        kernel = float_kernel(node, args)
    return call_kernel(graph, node, args, kernel)


def run_integer(graph: Graph, feeds: Mapping[str, np.ndarray], on_value: OnValue | None = None,
                raw: bool = False) -> dict[str, np.ndarray]:
    """Run a TARGET-stage graph. With raw=True, each output produced by a Dequantize is returned
    as the int8 value before it (the artifact's `--raw` outputs)."""
    if graph.stage is not Stage.TARGET:
        raise QcompError(f"run_integer runs TARGET-stage graphs (after lower_integer), but graph "
                         f"{graph.name!r} is at stage {graph.stage.name}")
    if not raw:
        return execute(graph, feeds, on_value, _run_node)
    producers = graph.producers()
    wanted = {producers[o].inputs[0]: o for o in graph.outputs
              if o in producers and isinstance(producers[o].op, ops.Dequantize)}
    captured: dict[str, np.ndarray] = {}

    def capture(name: str, value: np.ndarray) -> None:
        if name in wanted:
            captured[wanted[name]] = value
        if on_value is not None:
            on_value(name, value)

    outs = execute(graph, feeds, capture, _run_node)
    return {o: captured.get(o, outs[o]) for o in graph.outputs}
