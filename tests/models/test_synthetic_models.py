"""Synthetic CNNs built with onnx.helper (no downloads, no torch): their structure, then qcomp's
frontend + float reference against onnxruntime on seeded random inputs."""
from __future__ import annotations

from collections import Counter

import numpy as np
import onnx
import pytest

from .cnn_zoo import mobilenet_v2, resnet18
from .compare import check_against_onnxruntime, random_feeds
from .odd_shapes import ODD_MODELS


@pytest.fixture(scope="module")
def resnet() -> onnx.ModelProto:
    return resnet18()


@pytest.fixture(scope="module", params=[1.0, 0.5], ids=["w1.0", "w0.5"])
def mobilenet(request) -> onnx.ModelProto:
    return mobilenet_v2(width=request.param)


def _ops(model: onnx.ModelProto) -> Counter:
    return Counter(n.op_type for n in model.graph.node)


def _inits(model: onnx.ModelProto) -> dict[str, np.ndarray]:
    return {t.name: onnx.numpy_helper.to_array(t) for t in model.graph.initializer}


# ---- structure -------------------------------------------------------------------------------

def test_resnet18_structure(resnet):
    ops = _ops(resnet)
    # stem 1 + 8 blocks x 2 + 3 downsampling shortcuts = 20 convs, each followed by a BatchNorm
    assert ops == Counter({"Conv": 20, "BatchNormalization": 20, "Relu": 17, "Add": 8, "MaxPool": 1,
                           "GlobalAveragePool": 1, "Flatten": 1, "Gemm": 1})
    assert sum(a.size for a in _inits(resnet).values()) == pytest.approx(11.7e6, rel=0.01)
    assert [d.dim_value for d in resnet.graph.output[0].type.tensor_type.shape.dim] == [1, 1000]
    inits = _inits(resnet)
    for node in resnet.graph.node:  # BatchNorm statistics are not the identity
        if node.op_type == "BatchNormalization":
            mean, var = inits[node.input[3]], inits[node.input[4]]
            assert np.abs(mean).max() > 0.05 and np.abs(var - 1).max() > 0.1


def test_mobilenet_v2_structure(mobilenet):
    ops = _ops(mobilenet)
    inits = _inits(mobilenet)
    depthwise = [n for n in mobilenet.graph.node if n.op_type == "Conv"
                 and onnx.helper.get_attribute_value(next(a for a in n.attribute if a.name == "group")) > 1]
    assert len(depthwise) == 17  # one per inverted residual block
    for n in depthwise:
        group = onnx.helper.get_attribute_value(next(a for a in n.attribute if a.name == "group"))
        assert inits[n.input[1]].shape == (group, 1, 3, 3)
    assert ops["Add"] == 10  # residual blocks: 1 + 2 + 3 + 2 + 2 of the paper's table
    assert ops["Clip"] == 35 and all(len(n.input) == 3 for n in mobilenet.graph.node if n.op_type == "Clip")
    assert ops["Reshape"] == 1 and ops["Gemm"] == 1 and ops["GlobalAveragePool"] == 1


def test_odd_shape_models_cover_the_brief():
    ops = sum((_ops(build()) for build in ODD_MODELS.values()), Counter())
    for op in ("Conv", "BatchNormalization", "Add", "Concat", "AveragePool", "MaxPool", "Resize",
               "Softmax", "Gemm", "GlobalAveragePool"):
        assert ops[op] > 0, op
    channels = set()
    for build in ODD_MODELS.values():
        model = onnx.shape_inference.infer_shapes(build())
        n, c, h, w = (d.dim_value for d in model.graph.input[0].type.tensor_type.shape.dim)
        assert c in (1, 3) and h % 2 == 1 and w % 2 == 1, (model.graph.name, c, h, w)
        for vi in model.graph.value_info:
            dims = [d.dim_value for d in vi.type.tensor_type.shape.dim]
            if len(dims) == 4:
                channels.add(dims[1])
    assert {5, 13, 17, 33} <= channels


# ---- qcomp vs onnxruntime ------------------------------------------------------------------

def test_resnet18_matches_onnxruntime(resnet):
    check_against_onnxruntime("resnet18", resnet, random_feeds(resnet, seed=0))


def test_mobilenet_v2_matches_onnxruntime(mobilenet):
    check_against_onnxruntime(mobilenet.graph.name, mobilenet, random_feeds(mobilenet, seed=0))


@pytest.mark.parametrize("name", sorted(ODD_MODELS))
def test_odd_shapes_match_onnxruntime(name):
    model = ODD_MODELS[name]()
    for seed in (0, 1):
        check_against_onnxruntime(f"{name}[seed {seed}]", model, random_feeds(model, seed=seed))
