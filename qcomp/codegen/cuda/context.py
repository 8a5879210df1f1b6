"""Buffers and launches of the cuda backend: where every value lives and how each kernel is called.

Buffers (base pointers the runtime supplies): "workspace" (intermediate values at the offsets of
the graph's memory plan, graph.memory), "weights" (weights.bin: constants and packed weights, each
aligned to qcomp.abi.WORKSPACE_ALIGN), "input:i" / "output:i" (caller buffers in the model's layout),
"raw:i" (the int8 value before the final Dequantize of output i, for `--raw`). A kernel argument is
(buffer, byte offset); a view (a Reshape the plan did not copy) has the (buffer, offset) of the value
whose bytes it shares.

A `Launch` is one kernel launch of the plan: kernel name, grid, block, dynamic shared memory and
its arguments; the manifest lists them in order and the runtime replays them (cuLaunchKernel on a
GPU, the emulation's host wrappers with --emulate).

Model strings reach model.cu and model.h only through qcomp.codegen.names: kernel names are
`k<launch>_<op>_<sanitized node name>` identifiers (Context.kernel_name), node names in comments
are c_comment()s (Context.comment).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ... import abi
from ...errors import UnsupportedModelError
from ...ir import Graph, Node
from ...ir.memory import MemoryPlan
from ..names import CNames, Sanitized, c_comment

BLOCK = 256   # threads per block of the one-thread-per-element kernels (a power of two: block reductions)


@dataclass(frozen=True)
class Arg:
    buffer: str
    offset: int
    ctype: str     # C type of the pointer's elements: "int8_t", "int32_t", "float"


@dataclass(frozen=True)
class Launch:
    kernel: str
    node: str
    grid: tuple[int, int, int]
    block: tuple[int, int, int]
    shared_bytes: int            # static shared memory of the kernel (no dynamic shared memory is used)
    args: tuple[Arg, ...]
    barriers: bool               # uses __syncthreads (the emulation then runs threads as fibers)
    macs: int = 0                # int8 multiply-accumulates (GEMM-like kernels), for roofline figures
    dram_bytes: int = 0          # bytes of the node's operands and results (each read or written once)
    tensor_cores: bool = False   # the inner product runs on mma.sync (sm_80+) rather than the CUDA cores

    def manifest(self) -> dict:
        return {"kernel": self.kernel, "node": self.node, "grid": list(self.grid), "block": list(self.block),
                "shared_bytes": self.shared_bytes, "barriers": self.barriers,
                "macs": self.macs, "dram_bytes": self.dram_bytes, "tensor_cores": self.tensor_cores,
                "args": [{"buffer": a.buffer, "offset": a.offset, "type": a.ctype} for a in self.args]}


_CTYPES = {"i8": "int8_t", "i32": "int32_t", "i64": "int64_t", "f32": "float", "bool": "uint8_t", "i16": "int16_t"}


def ctype_of(dtype) -> str:
    return _CTYPES[dtype.value]


def grid_1d(total: int) -> tuple[int, int, int]:
    return ((total + BLOCK - 1) // BLOCK, 1, 1)


@dataclass
class Context:
    graph: Graph
    plan: MemoryPlan
    target_name: str
    env: object = None   # the one Jinja2 environment of templates/ (emitters render with ctx.env)
    weights: bytearray = field(default_factory=bytearray)
    sources: list[str] = field(default_factory=list)
    launches: list[Launch] = field(default_factory=list)
    scratch_bytes: int = 0   # kernel-private workspace after the planned values (never reused)
    _weight_offsets: dict[str, int] = field(default_factory=dict)
    names: CNames = field(default_factory=CNames)

    @property
    def workspace_bytes(self) -> int:
        return self.plan.workspace_bytes + self.scratch_bytes

    def scratch(self, nbytes: int, ctype: str) -> Arg:
        """Workspace bytes private to one kernel sequence (dynamic quantization parameters, ...)."""
        offset = self.plan.workspace_bytes + self.scratch_bytes
        self.scratch_bytes += abi.align(nbytes)
        return Arg("workspace", offset, ctype)

    def value(self, name: str) -> Arg:
        """Where the value `name` lives."""
        g = self.graph
        if g.types[name].dtype.value not in _CTYPES:
            raise UnsupportedModelError(f"target {self.target_name!r}: value {name!r} has dtype "
                                        f"{g.types[name].dtype.value}, which the cuda backend does not handle")
        ct = ctype_of(g.types[name].dtype)
        name, at = self.plan.storage(name), self.plan.offset_in_storage(name)   # at > 0: a Concat slice
        if name in g.outputs:
            return Arg(f"output:{g.outputs.index(name)}", at, ct)
        if name in g.inputs:
            return Arg(f"input:{g.inputs.index(name)}", 0, ct)
        if name in g.constants:
            return self.constant(name)
        return Arg("workspace", self.plan.offsets[name] + at, ct)

    def constant(self, name: str) -> Arg:
        """A graph constant, stored once in weights.bin."""
        if name not in self._weight_offsets:
            self._weight_offsets[name] = self.add_weight(np.asarray(self.graph.constants[name])).offset
        return Arg("weights", self._weight_offsets[name], ctype_of(self.graph.types[name].dtype))

    def add_weight(self, array: np.ndarray) -> Arg:
        """A derived constant (packed weights, tables) appended to weights.bin."""
        pad = abi.align(len(self.weights)) - len(self.weights)
        self.weights += b"\0" * pad
        offset = len(self.weights)
        a = np.ascontiguousarray(array)
        self.weights += a.astype(a.dtype.newbyteorder("<")).tobytes()
        ct = {np.dtype(np.int8): "int8_t", np.dtype(np.int32): "int32_t", np.dtype(np.int64): "int64_t",
              np.dtype(np.float32): "float", np.dtype(np.bool_): "uint8_t",
              np.dtype(np.int16): "int16_t"}[a.dtype]
        return Arg("weights", offset, ct)

    def kernel_name(self, node: Node, suffix: str = "") -> str:
        """A unique C identifier: launch index, op kind and the node's name, sanitized."""
        return self.names.ident(f"k{len(self.launches)}_{node.op.kind.lower()}{suffix}", node.name)

    def comment(self, node: Node) -> Sanitized:
        """The node's name as the text of a C comment."""
        return c_comment(node.name)

    def add(self, node: Node, name: str, source: str, grid, block, args, shared_bytes: int = 0,
            macs: int = 0) -> None:
        g = self.graph
        dram = sum(g.types[v].nbytes for v in (*node.inputs, *node.outputs))
        self.sources.append(source)
        self.launches.append(Launch(name, node.name, tuple(grid), tuple(block), shared_bytes, tuple(args),
                                    "__syncthreads" in source, macs, dram, "mma_m16n8k32_s8(" in source))
