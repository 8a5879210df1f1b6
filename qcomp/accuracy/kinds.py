"""Which precisions a tensor can be raised to on a target, what a raise names, and what it costs.

Raise kinds, cheapest first (`available_raise_kinds`):
- `int16`: the tensor T is an int16 activation (A16W8, qcomp/fixedpoint/int16.py); its producer
  requantizes to int16, its consumers read int16 with int8 weights. Expressed as `--precision T=int16`.
- `float`: a float region around T: T's producer and T's readers compute in float, so T is never
  put on a grid. The readers are followed through the ops that keep their input's grid or stretch it
  over several inputs (MaxPool, Reshape, Transpose, Slice, Concat, ...: quantize's "same" and
  "concat" modes), whose output would otherwise be quantized again on T's range. Expressed as one
  `--precision NODE=float` per node of the region. (`--precision T=float` alone floats only T's
  producer: its float result is quantized again for int8 readers, on the same range, and the
  error of T's grid stays.)

Cost (`raise_cost`, accuracy/costs.py): the time the raise adds on the target, in int8-MAC
equivalents, from factors per op class and precision measured on x86-vnni: the nodes at the wider
type are T's readers for int16 (A16W8: the producer keeps int8 operands and only writes int16) and
the whole float region for float. `choice_cost` is the same for a whole --precision choice.

Targets with integer kernels only (the C backend: dsp-c, cortex-m*) offer no float; they offer
int16 once their backend implements it.
"""
from __future__ import annotations

from ..ir import DType, Graph
from ..passes.precision import NO_FLOAT_BACKENDS
from ..passes.quantize import QuantOptions, int8_mode
from .costs import CostModel, node_work  # noqa: F401  (node_work: re-exported for benchmarks)

PASS_THROUGH_MODES = ("same", "concat")   # quantize modes whose output grid is the input's (or wider)


def available_raise_kinds(target) -> tuple[str, ...]:
    """The kinds a tensor can be raised to on `target`, cheapest first ((), on a target with int8 only)."""
    kinds: list[str] = []
    if has_int16_kernels(target):   # A16W8: the backend emits every op of qcomp/ir/qops16.py
        kinds.append("int16")
    if target.backend not in NO_FLOAT_BACKENDS:
        kinds.append("float")
    return tuple(kinds)


def has_int16_kernels(target) -> bool:
    """True when the target's backend has an emitter for every A16W8 op (the reference always has)."""
    from ..ir.qops16 import INTEGER16_OPS
    from ..protocol import backend_module
    table = getattr(backend_module(target.backend), "EMITTERS", {})
    return all(cls in table for cls in INTEGER16_OPS.values())


def resolve_target(name: str):
    """The Target of a --target name (native: the one `qcomp build` would choose on this host)."""
    from ..target import NATIVE, get_target, native_choice
    return native_choice()[0] if name == NATIVE else get_target(name)


def readers(g: Graph) -> dict[str, list[Node]]:
    """value -> the nodes reading it, in graph order."""
    out: dict[str, list[Node]] = {}
    for n in g.nodes:
        for v in dict.fromkeys(n.inputs):
            out.setdefault(v, []).append(n)
    return out


def candidates(gf: Graph, q: Graph, precision: dict[str, str]) -> tuple[str, ...]:
    """The activation tensors of the FLOAT graph `gf` that are int8 in its default quantization `q`:
    the graph inputs read by an int8 node and the first output of every node computing in int8
    (quantize keeps the node names), in graph order. Tensors whose producer the user named in
    --precision (a kind chosen already) are left out."""
    int8_nodes = {n.name for n in q.nodes if n.outputs and q.types[n.outputs[0]].dtype is DType.INT8}
    quantized_inputs = {n.inputs[0] for n in q.nodes if n.kind == "Quantize"}
    named = set(precision)
    out = [v for v in gf.inputs if v in quantized_inputs and v not in named]
    for n in gf.nodes:
        if n.name in int8_nodes and n.name not in named and n.outputs[0] not in named:
            out.append(n.outputs[0])
    return tuple(out)


def float_region(gf: Graph, tensor: str) -> tuple[str, ...]:
    """Node names of the float region that keeps `tensor` off any grid (module docstring), in graph order."""
    producer = {v: n for n in gf.nodes for v in n.outputs}
    reads = readers(gf)
    options = QuantOptions()
    region: set[str] = set()
    if tensor in producer:
        region.add(producer[tensor].name)
    todo = [tensor]
    while todo:
        v = todo.pop()
        for n in reads.get(v, ()):
            if n.name in region:
                continue
            region.add(n.name)
            if int8_mode(gf, n, options) in PASS_THROUGH_MODES:
                todo.extend(n.outputs)
    return tuple(n.name for n in gf.nodes if n.name in region)


def raise_entries(gf: Graph, tensor: str, kind: str) -> dict[str, str]:
    """The --precision entries (NAME -> kind) that raise `tensor` to `kind`."""
    if kind == "float":
        return {name: "float" for name in float_region(gf, tensor)}
    return {tensor: kind}


def raise_cost(gf: Graph, tensor: str, kind: str, model: CostModel | None = None) -> int:
    """Time added by raising `tensor` to `kind`, in int8-MAC equivalents (accuracy/costs.py; `model`:
    the target's, x86-vnni's when None)."""
    model = model or CostModel(gf)
    if kind == "float":
        return int(round(model.cost(float_region(gf, tensor), ())))
    return int(round(model.cost((), (n.name for n in readers(gf).get(tensor, [])))))


def choice_cost(gf: Graph, precision: dict[str, str], model: CostModel) -> float:
    """cost(set) of a --precision choice (NAME -> kind, tensors or nodes of `gf`; accuracy/costs.py)."""
    producer = {n.name: n for n in gf.nodes}
    floated = {name for name, kind in precision.items() if kind == "float" and name in producer}
    wide: set[str] = set()
    for name, kind in precision.items():
        if kind == "int16":
            wide.update(producer[name].outputs if name in producer else (name,))
    reads = readers(gf)
    return model.cost(floated, (n.name for v in wide for n in reads.get(v, ())))
