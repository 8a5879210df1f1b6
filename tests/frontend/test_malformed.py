"""Malformed models the importer fuzzer (fuzz.py) found crashing the importer or leaking internals:
each is now one QcompError in qcomp's words, raised before anything large is allocated."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from onnx import TensorProto, helper

from qcomp.errors import ModelLoadError, ShapeError, UnsupportedModelError
from qcomp.frontend import import_onnx

from .fuzz import LEAK, ROOT
from .onnx_util import model

n = helper.make_node


def _add_w(w=np.ones(4, np.float32)):
    return model([n("Add", ["x", "w"], ["y"], name="add")], {"x": (4,)}, ["y"], {"w": w})


def _message(m, cls=ModelLoadError) -> str:
    with pytest.raises(cls) as e:
        import_onnx(m)
    msg = str(e.value)
    assert not LEAK.search(msg), msg
    return msg


def test_corrupt_protobuf_names_no_decoder_internals(tmp_path):
    path = tmp_path / "corrupt.onnx"
    path.write_bytes(b"\x08" + b"\xff" * 11 + _add_w().SerializeToString())   # a varint longer than 10 bytes
    with pytest.raises(ModelLoadError) as e:
        import_onnx(path)
    assert "does not parse as an ONNX protobuf" in str(e.value) and "DecodeError" not in str(e.value)


def test_raw_data_shorter_than_dims():
    m = _add_w()
    m.graph.initializer[0].raw_data = b"\x00" * 3
    assert "initializer 'w' cannot be read: it declares shape (4,) of FLOAT (16 bytes) but holds 3 bytes; the file " \
           "is corrupt or truncated" in _message(m)


def test_huge_dims_are_refused_before_allocating():
    m = _add_w()
    m.graph.initializer[0].dims[0] = 2 ** 40
    assert "declares shape (1099511627776,) of FLOAT (4,398,046,511,104 bytes) but holds 16 bytes" in _message(m)


def test_huge_dims_of_a_typed_field():
    m = _add_w()
    t = m.graph.initializer[0]
    t.ClearField("raw_data")
    t.float_data.extend([1.0] * 4)
    t.dims[0] = 2 ** 40
    assert "(1,099,511,627,776 entries in float_data) but holds 4 entries in float_data" in _message(m)


def test_negative_dim_and_unknown_element_type():
    m = _add_w()
    m.graph.initializer[0].dims[0] = -4
    assert "initializer 'w' cannot be read: it has a negative dimension in its shape (-4,)" in _message(m)
    m = _add_w()
    m.graph.initializer[0].data_type = 99
    assert "it has element type 99 (not an ONNX type), which ONNX does not define" in _message(m)


def test_graph_output_that_nothing_computes():
    m = _add_w()
    del m.graph.node[:]
    assert "graph output 'y' is not computed by any node, input or initializer" in _message(m)


def test_graph_input_listed_twice():
    m = _add_w()
    m.graph.input.add().CopyFrom(m.graph.input[0])
    assert "graph input 'x' is listed twice" in _message(m)


def test_graph_output_listed_twice():
    m = _add_w()
    m.graph.output.add().CopyFrom(m.graph.output[0])
    assert "graph output 'y' is listed twice" in _message(m)


def test_value_written_by_two_nodes():
    m = model([n("Relu", ["x"], ["y"], name="a"), n("Neg", ["x"], ["y"], name="b")], {"x": (2,)}, ["y"])
    assert "node 'b' (Neg, domain ai.onnx, opset 13) writes 'y', which node 'a' already defines" in _message(m)


def test_cycle_is_reported_as_an_undefined_read():
    m = model([n("Relu", ["b"], ["a"], name="first"), n("Neg", ["a"], ["b"], name="second")], {"x": (2,)}, ["b"])
    assert "node 'first' (Relu, domain ai.onnx, opset 13) reads 'b', which no earlier node" in _message(m)


def test_name_that_is_not_utf8(tmp_path):
    data = _add_w().SerializeToString().replace(b"Add", b"A\xffd")
    path = tmp_path / "bad_name.onnx"
    path.write_bytes(data)
    with pytest.raises(ModelLoadError, match=r"a name, op type or attribute name of node #0 is not valid UTF-8"):
        import_onnx(path)


@pytest.mark.parametrize("node, inits, want", [
    (n("Concat", ["x", "x"], ["y"], name="cat", axis=[1]), {},
     "node 'cat' (Concat, domain ai.onnx, opset 13): attribute 'axis' is a list of ints; ONNX defines it as an int"),
    (n("Concat", ["x", "v"], ["y"], name="cat", axis=0), {"v": np.ones((2, 2), np.float32)},
     "node 'cat' (Concat, domain ai.onnx, opset 13): the input shapes [(1, 2, 3, 3), (2, 2)] differ outside axis 0"),
    (n("Conv", ["x", "w"], ["y"], name="conv", pads=[1, 1]), {"w": np.ones((4, 2, 3, 3), np.float32)},
     "node 'conv' (Conv, domain ai.onnx, opset 13): attribute 'pads' has 2 values; this op needs 4"),
    (n("ConvTranspose", ["x", "w"], ["y"], name="deconv", pads=[1, 1, 1]), {"w": np.ones((2, 4, 3, 3), np.float32)},
     "node 'deconv' (ConvTranspose, domain ai.onnx, opset 13): attribute 'pads' has 3 values; this op needs 4"),
    (n("Pad", ["x", "pads"], ["y"], name="pad"), {"pads": np.array([0, 0, 0, -9, 0, 0, 0, 0], np.int64)},
     "node 'pad' (Pad, domain ai.onnx, opset 13): pads (0, 0, 0, -9, 0, 0, 0, 0) crop more than the shape"),
])
def test_malformed_attributes_and_shapes(node, inits, want):
    assert want in _message(model([node], {"x": (1, 2, 3, 3)}, ["y"], inits), UnsupportedModelError)


def test_dequantized_weight_with_a_scale_per_wrong_axis():
    m = model([n("DequantizeLinear", ["q", "s", "z"], ["w"], name="dq", axis=0),
               n("Conv", ["x", "w"], ["y"], name="conv")], {"x": (1, 2, 3, 3)}, ["y"],
              {"q": np.ones((4, 2, 1, 1), np.int8), "s": np.full(4, 0.1, np.float32), "z": np.zeros(2, np.int8)})
    assert "node 'dq' (DequantizeLinear, domain ai.onnx, opset 13): the zero point of 'w' has 2 values; 'w' of " \
           "shape (4, 2, 1, 1) needs 1 (per tensor) or 4 (per channel along axis 0)" in \
           _message(m, UnsupportedModelError)


def test_model_that_aborts_onnx_shape_inference_is_refused_cleanly():
    # onnx.shape_inference aborts the process (a C++ assertion) on this Pad -> Slice; qcomp must not call it
    script = (
        "import numpy as np; from onnx import helper; from tests.frontend.onnx_util import model\n"
        "from qcomp.errors import QcompError; from qcomp.frontend import import_onnx\n"
        "n = helper.make_node\n"
        "m = model([n('Pad', ['x', 'pads'], ['p']), n('Slice', ['p', 'st', 'en', 'ax', 'sp'], ['y'])],"
        " {'x': (1, 2, 5, 5)},"
        " ['y'], {'pads': np.array([0, 0, 0, 0, 0, 0, 0, -2**40]), 'st': np.array([-1]), 'en': np.array([-100]),"
        " 'ax': np.array([3]), 'sp': np.array([-1])}, opset=18)\n"
        "try:\n    import_onnx(m)\nexcept QcompError as e:\n    print('refused', str(e).splitlines()[1])\n")
    proc = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "refused   node 'Pad_0' (Pad, domain ai.onnx, opset 18): pads" in proc.stdout


def test_empty_value_attribute_of_constant():
    bad = helper.make_attribute("value", 1.5)   # a float where ONNX defines a tensor
    node = n("Constant", [], ["c"], name="const")
    node.attribute.append(bad)
    m = model([node, n("Add", ["x", "c"], ["y"])], {"x": (2,)}, ["y"])
    assert "node 'const' (Constant, domain ai.onnx, opset 13): attribute 'value' is a float; ONNX defines it as a " \
           "tensor" in _message(m, UnsupportedModelError)


def test_huge_input_is_refused_without_allocating():
    m = model([n("Relu", ["x"], ["y"], name="relu")], {"x": (1, 2 ** 40)}, ["y"])
    with pytest.raises(ShapeError, match=r"input 'x' has shape \(1, 1099511627776\) \(4,398,046,511,104 bytes of "
                                         r"f32\); qcomp compiles tensors of at most 2,147,483,648 bytes"):
        import_onnx(m)


def test_empty_tensor_with_a_huge_dim_is_refused():
    # a dim of 0 does not make a 2**41 dim beside it harmless: later ops compute with it
    m = model([n("Slice", ["x", "st", "en", "ax"], ["e"], name="empty"),
               n("Resize", ["e", "", "scales"], ["y"], name="rs")], {"x": (1, 1, 2, 2)}, ["y"],
              {"st": np.array([1]), "en": np.array([1]), "ax": np.array([0]),
               "scales": np.array([1, 1, 1, 2 ** 40], np.float32)})
    assert "node 'rs' (Resize, domain ai.onnx, opset 13): its result would have shape (0, 2, 2199023255552, 1)" \
        in _message(m, UnsupportedModelError)


def test_com_microsoft_op_without_its_output():
    m = model([n("QLinearSigmoid", ["x", "s", "z", "s", "z"], [], name="qsig", domain="com.microsoft"),
               n("Relu", ["x"], ["y"])], {"x": (2,)}, ["y"], {"s": np.float32(0.1), "z": np.uint8(0)},
              dtypes={"x": TensorProto.UINT8})
    m.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    assert "node 'qsig' (QLinearSigmoid, domain com.microsoft, opset 1): has 5 inputs and 0 outputs; QLinearSigmoid " \
           "takes 4..5 inputs and makes one output" in _message(m, UnsupportedModelError)


def test_huge_intermediate_is_refused_without_allocating():
    m = model([n("Resize", ["x", "", "scales"], ["y"], name="blowup")], {"x": (1, 2, 8, 8)}, ["y"],
              {"scales": np.array([1, 1, 2 ** 16, 2 ** 16], np.float32)})
    assert "node 'blowup' (Resize, domain ai.onnx, opset 13): its result would have shape (1, 524288, 524288, 2) " \
           "(2,199,023,255,552 bytes of f32); qcomp compiles tensors of at most 2,147,483,648 bytes" in \
           _message(m, UnsupportedModelError)


@pytest.mark.parametrize("nodes, inputs, inits, want", [
    ([n("MatMul", ["x", "w"], ["y"], name="mm")], {"x": (2, 3)}, {"w": np.ones((4, 5), np.float32)},
     "node 'mm' (MatMul, domain ai.onnx, opset 13): MatMul of shapes (2, 3) and (4, 5): inner dimensions 3 and 4 "
     "differ"),
    ([n("ConvTranspose", ["x", "w"], ["y"], name="deconv", group=-2)], {"x": (1, 4, 3, 3)},
     {"w": np.ones((4, 2, 3, 3), np.float32)}, "node 'deconv' (ConvTranspose, domain ai.onnx, opset 13): group -2 must "
                                               "be positive"),
    ([n("Resize", ["x", "", "s"], ["y"], name="rs")], {"x": (1, 1, 2, 2)},
     {"s": np.array([1, 1, np.nan, 2], np.float32)},
     "node 'rs' (Resize, domain ai.onnx, opset 13): scales [1.0, 1.0, nan, 2.0] must be finite and positive"),
    ([n("Unsqueeze", ["x", "ax"], ["y"], name="unsq")], {"x": (2,)}, {"ax": np.array([0, 0], np.int64)},
     "node 'unsq' (Unsqueeze, domain ai.onnx, opset 13): axes (0, 0) name an axis twice"),
    ([n("Reshape", ["x", "s"], ["y"], name="rsh")], {"x": (2, 2)}, {"s": np.array([4.0], np.float32)},
     "node 'rsh' (Reshape, domain ai.onnx, opset 13): shape (input 1) is float32; ONNX defines it as int64"),
    ([n("Gemm", ["x", ""], ["y"], name="gemm")], {"x": (2, 2)}, {},
     "node 'gemm' (Gemm, domain ai.onnx, opset 13): input 1 (B) is empty, but the ONNX schema of Gemm requires it"),
    ([n("MaxPool", ["x"], ["y"], name="pool", kernel_shape=[2, 2], strides=[1, 0])], {"x": (1, 1, 4, 4)}, {},
     "node 'pool' (MaxPool, domain ai.onnx, opset 13): strides (1, 0) must be positive"),
    ([n("Conv", ["x", "w"], ["y"], name="conv", pads=[0, -1, 0, 0])], {"x": (1, 1, 4, 4)},
     {"w": np.ones((1, 1, 2, 2), np.float32)}, "node 'conv' (Conv, domain ai.onnx, opset 13): pads (0, -1, 0, 0) must be "
                                               "non-negative"),
    ([n("LeakyRelu", ["x"], ["y"], name="leaky", alpha=float("nan"))], {"x": (2,)}, {},
     "node 'leaky' (LeakyRelu, domain ai.onnx, opset 13): attribute 'alpha' is NaN"),
])
def test_malformed_nodes_found_by_the_fuzzer(nodes, inputs, inits, want):
    assert want in _message(model(nodes, inputs, ["y"], inits), UnsupportedModelError)
