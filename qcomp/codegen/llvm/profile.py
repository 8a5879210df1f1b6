"""The per-node profiler of an llvm artifact (runtime/qcomp.h, ABI version 2), generated as LLVM IR.

    qcomp_profiled_nodes()                 the number of timed nodes: the node kernels, run order
    qcomp_profiled_node_name(i)            node i's name (the TARGET graph's), NULL for a bad index
    qcomp_set_profiler(node_ns, capacity)  node_ns: uint64_t[capacity] or NULL (off, the default)

The run function loads the buffer pointer `qcomp.profile` once, at its start; around each node
(its kernel call, or the copy that replaces it under raw I/O) it then does

    if (profile) t0 = qcomp_clock_ns();     ... node ...     if (profile) profile[i] += qcomp_clock_ns() - t0;

so with the profiler off a node costs one compare and an untaken branch on a value held in a
register: nothing measurable next to a kernel call (benchmarks/RESULTS.md, profiler section).
qcomp_clock_ns is runtime/llvm/pool.c's CLOCK_MONOTONIC in nanoseconds. The time is the wall time
of the node on the calling thread, which waits for the node's jobs on every pool thread.
"""
from __future__ import annotations

from llvmlite import ir

from ...ir import Node
from .irgen import I32, I64, PTR, Module, c32, c64

CLOCK = "qcomp_clock_ns"


class Profiler:
    """The profiler's globals and functions in `mod`; `start` and `around` instrument the run."""

    def __init__(self, mod: Module, nodes: list[Node], ok: int, too_small: int):
        self.mod = mod
        self.buffer = ir.GlobalVariable(mod.m, PTR, "qcomp.profile")
        self.buffer.initializer = ir.Constant(PTR, None)
        self.buffer.linkage = "internal"
        n = len(nodes)
        f, b = mod.function("qcomp_profiled_nodes", I32, [], internal=False)
        b.ret(c32(n))
        names = [mod.cstring(node.name, "profiled_name") for node in nodes]
        table = ir.GlobalVariable(mod.m, ir.ArrayType(PTR, max(n, 1)), "node_name.table")
        table.initializer = ir.Constant(table.value_type, names or [ir.Constant(PTR, None)])
        table.global_constant, table.linkage = True, "internal"
        f, b = mod.function("qcomp_profiled_node_name", PTR, [I32], internal=False)
        with b.if_then(b.icmp_unsigned(">=", f.args[0], c32(n)), likely=False):
            b.ret(ir.Constant(PTR, None))
        b.ret(b.load(b.gep(table, [c64(0), b.zext(f.args[0], I64)], source_etype=table.value_type), typ=PTR))
        f, b = mod.function("qcomp_set_profiler", I32, [PTR, I32], internal=False)
        node_ns, capacity = f.args
        given = b.icmp_unsigned("!=", node_ns, ir.Constant(PTR, None))
        with b.if_then(b.and_(given, b.icmp_signed("<", capacity, c32(n))), likely=False):
            b.ret(c32(too_small))
        b.store(node_ns, self.buffer)
        b.ret(c32(ok))
        self._clock = mod.intrinsic(CLOCK, I64, [])
        self._on = self._t0 = self._base = None

    def start(self, b: ir.IRBuilder) -> None:
        """At the start of the run function: the buffer pointer, loaded once."""
        self._base = b.load(self.buffer, typ=PTR)
        self._on = b.icmp_unsigned("!=", self._base, ir.Constant(PTR, None))
        with b.goto_entry_block():
            self._t0 = b.alloca(I64, name="t0")

    def before(self, b: ir.IRBuilder) -> None:
        with b.if_then(self._on, likely=False):
            b.store(b.call(self._clock, []), self._t0)

    def after(self, b: ir.IRBuilder, index: int) -> None:
        with b.if_then(self._on, likely=False):
            elapsed = b.sub(b.call(self._clock, []), b.load(self._t0, typ=I64))
            slot = b.gep(self._base, [c64(index)], source_etype=I64)
            b.store(b.add(b.load(slot, typ=I64), elapsed), slot)
