"""Valid seed models for the importer fuzzer (tests/frontend/fuzz.py), one per op family the
frontend imports: the bundled Fashion-MNIST CNN, conv/pool/BN/Gemm, elementwise with broadcasting,
a shape subgraph that folds (Shape -> Gather -> Concat -> Reshape, ConstantOfShape, Range, Expand),
an attention block (LayerNormalization, MatMul, Softmax, Gelu, Gather of an embedding),
data movement (ConvTranspose, Resize, Pad, Slice, Split), QDQ, QOperator (QLinearMatMul, a
com.microsoft op) and dynamic quantization. Every seed imports cleanly (test_fuzz.py checks it), so
a mutant's failure is the mutation's doing."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from tests.frontend.onnx_util import model
from tests.frontend.test_import import typical_cnn
from tests.qdq import models as qdq_models

ROOT = Path(__file__).resolve().parents[2]
n = helper.make_node


def fashion_mnist() -> onnx.ModelProto:
    return onnx.load(ROOT / "examples" / "fashion_mnist" / "model.onnx")


def elementwise(rng: np.random.Generator) -> onnx.ModelProto:
    nodes = [n("Add", ["x", "b"], ["a"], name="add"), n("Mul", ["a", "s"], ["m"], name="mul"),
             n("Sigmoid", ["m"], ["sg"], name="sigmoid"), n("Sub", ["sg", "x"], ["d"], name="sub"),
             n("Clip", ["d", "lo", "hi"], ["c"], name="clip"), n("Div", ["c", "two"], ["q"], name="div"),
             n("Tanh", ["q"], ["t"], name="tanh"), n("LeakyRelu", ["t"], ["y"], name="leaky", alpha=0.2),
             n("ReduceMean", ["y"], ["r"], name="mean", axes=[1], keepdims=1)]
    inits = {"b": rng.standard_normal((1, 4, 1, 1)).astype(np.float32),
             "s": rng.standard_normal((6,)).astype(np.float32), "lo": np.float32(-1), "hi": np.float32(1),
             "two": np.float32(2)}
    return model(nodes, {"x": (1, 4, 5, 6)}, ["y", "r"], inits, opset=13)


def shape_ops(rng: np.random.Generator) -> onnx.ModelProto:
    nodes = [n("Conv", ["x", "w"], ["c"], name="conv"),
             n("Shape", ["c"], ["shape"], name="shape"),
             n("Gather", ["shape", "zero"], ["batch"], name="gather", axis=0),
             n("Unsqueeze", ["batch", "axes0"], ["batch1"], name="unsqueeze"),
             n("Concat", ["batch1", "minus1"], ["target"], name="concat", axis=0),
             n("Reshape", ["c", "target"], ["flat"], name="reshape"),
             n("Shape", ["flat"], ["fs"], name="shape2", start=-1),
             n("ConstantOfShape", ["fs"], ["ones"], name="cos",
               value=numpy_helper.from_array(np.array([1.0], np.float32))),
             n("Range", ["r0", "r1", "r2"], ["ramp"], name="range"),
             n("Expand", ["ramp", "tgt"], ["big"], name="expand"),
             n("Mul", ["ones", "big"], ["k"], name="scale"),
             n("Mul", ["flat", "k"], ["y0"], name="mul"),
             n("Transpose", ["y0"], ["yt"], name="transpose", perm=[1, 0]),
             n("Squeeze", ["yt", "sq"], ["y"], name="squeeze")]
    inits = {"w": rng.standard_normal((4, 3, 3, 3)).astype(np.float32), "zero": np.array(0, np.int64),
             "axes0": np.array([0], np.int64), "minus1": np.array([-1], np.int64),
             "r0": np.float32(0), "r1": np.float32(36), "r2": np.float32(1), "tgt": np.array([1, 36], np.int64),
             "sq": np.array([1], np.int64)}
    return model(nodes, {"x": (1, 3, 5, 5)}, ["y"], inits, opset=15)


def qdq_conv(rng: np.random.Generator) -> onnx.ModelProto:
    """Q -> DQ -> Conv(DQ(int8 weights)) -> Relu -> Q -> DQ -> MaxPool -> Flatten."""
    f = np.float32
    nodes = [n("QuantizeLinear", ["x", "sx", "zx"], ["xq"], name="q_x"),
             n("DequantizeLinear", ["xq", "sx", "zx"], ["xd"], name="dq_x"),
             n("DequantizeLinear", ["wq", "sw", "zw"], ["wd"], name="dq_w", axis=0),
             n("Conv", ["xd", "wd", "b"], ["c"], name="conv", pads=[1, 1, 1, 1]),
             n("Relu", ["c"], ["r"], name="relu"),
             n("QuantizeLinear", ["r", "sy", "zy"], ["rq"], name="q_r"),
             n("DequantizeLinear", ["rq", "sy", "zy"], ["rd"], name="dq_r"),
             n("MaxPool", ["rd"], ["p"], name="pool", kernel_shape=[2, 2], strides=[2, 2]),
             n("Flatten", ["p"], ["y"], name="flatten")]
    inits = {"sx": f(0.02), "zx": np.uint8(128), "wq": rng.integers(-127, 128, (4, 3, 3, 3)).astype(np.int8),
             "sw": np.full(4, 0.01, f), "zw": np.zeros(4, np.int8), "b": rng.standard_normal(4).astype(f),
             "sy": f(0.03), "zy": np.uint8(0)}
    return model(nodes, {"x": (1, 3, 6, 6)}, ["y"], inits, opset=13)


def dynamic_matmul(rng: np.random.Generator) -> onnx.ModelProto:
    """onnxruntime's quantize_dynamic pattern: DynamicQuantizeLinear -> MatMulInteger -> Cast -> Mul."""
    nodes = [n("DynamicQuantizeLinear", ["x"], ["xq", "xs", "xz"], name="dql"),
             n("MatMulInteger", ["xq", "wq", "xz", "wz"], ["acc"], name="mmi"),
             n("Cast", ["acc"], ["accf"], name="cast", to=TensorProto.FLOAT),
             n("Mul", ["xs", "ws"], ["s"], name="scale"),
             n("Mul", ["accf", "s"], ["m"], name="rescale"),
             n("Add", ["m", "b"], ["y"], name="bias")]
    inits = {"wq": rng.integers(0, 256, (6, 3)).astype(np.uint8), "wz": np.uint8(128),
             "ws": np.float32(0.01), "b": rng.standard_normal(3).astype(np.float32)}
    return model(nodes, {"x": (2, 6)}, ["y"], inits, opset=13)


def attention(rng: np.random.Generator) -> onnx.ModelProto:
    """A transformer block: LayerNormalization, MatMul with weights and of two activations, Reshape and
    Transpose to heads, Softmax, Gelu, residual Add, Gather of an embedding, Cast, Split, Concat."""
    f = np.float32
    d, h = 8, 2
    nodes = [n("Gather", ["emb", "ids"], ["x"], name="embed", axis=0),
             n("LayerNormalization", ["x", "g", "b"], ["ln"], name="ln", axis=-1, epsilon=1e-5),
             n("MatMul", ["ln", "wqkv"], ["qkv"], name="qkv"),
             n("Split", ["qkv", "three"], ["q", "k", "v"], name="split", axis=-1),
             n("Reshape", ["q", "heads"], ["qh"], name="q_heads"), n("Reshape", ["k", "heads"], ["kh"], name="k_heads"),
             n("Reshape", ["v", "heads"], ["vh"], name="v_heads"),
             n("Transpose", ["qh"], ["qt"], name="q_t", perm=[0, 2, 1, 3]),
             n("Transpose", ["kh"], ["kt"], name="k_t", perm=[0, 2, 3, 1]),
             n("Transpose", ["vh"], ["vt"], name="v_t", perm=[0, 2, 1, 3]),
             n("MatMul", ["qt", "kt"], ["s"], name="scores"), n("Mul", ["s", "scale"], ["ss"], name="scale"),
             n("Softmax", ["ss"], ["p"], name="softmax", axis=-1), n("MatMul", ["p", "vt"], ["o"], name="attend"),
             n("Transpose", ["o"], ["ot"], name="o_t", perm=[0, 2, 1, 3]),
             n("Reshape", ["ot", "flat"], ["of"], name="merge"), n("Add", ["of", "x"], ["r"], name="residual"),
             n("Gelu", ["r"], ["gl"], name="gelu"), n("Concat", ["gl", "r"], ["c"], name="concat", axis=-1),
             n("ReduceMax", ["c"], ["mx"], name="max", axes=[-1], keepdims=1),
             n("Sub", ["c", "mx"], ["y"], name="center")]
    inits = {"emb": rng.standard_normal((11, d)).astype(f),
             "g": np.ones(d, f), "b": np.zeros(d, f), "wqkv": rng.standard_normal((d, 3 * d)).astype(f),
             "three": np.array([d, d, d], np.int64), "heads": np.array([1, 4, h, d // h], np.int64),
             "scale": f(0.5), "flat": np.array([1, 4, d], np.int64)}
    return model(nodes, {"ids": (1, 4)}, ["y"], inits, opset=20, dtypes={"ids": TensorProto.INT64})


def seeds() -> dict[str, onnx.ModelProto]:
    rng = np.random.default_rng(0)
    return {"fashion_mnist": fashion_mnist(), "cnn": typical_cnn(rng), "elementwise": elementwise(rng),
            "shape_ops": shape_ops(rng), "residual": qdq_models.residual_lut_cnn(0),
            "movement": qdq_models.movement_zoo(0), "qdq_conv": qdq_conv(rng),
            "qlinear_matmul": qdq_models.matmul_of_two_activations(),
            "qlinear_gap": qdq_models.global_average_channels_last(), "dynamic": dynamic_matmul(rng),
            "attention": attention(rng)}
