"""LLVM IR building blocks: loops, constant tables, and qcomp.fixedpoint transcribed to IR.

The fixed-point helpers are internal always-inline functions with the names and the arithmetic
of qcomp/fixedpoint.py, line for line (all in i64, as the spec: no truncation before the clamp):

    multiply_by_quantized_multiplier(acc, multiplier, shift):
        total = 31 - shift;  (acc * multiplier + (1 << (total - 1))) >> total      (ashr: ties to +inf)
    requantize(acc, multiplier, shift, zero_point, qmin, qmax):
        clamp(multiply_by_quantized_multiplier(acc, multiplier, shift) + zero_point, qmin, qmax)
    quantize(x, scale, zero_point, qmin, qmax):
        r = rint(x / scale)  (float32 fdiv, llvm.rint: ties to even; no reciprocal multiply)
        clamp(r, qmin - zero_point, qmax - zero_point) + zero_point;  scale == 0 -> clamp(zero_point)
    dequantize(q, zero_point, scale) = float32(q - zero_point) * scale

No fast-math flags anywhere: every float operation is one IEEE float32 operation.
Constant tables (packed weights, index maps, multipliers) are 64-byte aligned: small ones are
internal constant globals, large ones (>= BLOB_MIN bytes) are slices of one external blob,
`qcomp_blob`, whose bytes are written to weights.bin and assembled with `.incbin` (so a 50 MB
embedding table never passes through LLVM IR text). Values are addressed with opaque `ptr`.
"""
from __future__ import annotations

from contextlib import contextmanager

import numpy as np
from llvmlite import ir

from ... import abi

I1, I8, I16, I32, I64 = (ir.IntType(n) for n in (1, 8, 16, 32, 64))
F32 = ir.FloatType()
F64 = ir.DoubleType()
PTR = ir.PointerType()
VOID = ir.VoidType()
BLOB_MIN = 256
BLOB_SYMBOL = "qcomp_blob"


def c64(v: int) -> ir.Constant:
    return ir.Constant(I64, int(v))


def c32(v: int) -> ir.Constant:
    return ir.Constant(I32, int(v))


def int_type(nbytes: int) -> ir.IntType:
    return ir.IntType(8 * nbytes)


class Module:
    """One LLVM module under construction: globals, intrinsics and the fixed-point helpers."""

    def __init__(self, name: str, triple: str):
        """name: the module's name, a C identifier (names.CNames: never a raw model string)."""
        self.m = ir.Module(name=name)
        self.m.triple = triple
        self._globals = 0
        self._fns: dict[str, ir.Function] = {}
        self.blob = bytearray()
        self._blob_ref = None
        self._names: dict[str, int] = {}
        self._shared: dict[tuple, ir.Function] = {}
        self._emit_fixedpoint()

    def unique(self, name: str) -> str:
        """`name` made unique in this module (name, name.1, name.2, ...)."""
        n = self._names.get(name, 0)
        self._names[name] = n + 1
        return name if n == 0 else f"{name}.{n}"

    # ---- globals -----------------------------------------------------------------------------
    def table(self, array: np.ndarray, name: str = "tab") -> ir.Value:
        """A pointer to constant bytes holding `array` (little-endian, C order), aligned to
        abi.WORKSPACE_ALIGN."""
        data = np.ascontiguousarray(array)
        raw = bytearray(data.tobytes()) or bytearray(1)
        if len(raw) >= BLOB_MIN:
            if self._blob_ref is None:
                self._blob_ref = ir.GlobalVariable(self.m, I8, BLOB_SYMBOL)
                self._blob_ref.linkage, self._blob_ref.visibility = "external", "hidden"
                self._blob_ref.global_constant = True
                self._blob_ref.align = abi.WORKSPACE_ALIGN
            offset = len(self.blob)
            self.blob += raw + bytearray(abi.align(len(raw)) - len(raw))
            return ir.FormattedConstant(PTR, f'getelementptr inbounds (i8, ptr @"{BLOB_SYMBOL}", i64 {offset})')
        t = ir.ArrayType(I8, len(raw))
        self._globals += 1
        g = ir.GlobalVariable(self.m, t, f"{name}.{self._globals}")
        g.initializer = ir.Constant(t, raw)
        g.global_constant = True
        g.linkage = "internal"
        g.align = abi.WORKSPACE_ALIGN
        return g

    def cstring(self, text: str, name: str = "str") -> ir.GlobalVariable:
        raw = bytearray(text.encode() + b"\0")
        t = ir.ArrayType(I8, len(raw))
        self._globals += 1
        g = ir.GlobalVariable(self.m, t, f"{name}.{self._globals}")
        g.initializer = ir.Constant(t, raw)
        g.global_constant = True
        g.linkage = "internal"
        return g

    def intrinsic(self, name: str, ret, args) -> ir.Function:
        if name not in self._fns:
            self._fns[name] = ir.Function(self.m, ir.FunctionType(ret, args), name)
        return self._fns[name]

    def shared(self, key: tuple, make):
        """The function make() returned the first time `key` was asked for in this module: a kernel
        whose body depends on `key` alone, emitted once and called by every node that has that key
        (its per-node values are its arguments)."""
        if key not in self._shared:
            self._shared[key] = make()
        return self._shared[key]

    def helper(self, name: str) -> ir.Function:
        return self._fns[name]

    def has_helper(self, name: str) -> bool:
        return name in self._fns

    def define_helper(self, name: str, ret, args) -> tuple[ir.Function, ir.IRBuilder]:
        """An always-inlined internal function `name`, found later by helper(name)."""
        f, b = self.function(name, ret, args)
        f.attributes.add("alwaysinline")
        self._fns[name] = f
        return f, b

    def function(self, name: str, ret, args, internal: bool = True) -> tuple[ir.Function, ir.IRBuilder]:
        f = ir.Function(self.m, ir.FunctionType(ret, args), name)
        if internal:
            f.linkage = "internal"
        f.attributes.add("nounwind")
        b = ir.IRBuilder(f.append_basic_block("entry"))
        return f, b

    # ---- the spec, transcribed -----------------------------------------------------------------
    def _emit_fixedpoint(self) -> None:
        f, b = self.define_helper("multiply_by_quantized_multiplier", I64, [I64, I64, I64])
        acc, multiplier, shift = f.args
        total = b.sub(c64(31), shift, "total")
        rounding = b.shl(c64(1), b.sub(total, c64(1)), "rounding")
        b.ret(b.ashr(b.add(b.mul(acc, multiplier), rounding), total))

        f, b = self.define_helper("requantize", I64, [I64] * 6)
        acc, multiplier, shift, zero_point, qmin, qmax = f.args
        scaled = b.call(self.helper("multiply_by_quantized_multiplier"), [acc, multiplier, shift])
        b.ret(clamp(b, b.add(scaled, zero_point), qmin, qmax))

        rint = self.intrinsic("llvm.rint.f32", F32, [F32])
        f, b = self.define_helper("quantize", I64, [F32, F32, I64, I64, I64])
        x, scale, zero_point, qmin, qmax = f.args
        zero = b.fcmp_ordered("==", scale, ir.Constant(F32, 0.0))
        safe = b.select(zero, ir.Constant(F32, 1.0), scale)
        r = b.select(zero, ir.Constant(F32, 0.0), b.call(rint, [b.fdiv(x, safe)]))
        lo = b.sitofp(b.sub(qmin, zero_point), F32)   # |bounds| <= 2^8: exact in float32
        hi = b.sitofp(b.sub(qmax, zero_point), F32)
        r = b.select(b.fcmp_ordered("<", r, lo), lo, r)
        r = b.select(b.fcmp_ordered(">", r, hi), hi, r)
        b.ret(b.add(b.fptosi(r, I64), zero_point))

        f, b = self.define_helper("dequantize", F32, [I64, I64, F32])
        q, zero_point, scale = f.args
        b.ret(b.fmul(b.sitofp(b.sub(q, zero_point), F32), scale))


def requantize_lanes(b: ir.IRBuilder, acc, multiplier, shift, zero_point, qmin, qmax,
                     even_odd: bool = False, right_shifts: bool = False):
    """requantize on each lane of <L x i32> vectors -> <L x i8>: the spec's formula lane-wise
    (VPMULDQ-class 64-bit products, VPSRAVQ arithmetic shifts, VPMOVSQB-class narrowing).
    zero_point, qmin, qmax: Python ints (constants of this kernel) or i32 values known at run time
    only (arguments of a kernel shared by several nodes, Module.shared): the same arithmetic.

    even_odd (AVX-512): the 64-bit work stays in the registers the int32 lanes are in. Viewed as
    <L/2 x i64>, the even lanes are the sign-extended low halves and the odd lanes the high halves
    (an arithmetic shift), each one VPMULDQ; both halves are clamped to [qmin - zp, qmax - zp]
    in 64 bits (VPMAXSQ/VPMINSQ), merged back into int32 lanes, narrowed (VPMOVDB) and zp is
    added in int8 (exact: the result lies in [qmin, qmax]). Same values as the plain form, with no
    lane-widening shuffles. right_shifts (every shift <= -1, known at build time): the scaled
    value has |v| <= 2^30 (|acc|, multiplier < 2^31, total >= 32), so the halves merge before the
    clamp, which runs on int32 lanes and ends in one saturating narrow (VPMOVSDB)."""
    lanes = acc.type.count
    if even_odd and lanes % 2 == 0:
        return _requantize_even_odd(b, acc, multiplier, shift, zero_point, qmin, qmax, right_shifts)
    v64 = ir.VectorType(I64, lanes)

    def splat(v):
        return lanes_of(b, v64, v)
    total = b.sub(splat(31), b.sext(shift, v64))
    rounding = b.shl(splat(1), b.sub(total, splat(1)))
    scaled = b.ashr(b.add(b.mul(b.sext(acc, v64), b.sext(multiplier, v64)), rounding), total)
    return b.trunc(clamp(b, b.add(scaled, splat(zero_point)), splat(qmin), splat(qmax)), ir.VectorType(I8, lanes))


def lanes_of(b: ir.IRBuilder, vt: ir.VectorType, v) -> ir.Value:
    """<L x T> with v in every lane: a constant for a Python int (taken modulo 2^width for i8), an
    insertelement + shufflevector (one broadcast) for a run-time integer (sign-extended or truncated
    to T)."""
    elem = vt.element
    if not isinstance(v, ir.Value):
        return ir.Constant(vt, [v & 0xFF if elem.width == 8 else v] * vt.count)
    if v.type.width < elem.width:
        v = b.sext(v, elem)
    elif v.type.width > elem.width:
        v = b.trunc(v, elem)
    first = b.insert_element(ir.Constant(vt, None), v, ir.Constant(I32, 0))
    return b.shuffle_vector(first, ir.Constant(vt, None), ir.Constant(ir.VectorType(I32, vt.count), [0] * vt.count))


def _minus(b: ir.IRBuilder, x, y):
    """x - y of two ints, or of i32 values (one may be an int) in i64."""
    if not isinstance(x, ir.Value) and not isinstance(y, ir.Value):
        return x - y
    wide = [b.sext(v, I64) if isinstance(v, ir.Value) else c64(v) for v in (x, y)]
    return b.sub(*wide)


def _requantize_even_odd(b: ir.IRBuilder, acc, multiplier, shift, zero_point, qmin, qmax,
                         right_shifts: bool):
    lanes = acc.type.count
    half = lanes // 2
    v64 = ir.VectorType(I64, half)

    def splat(v):
        return lanes_of(b, v64, v)

    def halves(v):   # (even lanes, odd lanes) of <L x i32>, sign-extended in <L/2 x i64>
        q = b.bitcast(v, v64)
        return b.ashr(b.shl(q, splat(32)), splat(32)), b.ashr(q, splat(32))
    out = []
    for a, m, sh in zip(halves(acc), halves(multiplier), halves(shift)):
        total = b.sub(splat(31), sh)
        rounding = b.shl(splat(1), b.sub(total, splat(1)))
        scaled = b.ashr(b.add(b.mul(a, m), rounding), total)
        out.append(scaled if right_shifts else
                   clamp(b, scaled, splat(_minus(b, qmin, zero_point)), splat(_minus(b, qmax, zero_point))))
    merged = b.or_(b.and_(out[0], splat(0xFFFFFFFF)), b.shl(out[1], splat(32)))
    if right_shifts:
        v32 = ir.VectorType(I32, lanes)
        y = b.add(b.bitcast(merged, v32), lanes_of(b, v32, zero_point))
        y = clamp(b, y, lanes_of(b, v32, qmin), lanes_of(b, v32, qmax))
        return b.trunc(y, ir.VectorType(I8, lanes))
    y = b.trunc(b.bitcast(merged, ir.VectorType(I32, lanes)), ir.VectorType(I8, lanes))
    return b.add(y, lanes_of(b, ir.VectorType(I8, lanes), zero_point))


def clamp(b: ir.IRBuilder, v, lo, hi):
    v = b.select(b.icmp_signed("<", v, lo), lo, v)
    return b.select(b.icmp_signed(">", v, hi), hi, v)


@contextmanager
def loop(b: ir.IRBuilder, n, name: str = "i"):
    """for (i64 i = 0; i < n; ++i) { body }: yields i; the builder ends after the loop."""
    n = c64(n) if isinstance(n, int) else n
    pre = b.block
    head = b.append_basic_block(f"{name}.head")
    body = b.append_basic_block(f"{name}.body")
    end = b.append_basic_block(f"{name}.end")
    b.branch(head)
    b.position_at_end(head)
    i = b.phi(I64, name)
    i.add_incoming(c64(0), pre)
    b.cbranch(b.icmp_signed("<", i, n), body, end)
    b.position_at_end(body)
    yield i
    i.add_incoming(b.add(i, c64(1)), b.block)
    b.branch(head)
    b.position_at_end(end)


def var(b: ir.IRBuilder, t, init, name: str = "v"):
    """A mutable local (an entry-block alloca, promoted to a register by mem2reg)."""
    with b.goto_entry_block():
        slot = b.alloca(t, name=name)
    b.store(init, slot)
    return slot


def at(b: ir.IRBuilder, base, index, t):
    """&((t *) base)[index]."""
    return b.gep(base, [index if isinstance(index, ir.Value) else c64(index)], source_etype=t)


def load(b: ir.IRBuilder, base, index, t, align: int | None = None):
    return b.load(at(b, base, index, t), typ=t, align=align)


def store(b: ir.IRBuilder, value, base, index, t):
    b.store(value, at(b, base, index, t))


def load_i64(b: ir.IRBuilder, base, index, t):
    """A signed integer of type t from base[index], sign-extended to i64."""
    v = load(b, base, index, t)
    return v if t == I64 else b.sext(v, I64)


def memcpy(mod: Module, b: ir.IRBuilder, dst, src, nbytes) -> None:
    fn = mod.intrinsic("llvm.memcpy.p0.p0.i64", VOID, [PTR, PTR, I64, I1])
    b.call(fn, [dst, src, nbytes if isinstance(nbytes, ir.Value) else c64(nbytes), ir.Constant(I1, 0)])


def memset(mod: Module, b: ir.IRBuilder, dst, byte: int, nbytes) -> None:
    fn = mod.intrinsic("llvm.memset.p0.i64", VOID, [PTR, I8, I64, I1])
    b.call(fn, [dst, ir.Constant(I8, byte & 0xFF), nbytes if isinstance(nbytes, ir.Value) else c64(nbytes),
                ir.Constant(I1, 0)])


PARALLEL_FOR = "qcomp_parallel_for"


def job_function(mod: Module, name: str, n_ctx: int):
    """An internal `void job(ptr ctx, i64 i)` for parallel_for: returns (builder, the n_ctx pointers
    read from ctx, i). The caller emits the body and `ret void`."""
    f, b = mod.function(mod.unique(name), VOID, [PTR, I64])
    ctx, i = f.args
    values = [b.load(b.gep(ctx, [c64(j)], source_etype=PTR), typ=PTR) for j in range(n_ctx)]
    return f, b, values, i


def parallel_for(mod: Module, b: ir.IRBuilder, job: ir.Function, ctx_values: list, n: int) -> None:
    """job(ctx, i) for every i < n: through runtime/llvm/pool.c's qcomp_parallel_for (the pool's
    threads share the jobs) when n > 1, as a plain call when n == 1. ctx is an array of the given
    pointers in the caller's frame."""
    with b.goto_entry_block():
        ctx = b.alloca(PTR, size=c64(max(len(ctx_values), 1)), name="ctx")
    for j, v in enumerate(ctx_values):
        b.store(v, b.gep(ctx, [c64(j)], source_etype=PTR))
    if n == 1:
        b.call(job, [ctx, c64(0)])
        return
    fn = mod.intrinsic(PARALLEL_FOR, VOID, [PTR, PTR, I64])
    b.call(fn, [job, ctx, c64(n)])
