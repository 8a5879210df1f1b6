"""DynamicDenseSplit (qcomp/ir/qops_split.py: P DynamicDense of one activation, weights stacked along N)
on DynamicDense's GEMM (kernels_dynamic_dense.py): x's min/max and quantize-and-pack run once, the
GEMM runs over the P n stacked channels, and the epilogue stores each channel block into its part's
output instead of one [M, P n] tensor.

Every part has n channels, a multiple of SPLIT_ALIGN (16), so a block of `lanes` channels (16, 8 or 4:
each divides 16) lies in one part. The GEMM addresses its tiles as if the output were one [M, N]
matrix (N = P n) at out_0 (the first part's output): a tile's `out` is out_0 + 4 (p0 N + c0), p0 its
first row, c0 its chunk's first column. Then row r of block j (column c = c0 + j lanes, part
i = c / n) belongs at

    out_i + 4 ((p0 + r) n + c - i n)  =  D_i + 4 ((p0 + r) n + c0 + j lanes),   D_i = out_i - 4 i n

with p0 = floor((out - out_0) / 4N) (c0 < N) and c0 = (out - out_0) / 4 - p0 N. D_i and out_0 are
stored per run in each block's slot of the scratch (emit_dynamic_dense's `prepare`: 4 lanes >= 16
bytes per block), which the epilogue reaches through its block's factor pointer. The stored values
are the DynamicDense epilogue's (the same float32 operations on the same accumulators): only the
addresses change, so each part's output is its DynamicDense's bit for bit.
"""
from __future__ import annotations

from llvmlite import ir

from ...ir import Node
from ...ir.qops_split import SPLIT_ALIGN
from .irgen import I64, c64, loop
from .kernels_depthwise import _ptr
from .kernels_dynamic_dense import emit_dynamic_dense


def emit_dynamic_dense_split(node: Node, k) -> None:
    parts = node.op.parts
    lanes = k.spec.lanes
    n_total = k.graph.types[node.inputs[1]].shape[0]
    n = n_total // parts
    assert n % lanes == 0 and SPLIT_ALIGN % lanes == 0, (n, lanes)   # why_not_dynamic_dense_split
    n_pad = n_total                       # whole blocks: emit_dynamic_dense's n_pad is N itself
    blocks = n // lanes

    def prepare(b, at, n_blocks):
        base = b.ptrtoint(k.outs[0], I64)
        for i, out in enumerate(k.outs):
            d = b.sub(b.ptrtoint(out, I64), c64(4 * i * n))
            with loop(b, blocks, f"part{i}") as jj:
                slot = _ptr(b, at, b.mul(b.add(jj, c64(i * blocks)), c64(4 * lanes)))
                b.store(d, slot, align=4)
                b.store(base, _ptr(b, slot, 8), align=4)

    def dest(b, r, j, out, factor):
        slot = _ptr(b, factor, 4 * (3 * n_pad + j * lanes))       # prepare's slot of this block
        d = b.load(slot, typ=I64, align=4)
        at = b.ptrtoint(out, I64)
        offset = b.sub(at, b.load(_ptr(b, slot, 8), typ=I64, align=4))     # 4 (p0 N + c0)
        p0 = b.udiv(offset, c64(4 * n_total))
        c0 = b.sub(offset, b.mul(p0, c64(4 * n_total)))                       # 4 c0
        row = b.mul(b.add(p0, c64(r)), c64(4 * n))
        target = b.add(b.add(d, row), b.add(c0, c64(4 * j * lanes)))
        return _ptr(b, out, b.sub(target, at))                                # based on out (noalias)

    emit_dynamic_dense(node, k, prepare=prepare, dest=dest)


def why_not_dynamic_dense_split(node, graph) -> str | None:
    """Constant weights, and parts of whole SPLIT_ALIGN-channel blocks (share_dynamic_input makes only those)."""
    if node.inputs[1] not in graph.constants:
        return "DynamicDenseSplit weights must be constants"
    n = graph.types[node.outputs[0]].shape[-1]
    if n % SPLIT_ALIGN:
        return (f"DynamicDenseSplit parts of {n} channels: the llvm kernels need a multiple of {SPLIT_ALIGN} "
                f"(passes/share_dynamic_input.py merges only those)")
    return None
