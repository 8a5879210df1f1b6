"""DynamicDenseGelu (qcomp/ir/qops_fused.py, passes/fuse_dynamic.py) on the GEMM micro-kernels: the
DynamicDense of kernels_dynamic_dense.py, then the GELU chain in the tiles' epilogue, lane-wise on
each clamped float32 vector y of `lanes` output channels while it is in registers:

    h = y + bias[n];  t = h / div;  e = erf(t);  a = e + one;  m = h * a;  out = m * half

one IEEE float32 operation each, in the unfused graph's order, and erf the one the unfused Erf node
gets on this backend (vecmath.erf: kernels_float_vec.emit_erf calls the same function on the same
float32 values, and its value does not depend on the vector width), so the fused node's output is
the unfused sequence's on llvm bit for bit. bias is copied per run next to the DynamicDense's
factors and biases (emit_dynamic_dense's `extra`).
"""
from __future__ import annotations

from llvmlite import ir

from ...ir import Node
from . import vecmath
from .irgen import F32
from .kernels_depthwise import _ptr
from .kernels_dynamic_dense import emit_dynamic_dense


def emit_dynamic_dense_gelu(node: Node, k) -> None:
    op = node.op
    lanes = k.spec.lanes
    vf = ir.VectorType(F32, lanes)

    def splat(v: float):
        return ir.Constant(vf, [v] * lanes)

    def gelu(b, y, extra, j):
        h = b.fadd(y, b.load(_ptr(b, extra, 4 * j * lanes), typ=vf, align=4))
        e = vecmath.erf(k.mod, b, b.fdiv(h, splat(op.div)))
        return b.fmul(b.fmul(h, b.fadd(e, splat(op.one))), splat(op.half))

    emit_dynamic_dense(node, k, extra=k.ins[4], after_clamp=gelu)
