"""A tiny CNN with one known bad tensor, for the sensitivity and --accuracy tests.

    x[1,3,12,12] -> conv1 (3->8, 3x3) + Relu = `hot` -> conv2 (8->8, 3x3) + Relu -> Flatten
      -> fc (1152->10) = logits

`hot` is long-tailed: its channel 0 reaches ~100 where the input is large (conv1's channel 0 has
weights 40x the others'), the other seven channels stay within a few units. One int8 grid over
[0, max] leaves those seven channels a handful of codes. conv2 reads channel 0 with tiny weights,
so the output depends on the seven small channels: their grid error is the model's main error.
Raising `hot` (conv1 and conv2 in float: it is never quantized) removes it; no other raise can.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

BAD = "hot"          # the bad tensor (conv1's Relu output)
SHAPE = (1, 3, 12, 12)


def write_model(path: Path, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    w1 = rng.normal(0, 0.4, (8, 3, 3, 3)).astype(np.float32)
    w1[0] *= 40.0                                  # the outlier channel
    b1 = rng.normal(0, 0.1, 8).astype(np.float32)
    w2 = rng.normal(0, 0.3, (8, 8, 3, 3)).astype(np.float32)
    w2[:, 0] *= 0.002                              # ... read with tiny weights
    b2 = rng.normal(0, 0.1, 8).astype(np.float32)
    w3 = rng.normal(0, 0.05, (10, 8 * 12 * 12)).astype(np.float32)
    b3 = rng.normal(0, 0.1, 10).astype(np.float32)
    inits = [numpy_helper.from_array(a, n) for a, n in ((w1, "w1"), (b1, "b1"), (w2, "w2"), (b2, "b2"),
                                                         (w3, "w3"), (b3, "b3"))]
    nodes = [
        helper.make_node("Conv", ["x", "w1", "b1"], ["c1"], name="conv1", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], [BAD], name="relu1"),
        helper.make_node("Conv", [BAD, "w2", "b2"], ["c2"], name="conv2", pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c2"], ["r2"], name="relu2"),
        helper.make_node("Flatten", ["r2"], ["flat"], name="flatten"),
        helper.make_node("Gemm", ["flat", "w3", "b3"], ["logits"], name="fc", transB=1),
    ]
    graph = helper.make_graph(nodes, "bad_tensor", [helper.make_tensor_value_info("x", TensorProto.FLOAT, SHAPE)],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, (1, 10))], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, path)
    return path


def write_samples(path: Path, count: int, seed: int = 1) -> Path:
    """`count` seeded samples of x as an .npz."""
    x = np.random.default_rng(seed).normal(0, 1, (count, *SHAPE[1:])).astype(np.float32)
    np.savez(path, x=x)
    return path
