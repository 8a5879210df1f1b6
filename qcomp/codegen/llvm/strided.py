"""Which llvm kernels write their output rows with a row stride: producers of strided Concat slices.

A channel Concat of NHWC tensors (rows before its axis: R = N*H*W > 1) interleaves its operands:
output pixel p holds operand 0's b_0 bytes, then operand 1's b_1 bytes, ... (ir/memory_concat.py).
The GEMM behind QConv2D and QDense (kernels_dot.emit_dot) stores each output pixel's channels at
`out + p * stride`; with stride = B (the Concat's bytes per pixel) and `out` = the operand's slice
(offset s_i in the Concat's output), the producer writes its channels straight into the Concat's
output, and the Concat runs no kernel. Each pixel row is stored as whole vectors of `lanes`
channels and one masked store for the last block (never past its b_i bytes), so neighbouring
slices are untouched. The micro-kernels take the stride as their output row stride (the shared
tile's argument, the constant of the AVX2 and SMMLA variants), so no new kernel code exists.
QRequantize (the operand that quantize brings to the Concat's params) runs its elementwise loop
as rows of b_i bytes, B apart (kernels_elem.emit_requantize): the conv before it writes dense, the
Requantize writes the slice.

Other producers (depthwise conv, pooling, elementwise, QConv2DAdd whose residual pass reads the
output with the same stride as its residual, ...) write dense outputs: their Concats copy. plan_memory
asks `why_not_strided_output` through `strided=` (codegen/memory.planned, builder.BACKEND_PLANS).
"""
from __future__ import annotations

from ...ir import DType, Graph, Node, qops


def why_not_strided_output(node: Node, graph: Graph) -> str | None:
    """Why `node` cannot write its output with a row stride (None: emit_dot can)."""
    if type(node.op) is qops.QRequantize:   # kernels_elem.emit_requantize: a row loop
        return None if graph.types[node.outputs[0]].dtype is DType.INT8 else \
            f"its producer {node.name!r} is not int8"
    if type(node.op) not in (qops.QConv2D, qops.QDense):
        return f"its producer {node.name!r} ({type(node.op).__name__}) writes dense outputs only"
    w_shape = graph.types[node.inputs[1]].shape
    if isinstance(node.op, qops.QConv2D) and node.op.group == graph.types[node.inputs[0]].shape[-1] == w_shape[0] \
            and w_shape[3] == 1:
        return f"its producer {node.name!r} is a depthwise QConv2D (kernels_depthwise.py writes dense outputs)"
    if any(graph.types[v].dtype is not DType.INT8 for v in (node.inputs[0], node.outputs[0])):
        return f"its producer {node.name!r} is not int8 (the A16W8 kernels write dense outputs)"
    return None


def out_rows(node: Node, graph: Graph) -> tuple[int, int] | None:
    """(row bytes, row stride) of `node`'s output when it is a strided Concat slice, else None."""
    return graph.memory.view_rows.get(node.outputs[0]) if graph.memory is not None else None


def out_stride(node: Node, graph: Graph, dense: int) -> int:
    """The bytes between `node`'s output pixels: its row stride in the plan, else `dense`."""
    stride = graph.memory.row_stride(node.outputs[0]) if graph.memory is not None else None
    return dense if stride is None else stride


__all__ = ["out_rows", "out_stride", "why_not_strided_output"]
