"""The dsp-c program: one kernel call per node, every argument a precomputed integer or a C name.

A `Call` is what the templates print: `kernel(args...);` plus the node-local constant arrays and
parameter structs it reads (static const in model.c). `Ctx` gives each value its C pointer:

  constant      w_<name>                    (weights.c, const and aligned)
  graph input   ((const T *)inputs[i])      (caller buffers, in the model's own layout)
  graph output  ((T *)outputs[j])
  other values  ((T *)(ws + offset))        offset of the graph's memory plan (graph.memory)
  a view        the pointer of the value whose bytes it shares (MemoryPlan.storage)
  scratch       ((int8_t *)(ws + end))      one area after the planned values (conv patches; none,
                                            a null pointer, for the plain kernels of emit(plain=True))

Every model string reaches C through qcomp.codegen.names (CNames, c_comment, c_char_array) only.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ...errors import UnsupportedModelError
from ...ir import DType, Graph, Node
from ...ir.io_codes import code_nodes
from ...ir.memory import MemoryPlan
from ..names import CNames, c_comment

C_TYPES = {DType.INT8: "int8_t", DType.FLOAT32: "float", DType.INT32: "int32_t", DType.INT64: "int64_t",
           DType.BOOL: "uint8_t", DType.INT16: "int16_t"}


@dataclass(frozen=True)
class CArray:
    ctype: str
    name: str
    values: tuple[int, ...]


@dataclass(frozen=True)
class CStruct:
    ctype: str
    name: str
    fields: tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class Call:
    comment: str
    kernel: str
    args: tuple[str, ...]
    arrays: tuple[CArray, ...] = ()
    structs: tuple[CStruct, ...] = ()
    raw_flag: str = ""              # "in_raw" / "out_raw": run raw_kernel(raw_args) instead when set
    raw_kernel: str = ""
    raw_args: tuple[str, ...] = ()
    code_args: tuple[str, ...] = ()  # QCOMP_MODEL_CODES (qcomp.ir.io_codes): qcomp_xor_bytes(code_args) instead
    checked: bool = False           # the kernel returns a qcomp_status: a nonzero one ends the run with it


class Ctx:
    """What an emitter (`emit_x(node, ctx)`) may ask about the graph: pointers, shapes, unique names
    for its constants; it appends its node's calls to ctx.calls."""

    def __init__(self, graph: Graph, target_name: str, plan: MemoryPlan, names: CNames,
                 scratch_offset: int | None = 0, plain: bool = False):
        self.graph, self.target_name, self.plan, self.names = graph, target_name, plan, names
        self.scratch_offset, self.scratch_bytes = scratch_offset, 0
        self.plain = plain   # emit(plain=True): the plain kernels, which read every constant as the graph holds it
        self.relaid: dict[str, int] = {}   # constant -> readers that use their own re-laid copy instead (CArray)
        self.calls: list[Call] = []   # the program so far: each emitter appends its node's calls
        self.input_index = {v: i for i, v in enumerate(graph.inputs)}
        self.steps = {id(n): i for i, n in enumerate(graph.nodes)}
        self.output_index = {v: i for i, v in enumerate(graph.outputs)}
        # QCOMP_MODEL_CODES: id(Quantize) / id(Dequantize) -> (codes tensor, xor mask); all exact
        self.code_quant, self.code_deq, self.codes_exact = code_nodes(graph)

    def shape(self, v: str) -> tuple[int, ...]:
        return tuple(int(d) for d in self.graph.types[v].shape)

    def dtype(self, v: str) -> DType:
        return self.graph.types[v].dtype

    def elem_size(self, v: str) -> int:
        return int(np.dtype(self.dtype(v).np).itemsize)

    def nbytes(self, v: str) -> int:
        return int(self.graph.types[v].nbytes)

    def ptr(self, v: str, const: bool, ctype: str | None = None) -> str:
        t = ctype or C_TYPES.get(self.dtype(v))
        if t is None:
            raise UnsupportedModelError(f"target {self.target_name}: value {v!r} has dtype "
                                        f"{self.dtype(v).value}, which the C backend does not handle")
        q = "const " if const else ""
        v, at = self.plan.storage(v), self.plan.offset_in_storage(v)   # at > 0: a Concat slice
        if v in self.graph.constants:
            return self.names.ident("w", v)
        if v in self.input_index:
            return f"(({q}{t} *)inputs[{self.input_index[v]}])"
        if v in self.output_index:
            base = f"outputs[{self.output_index[v]}]"
            return f"(({q}{t} *)((uint8_t *){base} + {at}))" if at else f"(({q}{t} *){base})"
        return f"(({q}{t} *)(ws + {self.plan.offsets[v] + at}))"

    def scratch(self, nbytes: int) -> str:
        """Node-local scratch memory: one area after the planned values, as large as the largest need
        (a null pointer when scratch_offset is None: the plain kernels need none)."""
        if self.scratch_offset is None:
            return "((int8_t *)0)"
        self.scratch_bytes = max(self.scratch_bytes, nbytes)
        return f"((int8_t *)(ws + {self.scratch_offset}))"

    def local(self, node: Node, suffix: str) -> str:
        return self.names.ident(f"n{self._step(node)}", suffix)

    def array(self, node: Node, suffix: str, values, ctype: str = "int32_t") -> CArray:
        vals = tuple(int(v) for v in np.asarray(values).ravel())
        return CArray(ctype, self.local(node, suffix), vals if vals else (0,))

    def struct(self, node: Node, ctype: str, fields: dict[str, int]) -> CStruct:
        return CStruct(ctype, self.local(node, "params"), tuple((k, int(v)) for k, v in fields.items()))

    def comment(self, node: Node) -> str:
        return c_comment(f"{node.name} ({type(node.op).__name__})")

    def _step(self, node: Node) -> int:
        return self.steps[id(node)]


def contiguous_strides(shape: tuple[int, ...]) -> list[int]:
    strides, acc = [], 1
    for d in reversed(shape):
        strides.append(acc)
        acc *= d
    return strides[::-1]
