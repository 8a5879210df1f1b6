"""The verifier: the invariants of each IR stage, checked after import and after every pass.

All stages:
  - names are unique; every node input is a graph input, a constant or an earlier node's output
    (topological order); graph outputs exist; every value has a type;
  - a constant's array matches its type (shape and dtype) and is read-only;
  - each node has its op's input arity and output count, and its declared output types have the
    shapes and dtypes its op infers.
FLOAT: no value carries quant params; no Quantize/Dequantize/Requantize nodes.
QUANTIZED and TARGET: every int8/uint8 value produced or consumed by an integer op carries quant
params; Quantize reads float and writes a quantized integer value; Dequantize reads a quantized
integer value.
TARGET: no arithmetic op of the float op set produces int8: each was lowered to its integer op.
A memory plan (plan_memory, the last TARGET pass) is allowed at TARGET stage only; when present it
must be a valid plan of the graph (memory.plan_errors: an aligned offset inside the workspace for
every workspace value, no two values alive together sharing a byte, views only along Reshapes).
"""
from __future__ import annotations

from .graph import Graph, Stage
from . import ops
from .memory import plan_errors
from .ops import Dequantize, Quantize, Requantize, output_count
from .types import DType, IRError, tensor_type_of

_QUANT_OPS = (Quantize, Dequantize, Requantize)
# ops whose integer arithmetic is only defined by their TARGET-stage lowering (qcomp/ir/qops.py)
# int8 Min / Max compare int8 values directly: their operands carry the output's params
_SHARED_PARAMS = (ops.Min, ops.Max)
_NEEDS_LOWERING = (ops.Conv2D, ops.ConvTranspose2D, ops.Dense, ops.MatMul, ops.Add, ops.Sub, ops.Mul,
                   ops.AvgPool2D, ops.ReduceMean, Requantize, ops.Relu, ops.Clip, ops.Sigmoid, ops.Tanh,
                   ops.Softmax)


def verify(g: Graph) -> Graph:
    """Raise IRError naming the first broken invariant; return the graph unchanged otherwise."""
    errs = verify_all(g)
    if errs:
        more = f" (and {len(errs) - 1} more)" if len(errs) > 1 else ""
        raise IRError(f"{g.stage.name} graph {g.name!r}: {errs[0]}{more}")
    return g


def verify_all(g: Graph) -> list[str]:
    errs: list[str] = []
    defined: set[str] = set()
    for name in g.inputs:
        if name not in g.types:
            errs.append(f"graph input {name!r} has no type")
        defined.add(name)
    for name, arr in g.constants.items():
        t = g.types.get(name)
        if t is None:
            errs.append(f"constant {name!r} has no type")
            continue
        if arr.flags.writeable:
            errs.append(f"constant {name!r} is writeable (constants are shared between graphs)")
        want = tensor_type_of(arr)
        if want.shape != t.shape or want.dtype != t.dtype:
            errs.append(f"constant {name!r} holds {want} but is typed {t}")
        if name in defined:
            errs.append(f"constant {name!r} is also a graph input")
        defined.add(name)
    node_names: set[str] = set()
    for n in g.nodes:
        where = f"node {n.name!r} ({n.kind})"
        if n.name in node_names:
            errs.append(f"{where}: duplicate node name")
        node_names.add(n.name)
        if n.op.arity is not None and len(n.inputs) != n.op.arity:
            errs.append(f"{where}: {len(n.inputs)} inputs, the op takes {n.op.arity}")
            continue
        if len(n.outputs) != output_count(n.op):
            errs.append(f"{where}: {len(n.outputs)} outputs, the op makes {output_count(n.op)}")
            continue
        missing = [i for i in n.inputs if i not in defined]
        if missing:
            errs.append(f"{where}: input {missing[0]!r} is not defined before it (order or name)")
            continue
        for o in n.outputs:
            if o in defined:
                errs.append(f"{where}: output {o!r} is defined twice")
            if o not in g.types:
                errs.append(f"{where}: output {o!r} has no type")
            defined.add(o)
        if any(o not in g.types for o in n.outputs):
            continue
        try:
            inferred = n.op.infer([g.types[i] for i in n.inputs])
        except IRError as e:
            errs.append(f"{where}: {e}")
            continue
        for o, t in zip(n.outputs, inferred):
            have = g.types[o]
            if have.shape != t.shape or have.dtype != t.dtype:
                errs.append(f"{where}: output {o!r} is typed {have} but the op gives {t}")
        errs.extend(_stage_errors(g, n, where))
    for o in g.outputs:
        if o not in defined:
            errs.append(f"graph output {o!r} is not defined")
    if g.stage is Stage.FLOAT:
        for name, t in g.types.items():
            if t.quant is not None:
                errs.append(f"value {name!r} carries quant params in a FLOAT graph")
                break
    if g.memory is not None:
        if g.stage is not Stage.TARGET:
            errs.append(f"a {g.stage.name} graph carries a memory plan (plan_memory runs at TARGET stage)")
        elif not errs:
            errs.extend(plan_errors(g, g.memory))
    return errs


def _stage_errors(g: Graph, n, where: str) -> list[str]:
    errs = []
    if g.stage is Stage.FLOAT:
        if isinstance(n.op, _QUANT_OPS):
            errs.append(f"{where}: quantization op in a FLOAT graph")
        return errs
    ins = [g.types[i] for i in n.inputs]
    outs = [g.types[o] for o in n.outputs]
    for name, t in list(zip(n.inputs, ins)) + list(zip(n.outputs, outs)):
        if t.dtype in (DType.INT8, DType.UINT8) and t.quant is None:
            errs.append(f"{where}: {t.dtype.value} value {name!r} has no quant params")
    if isinstance(n.op, Quantize) and outs[0].quant is None:
        errs.append(f"{where}: Quantize output has no quant params")
    if isinstance(n.op, (Dequantize, Requantize)) and ins[0].quant is None:
        errs.append(f"{where}: input has no quant params")
    if isinstance(n.op, _SHARED_PARAMS) and outs[0].quant is not None and any(t.quant != outs[0].quant for t in ins):
        errs.append(f"{where}: the int8 operands of {n.kind} must share its output's quant params (quantize "
                    f"requantizes them)")
    if g.stage is Stage.TARGET and isinstance(n.op, _NEEDS_LOWERING) and \
            any(t.dtype in (DType.INT8, DType.UINT8) for t in outs):
        errs.append(f"{where}: a quantized {n.kind} must be lowered to its integer op (lower_integer) "
                    f"in a TARGET graph")
    return errs
