"""Graph.unique_node_name keeps the names it has seen between calls (an importer adds thousands of
nodes; rebuilding the set per call was quadratic: a 512-step bidirectional LSTM took ~19 s to
import), and stays right when the node list is appended to, replaced or shortened."""
from __future__ import annotations

import time

from qcomp.ir import DType, Graph, TensorType, ops


def _graph(n: int) -> Graph:
    g = Graph(name="chain")
    g.add_input("x", TensorType((4,), DType.FLOAT32))
    v = "x"
    for _ in range(n):
        v = g.add_node(ops.Relu(), [v], "relu").outputs[0]
    g.outputs = [v]
    return g


def test_names_stay_unique_through_list_edits():
    g = _graph(5)
    names = [n.name for n in g.nodes]
    assert names == ["relu", "relu_1", "relu_2", "relu_3", "relu_4"]
    g.nodes = g.nodes[:2]                               # shortened: relu_2 is free again
    assert g.unique_node_name("relu") == "relu_2"
    g.nodes = list(g.nodes)                             # replaced by an equal list
    assert g.unique_node_name("relu_1") == "relu_1_1"
    g.nodes.append(g.nodes[0].__class__("late", ops.Relu(), ("x",), ("late_out",)))   # appended behind its back
    assert g.unique_node_name("late") == "late_1"


def test_many_nodes_import_in_linear_time():
    start = time.perf_counter()
    _graph(20000)
    assert time.perf_counter() - start < 10   # quadratic: minutes
