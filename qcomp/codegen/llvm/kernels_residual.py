"""QConv2DAdd: a QConv2D with the QAdd of a residual connection in its epilogue (passes/fuse_residual.py).

The GEMM micro-kernel (kernels_dot.py) requantizes each accumulator vector to the conv's int8
output c and stores the tile, exactly as QConv2D does; right after it, in the same job, the
epilogue's tile function reads the tile back (from L1) with the residual vectors r of the same
pixels and channels, computes the Add lane by lane and stores y over c, transcribing
fixedpoint.add_int8:

  a_scaled = (((c - zp_c) << left_shift) * a_multiplier + 2^(ta - 1)) >> ta      ta = 31 - a_shift
  b_scaled = (((r - zp_r) << left_shift) * b_multiplier + 2^(tb - 1)) >> tb      tb = 31 - b_shift
  y        = requantize(a_scaled + b_scaled, out_multiplier, out_shift, out_zero_point, qmin, qmax)

Ranges (fixedpoint.add_int8): |c - zp_c|, |r - zp_r| <= 255, shifted < 2^28; the products are
below 2^59 in i64 lanes (VPMULDQ / SMULL class); each scaled value is at most 2^27 (input
multipliers <= 1/2), so the sum fits the int32 lanes requantize_lanes takes. c is the conv's
clamped int8 value, as the unfused QAdd reads it from memory: the integers are the pair's. Saved:
the pass of the Add's node over the whole tensors (c written to and read back from L2 or memory),
its separate loop on one thread, and a node. Why per tile and not per accumulator register: the
Add inside the unrolled micro-kernel (MR x NR vectors, each variant) made a ResNet-18 build take
1.6x the CPU time in LLVM for no measurable run-time gain; one small loop per node costs little.

Where the micro-kernel has no such epilogue (depthwise convs: kernels_depthwise.py; arm-i8mm's
SMMLA micro-kernel), the node runs as the pair: the conv into the kernel's scratch, then the
QAdd's loop (kernels_elem.emit_add_sub) into the output.
"""
from __future__ import annotations

import dataclasses

from llvmlite import ir

from ... import abi
from ...ir import Node, qops
from . import kernels_dot, kernels_elem
from .irgen import I8, I32, I64, PTR, VOID, c64, loop, requantize_lanes
from .kernels_depthwise import _mask, _masked_io, _ptr


@dataclasses.dataclass
class ResidualEpilogue:
    """The Add of a QConv2DAdd on requantized int8 vectors; `residual` is the node's residual pointer.
    Its tile functions (one per live width of the last block, shared by the node's tiles) run on a
    tile right after the micro-kernel stored it."""
    op: qops.QConv2DAdd
    residual: ir.Value
    tiles: dict = dataclasses.field(default_factory=dict)

    def call_tile(self, k, b: ir.IRBuilder, out, res, rows: int, blocks: int, live_last: int, o_total: int) -> None:
        """y = add_int8(c, r) in place on the tile at out (rows x blocks vectors of lanes channels,
        pixels o_total bytes apart; the last block's first live_last channels), r at res alike."""
        key = (live_last, o_total)
        if key not in self.tiles:
            self.tiles[key] = self._tile_function(k, live_last, o_total)
        b.call(self.tiles[key], [out, res, c64(rows), c64(blocks - 1)])

    def _tile_function(self, k, live_last: int, o_total: int):
        """residual_tile(out, res, rows, full_blocks): rows x (full_blocks + 1) vectors, the last one
        live_last channels wide (masked when < lanes)."""
        lanes, x86 = k.spec.lanes, k.spec.arch == "x86"
        vi8 = ir.VectorType(I8, lanes)
        f, b = k.mod.function(k.mod.unique("residual_tile"), VOID, [PTR, PTR, I64, I64])
        out, res, rows, full = f.args
        out.add_attribute("noalias")
        res.add_attribute("noalias")
        masked_load, masked_store = _masked_io(k.mod, lanes, I8)
        with loop(b, rows, "r") as r:
            row_out, row_res = _ptr(b, out, b.mul(r, c64(o_total))), _ptr(b, res, b.mul(r, c64(o_total)))
            with loop(b, full, "j") as j:
                at = b.mul(j, c64(lanes))
                dst = _ptr(b, row_out, at)
                b.store(self.apply(k.mod, b, b.load(dst, typ=vi8, align=1), _ptr(b, row_res, at), lanes, x86),
                        dst, align=1)
            at = b.mul(full, c64(lanes))
            dst = _ptr(b, row_out, at)
            if live_last < lanes:
                mask = _mask(lanes, live_last)
                c = b.call(masked_load, [dst, ir.Constant(I32, 1), mask, ir.Constant(vi8, None)])
                y = self.apply(k.mod, b, c, _ptr(b, row_res, at), live_last, x86)
                b.call(masked_store, [y, dst, ir.Constant(I32, 1), mask])
            else:
                y = self.apply(k.mod, b, b.load(dst, typ=vi8, align=1), _ptr(b, row_res, at), lanes, x86)
                b.store(y, dst, align=1)
        b.ret_void()
        return f

    def apply(self, mod, b: ir.IRBuilder, c, res_ptr, live: int, even_odd: bool):
        """y = add_int8(c, r) on <L x i8> c, r loaded at res_ptr (its first `live` lanes when live < L)."""
        op, lanes = self.op, c.type.count
        vi8, vi32 = ir.VectorType(I8, lanes), ir.VectorType(I32, lanes)
        if live < lanes:
            masked_load, _ = _masked_io(mod, lanes, I8)
            r = b.call(masked_load, [res_ptr, ir.Constant(I32, 1), _mask(lanes, live), ir.Constant(vi8, None)])
        else:
            r = b.load(res_ptr, typ=vi8, align=1)

        rescale = _rescale_even_odd if even_odd and lanes % 2 == 0 else _rescale_wide
        acc = b.add(rescale(b, c, op.conv_zero_point, op.left_shift, op.a_multiplier, op.a_shift),
                    rescale(b, r, op.b_zero_point, op.left_shift, op.b_multiplier, op.b_shift))
        # right_shifts=False before a masked store (kernels_dot._micro_kernel: LLVM's one-lane case)
        return requantize_lanes(b, acc, ir.Constant(vi32, [op.out_multiplier] * lanes),
                                ir.Constant(vi32, [op.out_shift] * lanes), op.out_zero_point, op.qmin, op.qmax,
                                even_odd=even_odd, right_shifts=op.out_shift <= -1 and live == lanes)


def _rescale_wide(b: ir.IRBuilder, v, zero_point: int, left_shift: int, multiplier: int, shift: int):
    """mbqm((v - zero_point) << left_shift, multiplier, shift) on <L x i8> v, in <L x i64> lanes -> <L x i32>."""
    lanes = v.type.count
    vi64 = ir.VectorType(I64, lanes)

    def splat(x):
        return ir.Constant(vi64, [x] * lanes)
    total = 31 - shift
    x = b.shl(b.sub(b.sext(v, vi64), splat(zero_point)), splat(left_shift))
    scaled = b.ashr(b.add(b.mul(x, splat(multiplier)), splat(1 << (total - 1))), splat(total))
    return b.trunc(scaled, ir.VectorType(I32, lanes))   # |scaled| <= 2^27 (multiplier <= 1/2): exact


def _rescale_even_odd(b: ir.IRBuilder, v, zero_point: int, left_shift: int, multiplier: int, shift: int):
    """_rescale_wide's values with the 64-bit work in the int32 lanes' registers (AVX-512, as
    irgen._requantize_even_odd): x = (v - zero_point) << left_shift in int32 (|x| < 2^28), viewed as
    <L/2 x i64> its even lanes sign-extended and its odd lanes shifted down, each multiplied by one
    VPMULDQ, rounded and shifted, and merged back into int32 lanes (|result| <= 2^27)."""
    lanes = v.type.count
    vi32, v64 = ir.VectorType(I32, lanes), ir.VectorType(I64, lanes // 2)

    def splat(x):
        return ir.Constant(v64, [x] * (lanes // 2))
    x = b.shl(b.sub(b.sext(v, vi32), ir.Constant(vi32, [zero_point] * lanes)), ir.Constant(vi32, [left_shift] * lanes))
    q = b.bitcast(x, v64)
    total = 31 - shift
    out = [b.ashr(b.add(b.mul(h, splat(multiplier)), splat(1 << (total - 1))), splat(total))
           for h in (b.ashr(b.shl(q, splat(32)), splat(32)), b.ashr(q, splat(32)))]
    return b.bitcast(b.or_(b.and_(out[0], splat(0xFFFFFFFF)), b.shl(out[1], splat(32))), vi32)


def emit_conv_add(node: Node, k) -> None:
    """The conv with the Add in its GEMM epilogue; depthwise and SMMLA convs as the pair (module docstring)."""
    op = node.op
    conv = Node(node.name, op.conv(), node.inputs[:5], node.outputs)
    k.node = conv
    if not kernels_dot._is_depthwise(conv, k.graph) and k.spec.instruction != "smmla":
        kernels_dot.emit_dot(conv, k, ResidualEpilogue(op, k.ins[5]))
        return
    c_bytes = abi.align(k.graph.types[node.outputs[0]].size)   # c: int8, the output's shape
    inner = dataclasses.replace(k, outs=[k.scratch], scratch=_ptr(k.b, k.scratch, c_bytes), scratch_bytes=0)
    kernels_dot.emit_dot(conv, inner)
    add = Node(node.name, qops.QAdd(**op.add_attrs()), (node.inputs[5], node.inputs[5]), node.outputs)
    kernels_elem.emit_add_sub(add, dataclasses.replace(k, node=add, ins=[k.scratch, k.ins[5]], scratch_bytes=0))
    k.reserve(c_bytes + inner.scratch_bytes)
