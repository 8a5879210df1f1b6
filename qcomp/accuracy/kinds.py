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

Cost model (`raise_cost`), in int8-MAC equivalents, the work added over the int8 build:

    cost(T, kind) = sum over the nodes N that compute at the wider type of  work(N) * (f[kind] - 1)
    work(N)       = MACs of N (Conv, Dense, MatMul), else the elements of N's output (one op each)

The nodes at the wider type are T's readers for int16 (A16W8: the producer keeps int8 operands and
only writes int16) and the whole float region for float. f[kind] is the MACs an int8 instruction
does over the MACs the wider one does, on the target's widest vector unit:

    x86 (llvm, AVX-512 VNNI): VPDPBUSD 64 int8 MACs, VPDPWSSD 32 int16, VFMADD231PS 16 float32:  f = 2, 4
    aarch64 (llvm): SDOT 16 int8 MACs per 128 bits, SMLAL/SMLAL2 8 int16 per pair, FMLA 4 float32:   f = 2, 4
    cuda: __dp4a 4 int8 MACs per lane, __dp2a 2 int16, FFMA 1 float32:                            f = 2, 4
    ref (the interpreter): the x86 factors, so its choices match the x86-vnni build

so float always costs more than int16 (f_float > f_int16), and among tensors of one kind the
cost orders them by the work at the wider type. Targets with integer kernels only (the C backend:
dsp-c, cortex-m*) offer no float; they offer int16 once their backend implements it.
"""
from __future__ import annotations

from ..ir import DType, Graph, Node
from ..ir.stats import node_macs
from ..passes.precision import NO_FLOAT_BACKENDS
from ..passes.quantize import QuantOptions, int8_mode

# f[kind]: int8 MACs per instruction / MACs per instruction at the wider kind (module docstring)
COST_FACTORS = {"int16": 2.0, "float": 4.0}
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


def _work(gf: Graph, n: Node) -> int:
    macs = node_macs(gf, n)
    return int(macs) if macs else int(sum(gf.types[o].size for o in n.outputs))


def raise_cost(gf: Graph, tensor: str, kind: str) -> int:
    """Work added by raising `tensor` to `kind`, in int8-MAC equivalents (module docstring)."""
    nodes = {n.name: n for n in gf.nodes}
    if kind == "float":
        wider = [nodes[name] for name in float_region(gf, tensor)]
    else:
        wider = readers(gf).get(tensor, [])
    return int(round(sum(_work(gf, n) for n in wider) * (COST_FACTORS[kind] - 1.0)))
