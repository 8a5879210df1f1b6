"""Small CNNs with odd shapes: odd H/W, 1 or 3 input channels, 5/13/17/33 channels, stride 2, depthwise
with odd channel counts, asymmetric pads, a residual Add, Concat, AveragePool with ceil_mode (with and
without count_include_pad), MaxPool, Resize (nearest and linear) and Softmax. ONNX opset 13, NCHW.

Each builder returns (model, {input name: shape}); every model has one input, "x".
"""
from __future__ import annotations

import numpy as np
import onnx

from .onnx_builder import OnnxBuilder


def odd_classifier() -> onnx.ModelProto:
    """1x1x31x17 -> Conv/2 (5) -> depthwise (5) -> Conv1x1 (13) -> MaxPool with asymmetric pads ->
    AveragePool ceil_mode -> GlobalAveragePool -> Flatten -> Gemm (17) -> logits and Softmax."""
    b = OnnxBuilder("odd_classifier", seed=1)
    x = b.relu(b.conv("x", 1, 5, 3, stride=2))                                     # 16x9
    x = b.relu(b.bn(b.conv(x, 5, 5, 3, group=5, bias=False), 5))                  # 16x9
    x = b.relu(b.conv(x, 5, 13, 1, pads=(0, 0, 0, 0)))
    x = b.op("MaxPool", [x], kernel_shape=[3, 3], strides=[2, 2], pads=[0, 0, 1, 1])  # 8x4
    x = b.op("AveragePool", [x], kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1)   # 4x2
    x = b.op("Flatten", [b.op("GlobalAveragePool", [x])], axis=1)
    logits = b.gemm(x, 13, 17)
    probs = b.op("Softmax", [logits], axis=1)
    return b.model([("x", (1, 1, 31, 17))], [logits, probs])


def odd_concat_resize() -> onnx.ModelProto:
    """1x3x33x29 -> Conv+BN+Relu (13) -> depthwise 5x5 (13) + residual Add -> two stride-2 branches
    (Conv3x3 -> 17, Conv1x1 -> 16) -> Concat (33) -> AveragePool ceil_mode count_include_pad with
    asymmetric pads -> Resize nearest x2 -> Conv (5) -> Softmax over channels."""
    b = OnnxBuilder("odd_concat_resize", seed=2)
    a = b.relu(b.bn(b.conv("x", 3, 13, 3, bias=False), 13))                       # 33x29x13
    r = b.relu(b.bn(b.conv(a, 13, 13, 5, group=13, bias=False), 13))
    r = b.op("Add", [b.conv(r, 13, 13, 1, pads=(0, 0, 0, 0), gain=0.5), a])
    c1 = b.relu(b.conv(r, 13, 17, 3, stride=2))                                   # 17x15x17
    c2 = b.conv(r, 13, 16, 1, stride=2, pads=(0, 0, 0, 0))                        # 17x15x16
    x = b.op("Concat", [c1, c2], axis=1)                                          # 17x15x33
    x = b.op("AveragePool", [x], kernel_shape=[3, 3], strides=[2, 2], pads=[0, 0, 1, 1],
             ceil_mode=1, count_include_pad=1)                                    # 9x8x33
    scales = b.const("scales", np.array([1, 1, 2, 2], np.float32))
    x = b.op("Resize", [x, "", scales], mode="nearest")                           # 18x16x33
    x = b.conv(x, 33, 5, 3)
    out = b.op("Softmax", [x], axis=1)
    return b.model([("x", (1, 3, 33, 29))], [out])


def odd_upsample_residual() -> onnx.ModelProto:
    """1x3x17x13 -> Conv/2 (17) -> Resize linear back to 17x13 (half_pixel) + Conv1x1 shortcut ->
    MaxPool ceil_mode -> depthwise stride 2 (17) -> Conv1x1 (33) -> Relu; outputs the feature map and
    its GlobalAveragePool."""
    b = OnnxBuilder("odd_upsample_residual", seed=3)
    y = b.relu(b.conv("x", 3, 17, 3, stride=2))                                   # 9x7x17
    sizes = b.const("sizes", np.array([1, 17, 17, 13], np.int64))
    y = b.op("Resize", [y, "", "", sizes], mode="linear",
             coordinate_transformation_mode="half_pixel")                         # 17x13x17
    s = b.conv("x", 3, 17, 1, pads=(0, 0, 0, 0), gain=1.0)
    x = b.op("Add", [y, s])
    x = b.op("MaxPool", [x], kernel_shape=[2, 2], strides=[2, 2], ceil_mode=1)    # 9x7
    x = b.relu(b.conv(x, 17, 17, 3, stride=2, group=17))                          # 5x4
    fmap = b.relu(b.conv(x, 17, 33, 1, pads=(0, 0, 0, 0)))
    pooled = b.op("GlobalAveragePool", [fmap])
    return b.model([("x", (1, 3, 17, 13))], [fmap, pooled])


ODD_MODELS = {f.__name__: f for f in (odd_classifier, odd_concat_resize, odd_upsample_residual)}
