"""What users see when a model cannot be imported: one clear QcompError, never a traceback from
protobuf or onnx."""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

from qcomp.errors import ModelLoadError, ShapeError, UnsupportedModelError
from qcomp.frontend import import_onnx

from .onnx_util import model
from .test_import import typical_cnn


# ---- loading --------------------------------------------------------------------------------

def test_missing_file(tmp_path):
    with pytest.raises(ModelLoadError, match=r"does not exist"):
        import_onnx(tmp_path / "nope.onnx")


def test_not_an_onnx_file(tmp_path):
    path = tmp_path / "notes.onnx"
    path.write_text("this is a text file, not a protobuf\n" * 20)
    with pytest.raises(ModelLoadError, match=r"not a valid ONNX model"):
        import_onnx(path)


def test_empty_file(tmp_path):
    path = tmp_path / "empty.onnx"
    path.write_bytes(b"")
    with pytest.raises(ModelLoadError, match=r"not an ONNX model"):
        import_onnx(path)


@pytest.mark.parametrize("keep", [0.1, 0.5, 0.9, 0.999])
def test_truncated_file(tmp_path, rng, keep):
    data = typical_cnn(rng).SerializeToString()
    path = tmp_path / "cut.onnx"
    path.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(ModelLoadError, match=r"truncated"):
        import_onnx(path)


def _external_model(tmp_path, rng):
    m = typical_cnn(rng)
    path = tmp_path / "ext.onnx"
    onnx.save_model(m, path, save_as_external_data=True, all_tensors_to_one_file=True, location="weights.bin",
                    size_threshold=0)
    return path


def test_external_data_is_loaded(tmp_path, rng):
    g = import_onnx(_external_model(tmp_path, rng))
    assert g.constants["w1"].shape == (8, 3, 3, 3)


def test_missing_external_data(tmp_path, rng):
    path = _external_model(tmp_path, rng)
    (tmp_path / "weights.bin").unlink()
    with pytest.raises(ModelLoadError, match=r"initializer 'w1' .*external file 'weights.bin', which is missing"):
        import_onnx(path)


def test_short_external_data(tmp_path, rng):
    path = _external_model(tmp_path, rng)
    data = (tmp_path / "weights.bin").read_bytes()
    (tmp_path / "weights.bin").write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelLoadError):
        import_onnx(path)


def test_modelproto_with_unloaded_external_data(tmp_path, rng):
    m = onnx.load(_external_model(tmp_path, rng), load_external_data=False)
    with pytest.raises(ModelLoadError, match=r"external data that is not loaded"):
        import_onnx(m)


@pytest.mark.parametrize("opset", [6, 22])
def test_opset_out_of_range(opset):
    m = model([helper.make_node("Relu", ["x"], ["y"])], {"x": (1, 3)}, ["y"], opset=opset)
    want = rf"opset {opset} of the default ONNX domain.*11 to 21.*version_converter"
    with pytest.raises(ModelLoadError, match=want):
        import_onnx(m)


def test_no_default_domain():
    g = helper.make_graph([helper.make_node("Frob", ["x"], ["y"], domain="com.acme")], "g",
                          [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("com.acme", 1)])
    with pytest.raises(ModelLoadError, match=r"does not import the default ONNX domain"):
        import_onnx(m)


def test_undefined_value_is_a_load_error():
    m = model([helper.make_node("Add", ["x", "ghost"], ["y"], name="add")], {"x": (2,)}, ["y"])
    with pytest.raises(ModelLoadError, match=r"node 'add' .* reads 'ghost'"):
        import_onnx(m)


# ---- shapes ---------------------------------------------------------------------------------

def _relu(shape, name="x"):
    return model([helper.make_node("Relu", [name], ["y"], name="relu")], {name: shape}, ["y"])


def test_dynamic_input_names_the_input_and_the_flag():
    with pytest.raises(ShapeError) as e:
        import_onnx(_relu(("N", 3, 224, 224)))
    assert str(e.value) == "input 'x' has a dynamic dimension (N,3,224,224): pass --input-shape x=1,3,224,224"


def test_dynamic_input_without_dim_param():
    m = _relu((1, 3, 5))
    m.graph.input[0].type.tensor_type.shape.dim[2].Clear()
    with pytest.raises(ShapeError, match=r"input 'x' has a dynamic dimension \(1,3,\?\): pass --input-shape x=1,3,1"):
        import_onnx(m)


def test_input_without_any_shape():
    m = _relu((1, 3))
    m.graph.input[0].type.tensor_type.ClearField("shape")
    with pytest.raises(ShapeError, match=r"input 'x' has no static shape: pass --input-shape x="):
        import_onnx(m)
    assert import_onnx(m, input_shapes={"x": (4, 2)}).types["y"].shape == (4, 2)


def test_unknown_input_shapes_name_lists_the_inputs():
    with pytest.raises(ShapeError, match=r"--input-shape names 'data', which is not an input of the model; "
                                         r"its inputs are: 'x' \(N,3\)"):
        import_onnx(_relu(("N", 3)), input_shapes={"data": (1, 3)})


def test_input_shapes_must_agree_with_static_dims():
    with pytest.raises(ShapeError, match=r"contradicts the static shape"):
        import_onnx(_relu(("N", 3)), input_shapes={"x": (1, 4)})
    with pytest.raises(ShapeError, match=r"has 3 dims but input"):
        import_onnx(_relu(("N", 3)), input_shapes={"x": (1, 3, 1)})


def test_declared_output_shape_is_checked(rng):
    m = typical_cnn(rng)
    m.graph.output[0].type.tensor_type.shape.dim[1].dim_value = 11
    want = r"output 'logits': the model declares shape \(1, 11\) but qcomp computes \(1, 10\)"
    with pytest.raises(ShapeError, match=want):
        import_onnx(m)


# ---- unsupported ----------------------------------------------------------------------------

def test_every_unsupported_node_is_listed_in_one_error(rng):
    n = helper.make_node
    nodes = [
        n("Det", ["x"], ["a"], name="det"),
        n("Frob", ["a"], ["b"], name="frob", domain="com.acme"),
        n("LpNormalization", ["b"], ["c"], name="lpnorm"),        # downstream of unsupported nodes
        n("Resize", ["x", "", "scales"], ["d"], name="cubic", mode="cubic"),
        n("MaxPool", ["x"], ["e", "idx"], name="argmax_pool", kernel_shape=[2, 2]),
        n("Reshape", ["x", "dyn_shape"], ["f"], name="runtime_shape"),
        n("Pad", ["x", "pads"], ["g"], name="wrap_pad", mode="wrap"),
        n("Relu", ["x"], ["ok"], name="fine"),
    ]
    m = model(nodes, {"x": (1, 2, 4, 4), "dyn_shape": (2,)}, ["c", "d", "e", "f", "g", "ok"],
              {"scales": np.array([1, 1, 2, 2], np.float32), "pads": np.zeros(8, np.int64)}, opset=19,
              dtypes={"dyn_shape": TensorProto.INT64})
    m.opset_import.append(helper.make_opsetid("com.acme", 3))
    with pytest.raises(UnsupportedModelError) as e:
        import_onnx(m)
    msg = str(e.value)
    assert "7 nodes cannot be imported" in msg
    assert "node 'det' (Det, domain ai.onnx, opset 19): op Det is not supported" in msg
    assert "node 'frob' (Frob, domain com.acme, opset 3): ops of domain 'com.acme' are not supported" in msg
    assert "node 'lpnorm' (LpNormalization, domain ai.onnx, opset 19): op LpNormalization is not supported" in msg
    assert "node 'cubic' (Resize, domain ai.onnx, opset 19): mode 'cubic' is not supported (nearest, linear)" in msg
    assert "node 'argmax_pool' (MaxPool, domain ai.onnx, opset 19): the Indices output of MaxPool" in msg
    assert "node 'runtime_shape' (Reshape, domain ai.onnx, opset 19): shape (input 1) is computed at run time" in msg
    assert "node 'wrap_pad' (Pad, domain ai.onnx, opset 19): mode 'wrap' is not one of" in msg
    assert "'fine'" not in msg
    assert "qcomp imports these ONNX ops: " in msg and "Conv, " in msg and "ConvTranspose, " in msg


def test_unsupported_input_dtype():
    m = model([helper.make_node("Relu", ["x"], ["y"])], {"x": (2,)}, ["y"], dtypes={"x": TensorProto.DOUBLE})
    with pytest.raises(UnsupportedModelError, match=r"input 'x': element type DOUBLE is not supported"):
        import_onnx(m)


def test_training_batchnorm_and_conv3d_are_reported(rng):
    n = helper.make_node
    c = np.ones(2, np.float32)
    nodes = [n("BatchNormalization", ["x", "c", "c", "c", "c"], ["y", "rm", "rv"], name="bn", training_mode=1),
             n("Conv", ["v", "w3"], ["z"], name="conv3d")]
    m = model(nodes, {"x": (1, 2, 3, 3), "v": (1, 2, 3, 3, 3)}, ["y", "z"],
              {"c": c, "w3": np.ones((1, 2, 1, 1, 1), np.float32)}, opset=15)
    with pytest.raises(UnsupportedModelError) as e:
        import_onnx(m)
    assert "node 'bn' (BatchNormalization" in str(e.value) and "eval mode" in str(e.value)
    assert "node 'conv3d' (Conv" in str(e.value) and "only 1-D and 2-D" in str(e.value)


def test_math_op_attribute_errors_name_the_node_and_the_fix():
    n = helper.make_node
    nodes = [n("Mod", ["x", "x"], ["m"], name="float_mod", fmod=0), n("Celu", ["x"], ["c"], name="celu0", alpha=0.0),
             n("Floor", ["i"], ["f"], name="int_floor")]
    m = model(nodes, {"x": (2, 3), "i": (2, 3)}, ["m", "c", "f"], dtypes={"i": TensorProto.INT32})
    with pytest.raises(UnsupportedModelError) as e:
        import_onnx(m)
    text = str(e.value)
    assert "node 'float_mod' (Mod" in text and "set fmod=1" in text
    assert "node 'celu0' (Celu" in text and "divides by alpha" in text
    assert "node 'int_floor' (Floor" in text and "needs float" in text


def test_random_ops_never_fold():
    n = helper.make_node
    m = model([n("RandomNormal", [], ["r"], name="noise", shape=[2]), n("Add", ["x", "r"], ["y"], name="add")],
              {"x": (2,)}, ["y"])
    with pytest.raises(UnsupportedModelError, match=r"node 'noise' .*random"):
        import_onnx(m)


def test_constant_node_with_strings_is_reported():
    n = helper.make_node
    m = model([n("Constant", [], ["s"], name="text", value_strings=["a"]), n("Relu", ["x"], ["y"])],
              {"x": (2,)}, ["y"])
    with pytest.raises(UnsupportedModelError, match=r"node 'text' \(Constant.*value_strings"):
        import_onnx(m)


def test_initializer_with_bad_data_is_a_load_error():
    m = model([helper.make_node("Add", ["x", "w"], ["y"])], {"x": (4,)}, ["y"],
              {"w": np.ones(4, np.float32)})
    m.graph.initializer[0].raw_data = b"\x00" * 3   # 3 bytes for 4 floats
    with pytest.raises(ModelLoadError, match=r"initializer 'w' cannot be read"):
        import_onnx(m)


def test_declared_output_dtype_is_checked(rng):
    m = typical_cnn(rng)
    m.graph.output[0].type.tensor_type.elem_type = TensorProto.INT64
    with pytest.raises(ShapeError, match=r"output 'logits': the model declares i64 but qcomp computes f32"):
        import_onnx(m)


def test_malformed_node_is_reported_not_a_crash(rng):
    n = helper.make_node
    m = model([n("Conv", ["x"], ["y"], name="conv_without_weight")], {"x": (1, 2, 3, 3)}, ["y"])
    with pytest.raises(UnsupportedModelError, match=r"node 'conv_without_weight' .*has 1 inputs and 1 outputs; "
                                                    r"the ONNX schema of Conv \(opset 13\) allows 2..3 inputs"):
        import_onnx(m)


# ---- root causes only -------------------------------------------------------------------------

def _behind_det(extra_nodes, inits=None, outputs=("y",), opset=13):
    """x -> Det (unsupported) -> h, then `extra_nodes` reading h."""
    nodes = [helper.make_node("Det", ["x"], ["h"], name="det")] + extra_nodes
    return model(nodes, {"x": (2, 6)}, list(outputs), inits, opset=opset)


def test_shape_of_an_unsupported_node_is_not_reported_as_unsupported():
    # Reshape(h, Concat(Gather(Shape(h), 0), [-1])): before, "op Shape is not supported" for 'shape'
    n = helper.make_node
    m = _behind_det([n("Shape", ["h"], ["s"], name="shape"),
                         n("Gather", ["s", "zero"], ["b"], name="gather", axis=0),
                         n("Unsqueeze", ["b", "axes0"], ["b1"], name="unsqueeze"),
                         n("Concat", ["b1", "minus1"], ["t"], name="concat", axis=0),
                         n("Reshape", ["h", "t"], ["r"], name="reshape"),
                         n("Relu", ["r"], ["y"], name="relu")],
                        {"zero": np.array(0, np.int64), "axes0": np.array([0], np.int64),
                         "minus1": np.array([-1], np.int64)})
    with pytest.raises(UnsupportedModelError) as e:
        import_onnx(m)
    msg = str(e.value)
    assert "1 node cannot be imported:\n  node 'det' (Det, domain ai.onnx, opset 13): op Det is not " \
           "supported with inputs computed at run time (6 nodes after it depend on it and could not be imported)" in msg
    assert "6 more nodes could not be imported only because they depend on this one" in msg
    for name in ("shape", "gather", "unsqueeze", "concat", "reshape", "relu"):
        assert f"'{name}'" not in msg


def test_ops_that_would_fold_behind_an_unsupported_node_are_dependents():
    # ConstantOfShape and Range only fold; behind Shape their inputs would have been constants
    n = helper.make_node
    m = _behind_det([n("Shape", ["h"], ["s"], name="shape"),
                         n("ConstantOfShape", ["s"], ["ones"], name="cos"),
                         n("Mul", ["h", "ones"], ["y"], name="mul")])
    with pytest.raises(UnsupportedModelError) as e:
        import_onnx(m)
    msg = str(e.value)
    assert "1 node cannot be imported" in msg and "'cos'" not in msg and "ConstantOfShape is not" not in msg
    assert "(3 nodes after it depend on it" in msg


def test_a_dependent_with_its_own_unsupported_op_or_attribute_is_a_root():
    n = helper.make_node
    m = _behind_det([n("Relu", ["h"], ["r"], name="relu"),
                         n("LpNormalization", ["r"], ["l"], name="lpnorm"),          # run-time input
                         n("Pad", ["h", "pads"], ["p"], name="wrap_pad", mode="wrap"),  # bad attribute
                         n("Add", ["l", "p"], ["y"], name="add")],
                        {"pads": np.zeros(4, np.int64)})
    with pytest.raises(UnsupportedModelError) as e:
        import_onnx(m)
    msg = str(e.value)
    assert "3 nodes cannot be imported" in msg
    assert "node 'det' (Det, domain ai.onnx, opset 13): op Det is not supported with inputs " \
           "computed at run time (2 nodes after it" in msg
    assert "node 'lpnorm' (LpNormalization, domain ai.onnx, opset 13): op LpNormalization is not supported with " \
           "inputs computed at run time (1 node after it depends on it" in msg
    assert "node 'wrap_pad' (Pad, domain ai.onnx, opset 13): mode 'wrap' is not one of" in msg
    assert "2 more nodes could not be imported only because they depend on these" in msg
    assert "'relu'" not in msg and "'add'" not in msg


# ---- constant folding failures in qcomp's words -----------------------------------------------

def test_failed_fold_names_node_op_and_reason_not_the_evaluator():
    n = helper.make_node
    m = model([n("Add", ["a", "b"], ["c"], name="bad_add"), n("Mul", ["x", "c"], ["y"], name="mul")],
              {"x": (2, 3)}, ["y"], {"a": np.ones((2, 3), np.float32), "b": np.ones((4,), np.float32)})
    with pytest.raises(UnsupportedModelError) as e:
        import_onnx(m)
    msg = str(e.value)
    assert "node 'bad_add' (Add, domain ai.onnx, opset 13): it cannot be folded at import time (all its inputs " \
           "are constants): the input shapes (2, 3) and (4,) do not broadcast together; its constant inputs are " \
           "input 0: float32[2, 3], input 1: float32[4]; attributes: none" in msg
    for leak in ("ValueError", "ReferenceEvaluator", "onnx.reference", "Traceback", "operands could not"):
        assert leak not in msg


def test_failed_numpy_fold_is_reported_in_qcomp_words():
    # GatherElements folds with numpy (fold.OVERRIDES): an axis out of range is an IndexError inside
    n = helper.make_node
    m = model([n("GatherElements", ["d", "i"], ["g"], name="gather_el", axis=5), n("Add", ["x", "g"], ["y"])],
              {"x": (2, 2)}, ["y"], {"d": np.ones((2, 2), np.float32), "i": np.zeros((2, 2), np.int64)})
    with pytest.raises(UnsupportedModelError) as e:
        import_onnx(m)
    msg = str(e.value)
    assert "node 'gather_el' (GatherElements, domain ai.onnx, opset 13): it cannot be folded" in msg
    assert "an index or axis is out of range for the input shapes (2, 2) and (2, 2)" in msg and "axis=5" in msg
    assert "IndexError" not in msg and "AxisError" not in msg


def test_any_other_evaluator_failure_is_reported_in_qcomp_words():
    n = helper.make_node
    m = model([n("Einsum", ["a", "b"], ["c"], name="ein", equation="ij,jk->ik"), n("Add", ["x", "c"], ["y"])],
              {"x": (2, 3)}, ["y"], {"a": np.ones((2, 3), np.float32), "b": np.ones((4, 2), np.float32)})
    with pytest.raises(UnsupportedModelError) as e:
        import_onnx(m)
    msg = str(e.value)
    assert "node 'ein' (Einsum, domain ai.onnx, opset 13): it cannot be folded at import time (all its inputs are " \
           "constants): ONNX's reference implementation of Einsum (opset 13) rejects these inputs or attributes; its " \
           "constant inputs are input 0: float32[2, 3], input 1: float32[4, 2]; attributes: equation=ij,jk->ik" in msg
    assert "Error" not in msg.replace("UnsupportedModelError", "") and "Traceback" not in msg


@pytest.mark.parametrize("op, ins, attrs", [
    ("ConstantOfShape", {"s": np.array([2 ** 20, 2 ** 20], np.int64)}, {}),
    ("Expand", {"v": np.ones((1, 1), np.float32), "s": np.array([2 ** 40, 1], np.int64)}, {}),
    ("Range", {"a": np.float32(0), "b": np.float32(1e12), "c": np.float32(1)}, {}),
    ("Tile", {"v": np.ones((4,), np.float32), "s": np.array([2 ** 40], np.int64)}, {}),
])
def test_huge_folds_are_refused_before_allocating(op, ins, attrs):
    n = helper.make_node
    m = model([n(op, list(ins), ["big"], name="big", **attrs), n("Shape", ["big"], ["y"], name="shape")],
              {"x": (1,)}, ["y"], ins)
    with pytest.raises(UnsupportedModelError, match=rf"node 'big' \({op}.*would make a constant of [\d,]+ bytes "
                                                    r"\(more than 2,147,483,648\)"):
        import_onnx(m)
