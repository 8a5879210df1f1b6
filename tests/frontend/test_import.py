"""Structure of imported graphs: layout (counted on printed IR), folding, Constant-node weights,
names, boundary types, metadata."""
from __future__ import annotations

import hashlib

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from qcomp.frontend import import_onnx
from qcomp.ir import DType, Stage, format_graph, verify
from qcomp.ref import run_float

from .onnx_util import assert_matches, model, run_onnxruntime


def _w(rng, *shape):
    return (rng.standard_normal(shape) / np.sqrt(np.prod(shape[1:]) if len(shape) > 1 else 1)).astype(np.float32)


def _ops(g) -> list[str]:
    return [n.kind for n in g.nodes]


def _count(text: str, kind: str) -> int:
    return sum(f"= {kind}(" in line for line in text.splitlines())


def typical_cnn(rng, opset=13) -> onnx.ModelProto:
    """Conv-BN-Relu, MaxPool, depthwise Conv, residual Add, GlobalAveragePool, Flatten, Gemm."""
    n = helper.make_node
    nodes = [
        n("Conv", ["x", "w1", "b1"], ["c1"], name="conv1", pads=[1, 1, 1, 1]),
        n("BatchNormalization", ["c1", "g1", "be1", "m1", "v1"], ["bn1"], name="bn1"),
        n("Relu", ["bn1"], ["r1"], name="relu1"),
        n("MaxPool", ["r1"], ["p1"], name="pool1", kernel_shape=[2, 2], strides=[2, 2]),
        n("Conv", ["p1", "w2", "b2"], ["c2"], name="dw", group=8, pads=[1, 1, 1, 1]),
        n("Clip", ["c2", "lo", "hi"], ["r2"], name="relu6"),
        n("Add", ["r2", "p1"], ["a"], name="residual"),
        n("GlobalAveragePool", ["a"], ["gap"], name="gap"),
        n("Flatten", ["gap"], ["flat"], name="flatten"),
        n("Gemm", ["flat", "wf", "bf"], ["logits"], name="fc", transB=1),
    ]
    inits = {"w1": _w(rng, 8, 3, 3, 3), "b1": _w(rng, 8), "g1": _w(rng, 8) + 1, "be1": _w(rng, 8),
             "m1": _w(rng, 8), "v1": np.abs(_w(rng, 8)) + 0.5, "w2": _w(rng, 8, 1, 3, 3), "b2": _w(rng, 8),
             "lo": np.float32(0.0), "hi": np.float32(6.0), "wf": _w(rng, 10, 8), "bf": _w(rng, 10)}
    return model(nodes, {"x": (1, 3, 15, 15)}, ["logits"], inits, opset, output_shapes={"logits": [1, 10]})


def test_typical_cnn_has_one_transpose_and_a_reshape_at_flatten(rng):
    m = typical_cnn(rng)
    g = import_onnx(m)
    text = format_graph(g)
    assert _count(text, "Transpose") == 1, text
    assert "%x_nhwc = Transpose(%x) {perm=(0, 2, 3, 1)}" in text
    assert _count(text, "Reshape") == 1 and "# 'flatten'" in [ln for ln in text.splitlines() if "Reshape(" in ln][0]
    assert _ops(g) == ["Transpose", "Conv2D", "BatchNorm", "Relu", "MaxPool2D", "Conv2D", "Clip", "Add",
                       "ReduceMean", "Reshape", "Dense"]
    assert g.types["c1"].shape == (1, 15, 15, 8)            # NHWC inside
    assert g.node("gap").op.axes == (1, 2)
    x = rng.standard_normal((1, 3, 15, 15)).astype(np.float32)
    assert_matches(run_float(g, {"x": x}), run_onnxruntime(m, {"x": x}))


def test_boundary_keeps_onnx_names_shapes_and_layout(rng):
    # the output is a Conv's NHWC result: it goes back to NCHW under the ONNX output name
    nodes = [helper.make_node("Conv", ["x", "w"], ["y"], name="conv", pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["y"], ["z"], name="relu")]
    m = model(nodes, {"x": (1, 3, 7, 5)}, ["y", "z"], {"w": _w(rng, 4, 3, 3, 3)})
    g = import_onnx(m)
    assert g.inputs == ["x"] and g.outputs == ["y", "z"]
    assert g.types["x"].shape == (1, 3, 7, 5) and g.types["x"].dtype is DType.FLOAT32
    assert g.types["y"].shape == (1, 4, 7, 5) and g.types["z"].shape == (1, 4, 7, 5)
    assert g.node("conv").outputs == ("y_nhwc",)             # the NHWC value gave its name to the output
    text = format_graph(g)
    assert _count(text, "Transpose") == 3, text             # x in, y and z out
    x = rng.standard_normal((1, 3, 7, 5)).astype(np.float32)
    assert_matches(run_float(g, {"x": x}), run_onnxruntime(m, {"x": x}))


def test_unit_spatial_output_leaves_nhwc_through_a_reshape(rng):
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], name="conv"),
             helper.make_node("GlobalAveragePool", ["c"], ["y"], name="gap")]
    g = import_onnx(model(nodes, {"x": (1, 3, 5, 5)}, ["y"], {"w": _w(rng, 6, 3, 3, 3)}))
    assert _ops(g) == ["Transpose", "Conv2D", "ReduceMean", "Reshape"]
    assert g.types["y"].shape == (1, 6, 1, 1)


def test_binary_ops_keep_nhwc_and_bring_onnx_operands_to_it(rng):
    # Add(conv(x), x): x is already NHWC for the conv, so the Add reuses that Transpose
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], name="conv", pads=[1, 1, 1, 1]),
             helper.make_node("Add", ["c", "x"], ["s"], name="add"),
             helper.make_node("Mul", ["s", "k"], ["m"], name="mul"),
             helper.make_node("Conv", ["m", "w"], ["y"], name="conv2", pads=[1, 1, 1, 1])]
    m = model(nodes, {"x": (1, 3, 6, 7)}, ["y"], {"w": _w(rng, 3, 3, 3, 3), "k": _w(rng, 3, 1, 1)})
    g = import_onnx(m)
    text = format_graph(g)
    assert _count(text, "Transpose") == 2, text             # x in, y out
    assert g.types[g.node("mul").inputs[1]].shape == (1, 1, 1, 3)   # constant (3,1,1) -> NHWC (1,1,1,3)
    x = rng.standard_normal((1, 3, 6, 7)).astype(np.float32)
    assert_matches(run_float(g, {"x": x}), run_onnxruntime(m, {"x": x}))


def test_axis_ops_are_remapped_not_materialized(rng):
    n = helper.make_node
    nodes = [n("Conv", ["x", "w"], ["c"], name="conv"),
             n("Concat", ["c", "c"], ["cat"], name="cat", axis=1),
             n("Softmax", ["cat"], ["sm"], name="softmax", axis=1),
             n("ReduceMean", ["sm"], ["mean"], name="mean", axes=[1], keepdims=1),
             n("Conv", ["mean", "w1"], ["y"], name="conv2")]
    m = model(nodes, {"x": (1, 3, 5, 5)}, ["y"], {"w": _w(rng, 4, 3, 1, 1), "w1": _w(rng, 2, 1, 1, 1)})
    g = import_onnx(m)
    assert g.node("cat").op.axis == 3 and g.node("softmax").op.axis == 3 and g.node("mean").op.axes == (3,)
    assert _count(format_graph(g), "Transpose") == 2
    x = rng.standard_normal((1, 3, 5, 5)).astype(np.float32)
    assert_matches(run_float(g, {"x": x}), run_onnxruntime(m, {"x": x}))


def test_transpose_is_a_layout_change_without_a_node(rng):
    # NCHW -> NHWC transpose at the end of a model: the conv's NHWC value already is the output
    nodes = [helper.make_node("Conv", ["x", "w"], ["c"], name="conv"),
             helper.make_node("Transpose", ["c"], ["y"], name="to_nhwc", perm=[0, 2, 3, 1])]
    m = model(nodes, {"x": (1, 3, 5, 7)}, ["y"], {"w": _w(rng, 4, 3, 1, 1)})
    g = import_onnx(m)
    assert _ops(g) == ["Transpose", "Conv2D", "Reshape"]      # the input's transpose; a free rename
    assert g.types["y"].shape == (1, 5, 7, 4)
    x = rng.standard_normal((1, 3, 5, 7)).astype(np.float32)
    assert_matches(run_float(g, {"x": x}), run_onnxruntime(m, {"x": x}))


def test_shape_subgraph_folds_into_one_reshape(rng):
    # y = Reshape(c, Concat(Unsqueeze(Gather(Shape(c), 0)), [-1])): torch's flatten export
    n = helper.make_node
    nodes = [n("Conv", ["x", "w"], ["c"], name="conv"),
             n("Shape", ["c"], ["shape"], name="shape"),
             n("Gather", ["shape", "zero"], ["batch"], name="gather", axis=0),
             n("Unsqueeze", ["batch", "axes0"], ["batch1"], name="unsqueeze"),
             n("Concat", ["batch1", "minus1"], ["target"], name="concat", axis=0),
             n("Cast", ["target"], ["target64"], name="cast", to=TensorProto.INT64),
             n("Reshape", ["c", "target64"], ["y"], name="reshape")]
    inits = {"w": _w(rng, 4, 3, 3, 3), "zero": np.array(0, np.int64), "axes0": np.array([0], np.int64),
             "minus1": np.array([-1], np.int64)}
    m = model(nodes, {"x": (2, 3, 5, 5)}, ["y"], inits)
    g = import_onnx(m)
    assert _ops(g) == ["Transpose", "Conv2D", "Transpose", "Reshape"]
    assert g.node("reshape").op.shape == (2, 36)
    assert not any(k in g.constants for k in ("shape", "zero", "axes0", "minus1", "target"))
    x = rng.standard_normal((2, 3, 5, 5)).astype(np.float32)
    assert_matches(run_float(g, {"x": x}), run_onnxruntime(m, {"x": x}))


def test_constant_of_shape_range_where_expand_fold(rng):
    n = helper.make_node
    nodes = [n("Shape", ["x"], ["s"], name="shape", start=-1),
             n("ConstantOfShape", ["s"], ["ones"], name="cos",
               value=numpy_helper.from_array(np.array([1.0], np.float32))),
             n("Range", ["r0", "r1", "r2"], ["ramp"], name="range"),
             n("Cast", ["ramp"], ["rampf"], name="cast", to=TensorProto.FLOAT),
             n("Equal", ["rampf", "ones"], ["eq"], name="equal"),
             n("Where", ["eq", "ones", "rampf"], ["sel"], name="where"),
             n("Expand", ["sel", "tgt"], ["big"], name="expand"),
             n("Mul", ["x", "big"], ["y"], name="mul")]
    inits = {"r0": np.array(0.0, np.float32), "r1": np.array(5.0, np.float32), "r2": np.array(1.0, np.float32),
             "tgt": np.array([3, 1], np.int64)}
    m = model(nodes, {"x": (3, 5)}, ["y"], inits, opset=15)
    g = import_onnx(m)
    assert _ops(g) == ["Mul"]
    np.testing.assert_array_equal(g.constants[g.node("mul").inputs[1]], np.tile([0, 1, 2, 3, 4], (3, 1)))
    x = rng.standard_normal((3, 5)).astype(np.float32)
    assert_matches(run_float(g, {"x": x}), run_onnxruntime(m, {"x": x}))


def test_weights_from_constant_nodes(rng):
    w = _w(rng, 4, 3, 3, 3)
    n = helper.make_node
    nodes = [n("Constant", [], ["w"], name="wconst", value=numpy_helper.from_array(w)),
             n("Constant", [], ["lo"], name="lo", value_float=-0.5),
             n("Constant", [], ["hi"], name="hi", value_floats=[0.5]),
             n("Constant", [], ["shape"], name="shape", value_ints=[1, -1]),
             n("Constant", [], ["one"], name="one", value_int=1),
             n("Conv", ["x", "w"], ["c"], name="conv"),
             n("Clip", ["c", "lo", "hi"], ["r"], name="clip"),
             n("Reshape", ["r", "shape"], ["flat"], name="reshape"),
             n("Cast", ["one"], ["onef"], name="cast", to=TensorProto.FLOAT),
             n("Add", ["flat", "onef"], ["y"], name="add")]
    m = model(nodes, {"x": (1, 3, 5, 5)}, ["y"])
    g = import_onnx(m)
    assert g.node("clip").op.min == -0.5 and g.node("clip").op.max == 0.5
    np.testing.assert_array_equal(g.constants[g.node("conv").inputs[1]], w.transpose(0, 2, 3, 1))
    assert g.types["y"].shape == (1, 36)
    x = rng.standard_normal((1, 3, 5, 5)).astype(np.float32)
    assert_matches(run_float(g, {"x": x}), run_onnxruntime(m, {"x": x}))


def test_initializer_listed_as_input_is_a_constant(rng):
    w = _w(rng, 4, 3)
    g = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"], name="mm")], "old_style",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 4]),
         helper.make_tensor_value_info("w", TensorProto.FLOAT, [4, 3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 3])], [numpy_helper.from_array(w, "w")])
    ir = import_onnx(helper.make_model(g, opset_imports=[helper.make_opsetid("", 11)], ir_version=6))
    assert ir.inputs == ["x"] and _ops(ir) == ["Dense"]
    np.testing.assert_array_equal(ir.constants["w"], w.T)


def test_names_and_metadata(rng):
    n = helper.make_node
    nodes = [n("Relu", ["x"], ["a"]), n("Relu", ["a"], ["b"]), n("Sigmoid", ["b"], ["c"], name="dup"),
             n("Tanh", ["c"], ["y"], name="dup")]
    m = model(nodes, {"x": (2, 3)}, ["y"])
    g = import_onnx(m)
    assert [nd.name for nd in g.nodes] == ["Relu_0", "Relu_1", "dup", "dup_1"]
    assert [nd.outputs[0] for nd in g.nodes] == ["a", "b", "c", "y"]
    assert g.stage is Stage.FLOAT and verify(g) is g
    assert g.meta["opset"] == "13" and g.meta["producer"] == "qcomp-tests"
    assert g.meta["ir_version"] == str(m.ir_version)
    assert g.meta["source_sha256"] == hashlib.sha256(m.SerializeToString()).hexdigest()


def test_path_input_hashes_the_file_and_fixes_dynamic_dims(tmp_path, rng):
    m = model([helper.make_node("Relu", ["x"], ["y"], name="relu")], {"x": ("N", 3, 5)}, ["y"])
    path = tmp_path / "m.onnx"
    onnx.save(m, path)
    g = import_onnx(path, input_shapes={"x": (2, 3, 5)})
    assert g.types["x"].shape == (2, 3, 5) and g.types["y"].shape == (2, 3, 5)
    assert g.meta["source_sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()


def test_integer_inputs_gather_embedding_and_cast(rng):
    n = helper.make_node
    table = _w(rng, 20, 6)
    nodes = [n("Gather", ["table", "ids"], ["e"], name="embed"),
             n("Cast", ["mask"], ["maskf"], name="cast", to=TensorProto.FLOAT),
             n("Unsqueeze", ["maskf", "ax"], ["mask3"], name="unsq"),
             n("Mul", ["e", "mask3"], ["y"], name="mul")]
    m = model(nodes, {"ids": (1, 9), "mask": (1, 9)}, ["y"], {"table": table, "ax": np.array([-1], np.int64)},
              dtypes={"ids": TensorProto.INT64, "mask": TensorProto.INT64})
    g = import_onnx(m)
    assert g.types["ids"].dtype is DType.INT64 and g.types["maskf"].dtype is DType.FLOAT32
    feeds = {"ids": rng.integers(0, 20, (1, 9)).astype(np.int64), "mask": (rng.random((1, 9)) > 0.3).astype(np.int64)}
    assert_matches(run_float(g, feeds), run_onnxruntime(m, feeds))


def test_identity_output_and_constant_output(rng):
    n = helper.make_node
    nodes = [n("Identity", ["x"], ["y"], name="id"), n("Shape", ["x"], ["s"], name="shape")]
    m = model(nodes, {"x": (2, 3)}, ["y", "s"])
    g = import_onnx(m)
    assert g.outputs == ["y", "s"]
    np.testing.assert_array_equal(g.constants["s"], [2, 3])
    x = rng.standard_normal((2, 3)).astype(np.float32)
    out = run_float(g, {"x": x})
    np.testing.assert_array_equal(out["y"], x)
    np.testing.assert_array_equal(out["s"], [2, 3])


def test_nhwc_model_with_explicit_transposes_needs_none(rng):
    # a TF-style model: NHWC input, Transpose to NCHW, Conv, Transpose back to NHWC
    n = helper.make_node
    nodes = [n("Transpose", ["x"], ["xt"], name="to_nchw", perm=[0, 3, 1, 2]),
             n("Conv", ["xt", "w"], ["c"], name="conv", pads=[1, 1, 1, 1]),
             n("Relu", ["c"], ["r"], name="relu"),
             n("Transpose", ["r"], ["y"], name="to_nhwc", perm=[0, 2, 3, 1])]
    m = model(nodes, {"x": (1, 7, 5, 3)}, ["y"], {"w": _w(rng, 4, 3, 3, 3)})
    g = import_onnx(m)
    assert _ops(g) == ["Conv2D", "Relu", "Reshape"]           # the Reshape only renames r to y
    x = rng.standard_normal((1, 7, 5, 3)).astype(np.float32)
    assert_matches(run_float(g, {"x": x}), run_onnxruntime(m, {"x": x}))


def test_conv1d_chain_stays_channels_last(rng):
    n = helper.make_node
    c = np.abs(_w(rng, 4)) + 0.5
    nodes = [n("Conv", ["x", "w1"], ["c1"], name="conv1", pads=[1, 1]),
             n("BatchNormalization", ["c1", "c", "c", "c", "c"], ["bn"], name="bn"),
             n("Relu", ["bn"], ["r"], name="relu"),
             n("MaxPool", ["r"], ["p"], name="pool", kernel_shape=[2], strides=[2]),
             n("Conv", ["p", "w2"], ["y"], name="conv2")]
    m = model(nodes, {"x": (1, 3, 16)}, ["y"], {"w1": _w(rng, 4, 3, 3), "w2": _w(rng, 5, 4, 3), "c": c})
    g = import_onnx(m)
    assert _count(format_graph(g), "Transpose") == 2            # (N, C, L) in and out
    assert g.types["c1"].shape == (1, 16, 4)                     # (N, L, C) inside
    x = rng.standard_normal((1, 3, 16)).astype(np.float32)
    assert_matches(run_float(g, {"x": x}), run_onnxruntime(m, {"x": x}))


def test_gather_elements_folds_with_many_entries(rng):
    # torch's BERT export gathers its (1, 512) token-type buffer with (1, S) positions; onnx.reference
    # fails on more than 32 entries along the axis, qcomp's own fold does not
    n = helper.make_node
    buf = np.arange(512, dtype=np.int64)[None] * 3
    pos = np.arange(40, dtype=np.int64)[None][:, ::-1].copy()
    nodes = [n("GatherElements", ["buf", "pos"], ["g"], name="ge", axis=1),
             n("Cast", ["g"], ["gf"], name="cast", to=TensorProto.FLOAT),
             n("Add", ["x", "gf"], ["y"], name="add")]
    m = model(nodes, {"x": (1, 40)}, ["y"], {"buf": buf, "pos": pos})
    g = import_onnx(m)
    assert _ops(g) == ["Add"]
    np.testing.assert_array_equal(g.constants[g.node("add").inputs[1]], (pos * 3).astype(np.float32))
    x = rng.standard_normal((1, 40)).astype(np.float32)
    assert_matches(run_float(g, {"x": x}), run_onnxruntime(m, {"x": x}))


def test_dequantized_int8_weights_fold_into_float_weights(rng):
    n = helper.make_node
    wq = rng.integers(-127, 128, size=(4, 3, 3, 3)).astype(np.int8)
    scale = np.float32(0.02)
    nodes = [n("DequantizeLinear", ["wq", "scale"], ["w"], name="dq"),
             n("Conv", ["x", "w"], ["y"], name="conv")]
    m = model(nodes, {"x": (1, 3, 6, 6)}, ["y"], {"wq": wq, "scale": scale})
    g = import_onnx(m)
    assert _ops(g) == ["Transpose", "Conv2D", "Transpose"]
    np.testing.assert_array_equal(g.constants[g.node("conv").inputs[1]],
                                  (wq.astype(np.float32) * scale).transpose(0, 2, 3, 1))
    x = rng.standard_normal((1, 3, 6, 6)).astype(np.float32)
    assert_matches(run_float(g, {"x": x}), run_onnxruntime(m, {"x": x}))


def test_per_channel_dequantized_weights_fold(rng):
    n = helper.make_node
    wq = rng.integers(-127, 128, size=(5, 7)).astype(np.int8)
    scale = rng.uniform(0.01, 0.05, size=5).astype(np.float32)
    zp = rng.integers(-3, 4, size=5).astype(np.int8)
    nodes = [n("DequantizeLinear", ["wq", "scale", "zp"], ["w"], name="dq", axis=0),
             n("Gemm", ["x", "w"], ["y"], name="fc", transB=1)]
    m = model(nodes, {"x": (2, 7)}, ["y"], {"wq": wq, "scale": scale, "zp": zp})
    g = import_onnx(m)
    assert _ops(g) == ["Dense"]
    x = rng.standard_normal((2, 7)).astype(np.float32)
    assert_matches(run_float(g, {"x": x}), run_onnxruntime(m, {"x": x}))


def test_initializer_as_graph_output_keeps_its_name(rng):
    # w is a Conv weight (OHWI inside qcomp under the name 'w') and also a graph output (OIHW)
    w = _w(rng, 4, 3, 3, 3)
    m = model([helper.make_node("Conv", ["x", "w"], ["y"], name="conv")], {"x": (1, 3, 5, 5)}, ["y", "w"],
              {"w": w})
    g = import_onnx(m)
    assert g.outputs == ["y", "w"]
    np.testing.assert_array_equal(g.constants["w"], w)
    np.testing.assert_array_equal(g.constants[g.node("conv").inputs[1]], w.transpose(0, 2, 3, 1))
    x = rng.standard_normal((1, 3, 5, 5)).astype(np.float32)
    assert_matches(run_float(g, {"x": x}), run_onnxruntime(m, {"x": x}))
