"""The verifier accepts well-formed graphs of each stage and names the broken invariant otherwise."""
import numpy as np
import pytest

from qcomp.ir import DType, Graph, IRError, Node, QuantParams, Stage, TensorType, format_graph, ops, verify

F = DType.FLOAT32


def small_cnn() -> Graph:
    g = Graph(name="cnn")
    g.add_input("x", TensorType((1, 8, 8, 3), F))
    w = g.add_constant("w", np.ones((4, 3, 3, 3), np.float32))
    b = g.add_constant("b", np.zeros(4, np.float32))
    g.add_node(ops.Conv2D(pads=(1, 1, 1, 1)), ["x", w, b], "conv")
    g.add_node(ops.Relu(), ["conv"], "relu")
    g.add_node(ops.ReduceMean(axes=(1, 2), keepdims=False), ["relu"], "gap")
    g.outputs = ["gap"]
    return g


def test_valid_float_graph_passes():
    g = small_cnn()
    assert verify(g) is g


def test_wrong_declared_shape_is_caught():
    g = small_cnn()
    g.types["relu"] = TensorType((1, 8, 8, 5), F)
    with pytest.raises(IRError, match=r"node 'relu' \(Relu\).*typed f32\[1x8x8x5\] but the op gives f32\[1x8x8x4\]"):
        verify(g)


def test_use_before_definition_is_caught():
    g = small_cnn()
    g.nodes.reverse()
    with pytest.raises(IRError, match="not defined before it"):
        verify(g)
    g.toposort()
    verify(g)


def test_missing_output_and_arity():
    g = small_cnn()
    g.outputs = ["nope"]
    with pytest.raises(IRError, match="graph output 'nope' is not defined"):
        verify(g)
    g = small_cnn()
    g.nodes[0].inputs = g.nodes[0].inputs[:2]
    with pytest.raises(IRError, match="2 inputs, the op takes 3"):
        verify(g)


def test_constant_must_match_type_and_be_read_only():
    g = small_cnn()
    g.constants["b"] = np.zeros(4, np.float32)  # writeable
    with pytest.raises(IRError, match="writeable"):
        verify(g)


def test_float_graph_rejects_quant_params_and_quant_ops():
    g = small_cnn()
    g.types["x"] = TensorType((1, 8, 8, 3), DType.INT8, QuantParams(0.1, 0))
    with pytest.raises(IRError):
        verify(g)
    g = small_cnn()
    g.add_node(ops.Quantize(), ["gap"], "q", out_types=[TensorType((1, 4), DType.INT8, QuantParams(0.1, 0))])
    g.outputs = ["q"]
    with pytest.raises(IRError, match="quantization op in a FLOAT graph"):
        verify(g)


def quantized_graph(with_quant=True) -> Graph:
    g = Graph(name="q", stage=Stage.QUANTIZED)
    g.add_input("x", TensorType((1, 4), F))
    qp = QuantParams(0.05, -3) if with_quant else None
    g.add_node(ops.Quantize(), ["x"], "xq", out_types=[TensorType((1, 4), DType.INT8, qp)])
    g.add_node(ops.Relu(), ["xq"], "r", out_types=[TensorType((1, 4), DType.INT8, qp)])
    g.add_node(ops.Dequantize(), ["r"], "y")
    g.outputs = ["y"]
    return g


def test_quantized_stage_requires_quant_params_on_int8():
    verify(quantized_graph())
    with pytest.raises(IRError, match="has no quant params"):
        verify(quantized_graph(with_quant=False))


def test_prune_and_replace_uses():
    g = small_cnn()
    g.add_node(ops.Sigmoid(), ["relu"], "dead")
    g.replace_uses("gap", "gap")
    g.prune()
    assert [n.name for n in g.nodes] == ["conv", "relu", "gap"] and "dead" not in g.types
    verify(g)


def test_copy_is_independent():
    g = small_cnn()
    h = g.copy()
    h.nodes.pop()
    h.outputs = ["relu"]
    verify(g), verify(h)
    assert len(g.nodes) == 3 and len(h.nodes) == 2


def test_printer_shows_ops_attrs_and_types():
    text = format_graph(small_cnn())
    assert text.splitlines()[0] == 'graph "cnn" FLOAT'
    assert "  input  %x: f32[1x8x8x3]" in text
    assert ("%conv = Conv2D(%x, %w, %b) {strides=(1, 1), pads=(1, 1, 1, 1), dilations=(1, 1), group=1} "
            ": f32[1x8x8x4]") in text
    assert "%gap = ReduceMean(%relu) {axes=(1, 2), keepdims=False} : f32[1x4]" in text
    assert isinstance(small_cnn().nodes[0], Node)


def test_target_stage_rejects_unlowered_quantized_arithmetic():
    g = Graph(name="t", stage=Stage.TARGET)
    qp = QuantParams(0.1, 0)
    g.add_input("a", TensorType((1, 4), DType.INT8, qp))
    g.add_node(ops.Add(), ["a", "a"], "add", out_types=[TensorType((1, 4), DType.INT8, qp)])
    g.outputs = ["add"]
    with pytest.raises(IRError, match="must be lowered"):
        verify(g)
    g.stage = Stage.QUANTIZED
    verify(g)
