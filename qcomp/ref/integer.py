"""The integer reference interpreter: runs a TARGET-stage graph exactly as every backend must.

    outputs = run_integer(graph, {"input": x})               float in, float out
    raw     = run_integer(graph, {"input": x}, raw=True)     int8 outputs before their Dequantize

Integer ops run through integer_kernels (the arithmetic of qcomp.fixedpoint); Quantize and
Dequantize use the quant params of their int8 side; type-generic ops and float-fallback ops use
the float kernels. Results of tests against this interpreter are compared with exact equality.

The `ref` target's backend (qcomp/protocol.py): check(graph, target) lists the nodes this
interpreter cannot run (its EMITTERS table, which _run_node dispatches on); emit(graph, target,
out) writes nothing, since the ref artifact's program is the quantized graph (model.qir) the
builder writes for every target, lowered and interpreted at load.
"""
from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from .. import fixedpoint
from ..errors import QcompError
from ..ir import Graph, Node, Stage, ops
from ..ir.io_quant import output_forms
from ..protocol import Emitter, Problem, check_nodes, emitter_of, raise_problems, why_not_of
from .dynamic_rows import TABLE as ROWS_TABLE
from .fused_kernels import TABLE as FUSED_TABLE
from .integer_kernels import TABLE
from .interpreter import OnValue, call_kernel, execute, float_kernel
from .kernels import ACCEPTS, KERNELS

LOWER_HINT = "lower_integer turns Requantize into QRequantize: run it before the integer reference"


def _quantize(node: Node, graph: Graph):
    q = graph.types[node.outputs[0]].quant
    scale, zp = q.scale[0], int(q.zero_point[0])
    dtype = graph.types[node.outputs[0]].dtype.np
    lo, hi = graph.types[node.outputs[0]].dtype.qrange
    return lambda op, x: fixedpoint.quantize(x, scale, zp, lo, hi).astype(dtype)


def _why_not_quantize(node: Node, graph: Graph) -> str | None:
    """Per-tensor output quantization only."""
    q = graph.types[node.outputs[0]].quant
    return "Quantize to per-channel params is not an activation op" if q is None or q.per_channel else None


def _dequantize(node: Node, graph: Graph):
    q = graph.types[node.inputs[0]].quant
    rank = graph.types[node.inputs[0]].rank
    if q.per_channel:
        shape = [1] * rank
        shape[q.axis] = -1
        scale, zp = q.scale.reshape(shape), q.zero_point.reshape(shape)
    else:
        scale, zp = q.scale[0], q.zero_point[0]
    return lambda op, x: np.asarray(fixedpoint.dequantize(x, scale, zp), dtype=np.float32)


def _integer(node: Node, graph: Graph):
    return TABLE[type(node.op)]


def _float(node: Node, graph: Graph):
    return KERNELS[type(node.op)]


def _why_not_float(node: Node, graph: Graph) -> str | None:
    """Float input only (a float-fallback op)."""
    dtype = graph.types[node.inputs[0]].dtype
    if np.dtype(dtype.np) not in ACCEPTS[type(node.op)]:
        return f"the reference interpreter has no {node.kind} kernel for {dtype.value}"
    return None


# op -> (node, graph) -> kernel, with the preconditions: the interpreter's dispatch, check() and
# docs/ops.md read this one table. Requantize is absent: lower_integer turns it into QRequantize.
EMITTERS = {
    **{op: Emitter(_float, _why_not_float if op in ACCEPTS else None) for op in KERNELS if op is not ops.Requantize},
    **{op: _integer for op in TABLE},
    ops.Quantize: Emitter(_quantize, _why_not_quantize), ops.Dequantize: _dequantize,
}
# the fused ops of --quant dynamic graphs (ir/qops_fused.py): the unfused ops' kernels in sequence
EMITTERS.update({op: (lambda node, graph: FUSED_TABLE[type(node.op)]) for op in FUSED_TABLE})
EMITTERS.update({op: (lambda node, graph: ROWS_TABLE[type(node.op)]) for op in ROWS_TABLE})   # per-row dynamic


def check(graph: Graph, target) -> list[Problem]:
    """Every node the integer reference cannot run (the `ref` target's backend check)."""
    return check_nodes(graph, EMITTERS, "ref", lambda node, graph: LOWER_HINT if isinstance(node.op, ops.Requantize)
                       else "this is a qcomp limitation: please report it with the model")


def emit(graph: Graph, target, out_dir) -> dict:
    """Refuse a graph the reference cannot run; the artifact needs no file beyond model.qir."""
    raise_problems(check(graph, target), target)
    return {}


def _run_node(graph: Graph, node: Node, args: list[np.ndarray]) -> tuple[np.ndarray, ...]:
    if isinstance(node.op, ops.Requantize):
        raise QcompError(f"node {node.name!r}: Requantize must be lowered to QRequantize (lower_integer) "
                         f"before the integer reference runs the graph")
    entry = EMITTERS.get(type(node.op))
    if entry is None:
        kernel = float_kernel(node, args)   # raises MissingKernelError naming the node
    else:
        why = why_not_of(entry)
        if why is not None and (reason := why(node, graph)) is not None:
            raise QcompError(f"node {node.name!r}: {reason}")
        kernel = emitter_of(EMITTERS, node)(node, graph)
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
