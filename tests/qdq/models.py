"""Small float ONNX models for the QDQ tests, built with onnx.helper from seeded random weights."""
from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

IR_VERSION = 10


def _model(nodes, inputs: dict[str, list[int]], outputs: dict[str, list[int]], inits: dict[str, np.ndarray],
           opset: int = 17, name: str = "qdq_test") -> onnx.ModelProto:
    g = helper.make_graph(
        nodes, name,
        [helper.make_tensor_value_info(k, TensorProto.FLOAT, s) for k, s in inputs.items()],
        [helper.make_tensor_value_info(k, TensorProto.FLOAT, s) for k, s in outputs.items()],
        [numpy_helper.from_array(np.asarray(v), k) for k, v in inits.items()])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)], ir_version=IR_VERSION)
    onnx.checker.check_model(m)
    return m


def _w(rng: np.random.Generator, *shape: int, fan_in: int) -> np.ndarray:
    return (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(np.float32)


def residual_lut_cnn(seed: int = 0, final_tanh: bool = True) -> onnx.ModelProto:
    """Conv+Relu -> Conv -> HardSwish (LUT) -> depthwise Conv -> Add (residual) -> Sigmoid (LUT) ->
    Concat with a max-pooled branch -> GlobalAveragePool -> Flatten -> Gemm [-> Tanh (LUT)] -> y."""
    rng = np.random.default_rng(seed)
    c = 8
    inits = {
        "w1": _w(rng, c, 3, 3, 3, fan_in=27), "b1": (rng.standard_normal(c) * 0.1).astype(np.float32),
        "w2": _w(rng, c, c, 3, 3, fan_in=9 * c), "b2": (rng.standard_normal(c) * 0.1).astype(np.float32),
        "w3": _w(rng, c, 1, 3, 3, fan_in=9), "b3": (rng.standard_normal(c) * 0.1).astype(np.float32),
        "wf": _w(rng, 5, 2 * c, fan_in=2 * c), "bf": (rng.standard_normal(5) * 0.1).astype(np.float32),
    }
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], pads=[1, 1, 1, 1], name="conv1"),
        helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
        helper.make_node("Conv", ["r1", "w2", "b2"], ["c2"], pads=[1, 1, 1, 1], name="conv2"),
        helper.make_node("HardSwish", ["c2"], ["h2"], name="hswish"),
        helper.make_node("Conv", ["h2", "w3", "b3"], ["c3"], pads=[1, 1, 1, 1], group=c, name="dwconv"),
        helper.make_node("Add", ["c3", "r1"], ["res"], name="residual"),
        helper.make_node("Sigmoid", ["res"], ["sig"], name="sigmoid"),
        helper.make_node("MaxPool", ["r1"], ["mp"], kernel_shape=[3, 3], strides=[1, 1], pads=[1, 1, 1, 1],
                         name="maxpool"),
        helper.make_node("Concat", ["sig", "mp"], ["cat"], axis=1, name="concat"),
        helper.make_node("GlobalAveragePool", ["cat"], ["gap"], name="gap"),
        helper.make_node("Flatten", ["gap"], ["flat"], name="flatten"),
        helper.make_node("Gemm", ["flat", "wf", "bf"], ["fc" if final_tanh else "y"], transB=1, name="fc"),
    ]
    if final_tanh:
        nodes.append(helper.make_node("Tanh", ["fc"], ["y"], name="tanh"))
    return _model(nodes, {"x": [1, 3, 12, 12]}, {"y": [1, 5]}, inits)


def random_inputs(shape: tuple[int, ...], count: int, seed: int = 1) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((count,) + shape).astype(np.float32)


def conv_matmul(seed: int = 0) -> onnx.ModelProto:
    """Conv -> Relu -> Flatten -> MatMul -> Add: the ops onnxruntime's quantize_dynamic rewrites."""
    rng = np.random.default_rng(seed)
    inits = {"wc": _w(rng, 4, 3, 3, 3, fan_in=27), "bc": (rng.standard_normal(4) * 0.1).astype(np.float32),
             "w": _w(rng, 64, 8, fan_in=64), "b": (rng.standard_normal(8) * 0.1).astype(np.float32)}
    nodes = [helper.make_node("Conv", ["x", "wc", "bc"], ["c"], pads=[1, 1, 1, 1], name="conv"),
             helper.make_node("Relu", ["c"], ["r"], name="relu"),
             helper.make_node("Flatten", ["r"], ["f"], name="flatten"),
             helper.make_node("MatMul", ["f", "w"], ["m"], name="matmul"),
             helper.make_node("Add", ["m", "b"], ["y"], name="bias")]
    return onnx.shape_inference.infer_shapes(_model(nodes, {"x": [1, 3, 4, 4]}, {"y": [1, 8]}, inits))


def matmul_of_two_activations() -> onnx.ModelProto:
    """QLinearMatMul of two run-time operands, written by hand (uint8 a, int8 b, uint8 y)."""
    f = np.float32
    inits = {"sa": f(0.02), "za": np.uint8(120), "sb": f(0.03), "zb": np.int8(-5), "sy": f(0.05),
             "zy": np.uint8(130)}
    nodes = [helper.make_node("QuantizeLinear", ["a", "sa", "za"], ["aq"], name="q_a"),
             helper.make_node("QuantizeLinear", ["b", "sb", "zb"], ["bq"], name="q_b"),
             helper.make_node("QLinearMatMul", ["aq", "sa", "za", "bq", "sb", "zb", "sy", "zy"], ["yq"], name="qmm"),
             helper.make_node("DequantizeLinear", ["yq", "sy", "zy"], ["y"], name="dq_y")]
    return _model(nodes, {"a": [1, 4, 6], "b": [1, 6, 5]}, {"y": [1, 4, 5]}, inits, opset=13)


def global_average_channels_last() -> onnx.ModelProto:
    """QLinearGlobalAveragePool (com.microsoft) with channels_last=1 on an NHWC input."""
    f = np.float32
    inits = {"sx": f(0.02), "zx": np.uint8(128), "sy": f(0.01), "zy": np.uint8(128)}
    nodes = [helper.make_node("QuantizeLinear", ["x", "sx", "zx"], ["xq"], name="q_x"),
             helper.make_node("QLinearGlobalAveragePool", ["xq", "sx", "zx", "sy", "zy"], ["yq"], name="gap",
                              domain="com.microsoft", channels_last=1),
             helper.make_node("DequantizeLinear", ["yq", "sy", "zy"], ["y"], name="dq_y")]
    g = helper.make_graph(nodes, "gap", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 5, 5, 6])],
                          [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 1, 1, 6])],
                          [numpy_helper.from_array(np.asarray(v), k) for k, v in inits.items()])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 13), helper.make_opsetid("com.microsoft", 1)],
                             ir_version=IR_VERSION)


def movement_zoo(seed: int = 0) -> onnx.ModelProto:
    """ConvTranspose (grouped, strided) -> AveragePool -> Resize (nearest) -> Pad -> Slice (reversed)
    -> Split -> Mul -> LeakyRelu (LUT) -> Sub of a scalar (LUT) -> ReduceMean -> Softmax (float)."""
    rng = np.random.default_rng(seed)
    inits = {"wt": _w(rng, 4, 3, 3, 3, fan_in=12), "bt": (rng.standard_normal(6) * 0.1).astype(np.float32),
             "scales": np.array([1, 1, 2, 2], np.float32), "pads": np.array([0, 0, 1, 2, 0, 0, 2, 1], np.int64),
             "starts": np.array([-1], np.int64), "ends": np.array([-100], np.int64), "axes": np.array([3], np.int64),
             "steps": np.array([-1], np.int64), "split": np.array([3, 3], np.int64), "c": np.float32(0.25),
             "raxes": np.array([1], np.int64)}
    nodes = [
        helper.make_node("ConvTranspose", ["x", "wt", "bt"], ["ct"], strides=[2, 2], group=2, pads=[1, 1, 0, 0],
                         name="deconv"),
        helper.make_node("AveragePool", ["ct"], ["ap"], kernel_shape=[3, 3], pads=[1, 1, 1, 1], name="avgpool"),
        helper.make_node("Resize", ["ap", "", "scales"], ["rs"], mode="nearest", name="resize"),
        helper.make_node("Pad", ["rs", "pads"], ["pd"], mode="constant", name="pad"),
        helper.make_node("Slice", ["pd", "starts", "ends", "axes", "steps"], ["sl"], name="reverse"),
        helper.make_node("Split", ["sl", "split"], ["s0", "s1"], axis=1, name="split"),
        helper.make_node("Mul", ["s0", "s1"], ["mu"], name="mul"),
        helper.make_node("LeakyRelu", ["mu"], ["lr"], alpha=0.1, name="leaky"),
        helper.make_node("Sub", ["c", "lr"], ["sb"], name="sub_scalar"),
        helper.make_node("ReduceMean", ["sb", "raxes"], ["rm"], keepdims=1, name="mean"),
        helper.make_node("Softmax", ["rm"], ["y"], axis=-1, name="softmax"),
    ]
    return _model(nodes, {"x": [1, 4, 5, 5]}, {"y": [1, 1, 23, 23]}, inits, opset=18)
