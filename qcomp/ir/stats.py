"""Static costs of a graph: multiply-accumulates per node, parameters and weight bytes.

MACs count one multiply-add per weight use: Conv2D N*OH*OW*O*KH*KW*(C/group); ConvTranspose2D
N*H*W*C*KH*KW*(O/group); Dense prod(x.shape[:-1])*N*K; MatMul prod(batch)*M*N*K; their integer
forms of the TARGET stage (QConv2D and QConv2DAdd, QConvTranspose2D, QDense, QMatMul, DynamicDense, DynamicMatMul,
and DynamicDense's fused and per-row forms) count the same. Other ops count 0 (their cost is memory traffic, not MACs).
"""
from __future__ import annotations


from . import ops, qops, qops_fused, qops_rows, qops_split
from .graph import Graph, Node


def node_macs(g: Graph, n: Node) -> int:
    t = [g.types[i] for i in n.inputs]
    out = g.types[n.outputs[0]]
    if isinstance(n.op, (ops.Conv2D, qops.QConv2D, qops.QConv2DAdd)):
        o, kh, kw, cg = t[1].shape
        return out.size * kh * kw * cg
    if isinstance(n.op, (ops.ConvTranspose2D, qops.QConvTranspose2D)):
        o, kh, kw, cg = t[1].shape
        return t[0].size * kh * kw * (o // n.op.group)
    if isinstance(n.op, (ops.Dense, qops.QDense, qops.DynamicDense)):
        return out.size * t[1].shape[1]
    if isinstance(n.op, (ops.MatMul, qops.QMatMul, qops.DynamicMatMul)):
        return out.size * t[0].shape[-1]
    if isinstance(n.op, _DYNAMIC_DENSE_FORMS):   # ir/qops_fused.py, ir/qops_rows.py: DynamicDense's product
        return out.size * t[1].shape[1]
    if isinstance(n.op, qops_fused.DynamicMatMulScaleAdd):   # DynamicMatMul's product
        return out.size * t[0].shape[-1]
    if isinstance(n.op, qops_fused.DynamicAttention):   # Q K^T and P V of every head
        q, k, v = (x.shape for x in t[:3])
        return q[0] * q[2] * q[1] * k[1] * (q[3] + v[3])
    if isinstance(n.op, qops_split.DynamicDenseSplit):   # the stacked DynamicDense: every part's output
        return sum(g.types[o].size for o in n.outputs) * t[1].shape[1]
    return 0


_DYNAMIC_DENSE_FORMS = (qops_fused.DynamicDenseGelu, qops_fused.DynamicDenseAddNorm, qops_rows.DynamicDenseRows)


def graph_macs(g: Graph) -> int:
    return int(sum(node_macs(g, n) for n in g.nodes))


def activation_bytes(g: Graph) -> int:
    """Sum of the sizes of every non-constant value (what a memory plan without reuse would need)."""
    return int(sum(t.nbytes for name, t in g.types.items() if name not in g.constants))


def constant_stats(g: Graph) -> tuple[int, int]:
    """(parameter count, weight bytes) over the graph's constants."""
    return (int(sum(a.size for a in g.constants.values())),
            int(sum(a.nbytes for a in g.constants.values())))


__all__ = ["node_macs", "graph_macs", "activation_bytes", "constant_stats"]
