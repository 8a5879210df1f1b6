"""Op cases of the comparison, selection and index ops, built the compiler's way (float graph ->
calibrate -> quantize -> lower_integer; float_cases._finish), so each int8 form comes from its
quantization rule (qcomp/passes/quantize_logic.py):
- ReduceMin keeps its input's params; ArgMax / ArgMin of the int8 codes give int64 indices (int8
  codes tie often: select_last_index matters);
- Compare of two values with the same params (x against its own ReduceMax), of a value with a
  scalar threshold on either side (a threshold code), and Where of int8 operands requantized to
  the output's params; Not, And, Xor of the bools; bool results are model outputs.
"""
from __future__ import annotations

import numpy as np

from qcomp.ir import DType, Graph, TensorType, ops

from .float_cases import _finish

F = DType.FLOAT32


def reduce_min_arg(name: str, rng: np.random.Generator):
    g = Graph(name=name)
    g.add_input("x", TensorType((1, 5, 7, 13), F))
    g.add_node(ops.ReduceMin(axes=(1, 2), keepdims=True), ["x"], "rmin")
    g.add_node(ops.ArgMax(axis=3, keepdims=False), ["x"], "argmax")
    g.add_node(ops.ArgMin(axis=1, keepdims=True, select_last_index=True), ["x"], "argmin_last")
    g.add_node(ops.ReduceMin(axes=(3,), keepdims=False), ["x"], "rmin_c")
    g.outputs = ["rmin", "argmax", "argmin_last", "rmin_c"]
    return _finish(g, rng, {"x": 2.0})


def compare_where(name: str, rng: np.random.Generator):
    g = Graph(name=name)
    g.add_input("x", TensorType((2, 5, 7), F))
    g.add_input("y", TensorType((2, 5, 7), F))
    g.add_constant("c", np.array(0.3, np.float32))
    g.add_constant("c_left", np.array([[[-0.2]]], np.float32))
    g.add_node(ops.ReduceMax(axes=(2,), keepdims=True), ["x"], "rmax")
    g.add_node(ops.Compare("ge"), ["x", "rmax"], "is_max")
    g.add_node(ops.Compare("eq"), ["rmax", "x"], "eq_max")
    g.add_node(ops.Compare("gt"), ["x", "c"], "gt_c")
    g.add_node(ops.Compare("le"), ["c_left", "x"], "c_le")
    g.add_node(ops.Relu(), ["y"], "relu_y")
    g.add_node(ops.Where(), ["gt_c", "x", "relu_y"], "where")
    g.add_node(ops.Logical("xor"), ["gt_c", "c_le"], "xor")
    g.add_node(ops.Not(), ["xor"], "not")
    g.add_node(ops.Logical("and"), ["not", "is_max"], "and")
    g.outputs = ["is_max", "eq_max", "gt_c", "c_le", "where", "xor", "and"]
    return _finish(g, rng, {"y": 3.0})
