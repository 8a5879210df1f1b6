"""The typed IR of qcomp: types, ops, graphs, the per-stage verifier and the text printer."""
from . import ops, qops, qops16
from . import qops_rows   # registers DynamicDenseRows in qops.INTEGER_OPS
from . import qops_intlut   # registers IntLut in qops.INTEGER_OPS
from .graph import Graph, Node, Stage
from .ops import ALL_OPS, Op
from .printer import format_graph, format_node
from .types import DType, IRError, QuantParams, TensorType, tensor_type_of
from .verify import verify, verify_all

__all__ = ["ops", "qops", "qops16", "Graph", "Node", "Stage", "ALL_OPS", "Op", "format_graph", "format_node", "DType",
           "IRError", "QuantParams", "TensorType", "tensor_type_of", "verify", "verify_all"]
