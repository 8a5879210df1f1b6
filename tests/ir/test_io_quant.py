"""qcomp.ir.io_quant: the int8 form of graph inputs and outputs, the one definition the manifest,
the integer reference's --raw, the llvm ABI and the C backend share."""
import numpy as np

from qcomp.ir import DType, Graph, QuantParams, TensorType, ops
from qcomp.ir.io_quant import input_forms, io_quant, output_forms

F, I8 = DType.FLOAT32, DType.INT8


def q(scale: float, zp: int) -> QuantParams:
    return QuantParams(np.array([scale], np.float32), np.array([zp], np.int32))


def _graph() -> Graph:
    """x -Quantize-> xq -Dequantize-> y (output, also read by Softmax) ; Softmax -> p (float output);
    z: an int8 input that is also an output."""
    g = Graph(name="io")
    g.add_input("x", TensorType((2, 4), F))
    g.add_input("z", TensorType((3,), I8, q(0.5, 3)))
    g.add_node(ops.Quantize(), ["x"], "xq", out_types=[TensorType((2, 4), I8, q(0.1, -5))])
    g.add_node(ops.Dequantize(), ["xq"], "y")
    g.add_node(ops.Softmax(axis=1), ["y"], "p")
    g.outputs = ["y", "p", "z"]
    return g


def test_forms_of_inputs_and_outputs():
    g = _graph()
    ins, outs = input_forms(g), output_forms(g)
    assert ins["x"].node is g.node("xq") and ins["x"].quant.scale[0] == np.float32(0.1)
    assert ins["z"].node is None and int(ins["z"].quant.zero_point[0]) == 3
    assert outs["y"].node is g.node("y") and int(outs["y"].quant.zero_point[0]) == -5
    assert outs["p"] is None                       # computed in float: no int8 form
    assert outs["z"].node is None and outs["z"].quant.scale[0] == np.float32(0.5)
    flat = io_quant(g)
    assert flat["p"] is None and int(flat["x"].zero_point[0]) == -5 and int(flat["z"].zero_point[0]) == 3


def test_an_input_read_only_by_float_ops_has_no_int8_form():
    g = Graph(name="f")
    g.add_input("x", TensorType((4,), F))
    g.add_node(ops.Relu(), ["x"], "r")
    g.outputs = ["r"]
    assert input_forms(g) == {"x": None} and output_forms(g) == {"r": None}


def test_quantizes_that_disagree_give_no_int8_form_and_agreeing_ones_do():
    g = Graph(name="two")
    g.add_input("x", TensorType((4,), F))
    g.add_node(ops.Quantize(), ["x"], "a", out_types=[TensorType((4,), I8, q(0.1, 0))])
    g.add_node(ops.Quantize(), ["x"], "b", out_types=[TensorType((4,), I8, q(0.2, 0))])
    g.outputs = ["a", "b"]
    assert input_forms(g)["x"] is None
    g.types["b"] = TensorType((4,), I8, q(0.1, 0))
    assert input_forms(g)["x"].node is g.node("a")
