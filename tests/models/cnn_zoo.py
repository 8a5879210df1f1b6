"""ResNet-18-style and MobileNetV2-style classifiers as ONNX (NCHW, opset 13), random seeded weights.

ResNet-18 (He et al. 2015): stem Conv7x7/2 + BN + Relu, MaxPool3x3/2, four stages of two BasicBlocks
(64, 128, 256, 512 channels), stride-2 downsampling with a 1x1 Conv + BN shortcut, GlobalAveragePool,
Flatten, Gemm(1000). A BasicBlock is

  y = relu(bn2(conv3x3(relu(bn1(conv3x3(x))))) + shortcut(x))

MobileNetV2 (Sandler et al. 2018): stem Conv3x3/2 + BN + ReLU6, inverted residual blocks

  y = bn3(conv1x1(relu6(bn2(dwconv3x3(relu6(bn1(conv1x1_expand(x))))))))  (+ x when shapes agree)

with the (expand t, channels c, repeats n, stride s) table of the paper, a 1x1 Conv to 1280, ReLU6,
GlobalAveragePool, Reshape to (1, -1), Gemm(1000). ReLU6 is Clip(x, 0, 6) with the bounds as inputs.
Channel counts are c * width rounded to a multiple of 8 (the reference `_make_divisible`); the last
1280 does not shrink below 1280. The BN that ends a residual branch gets small gammas (0.2-0.5) so the
sum of eight or seventeen residual branches keeps activations in a sane range.
"""
from __future__ import annotations

import onnx
import numpy as np

from .onnx_builder import OnnxBuilder

RESIDUAL_GAMMA = (0.2, 0.5)


def _basic_block(b: OnnxBuilder, x: str, cin: int, cout: int, stride: int) -> str:
    y = b.relu(b.bn(b.conv(x, cin, cout, 3, stride, bias=False), cout))
    y = b.bn(b.conv(y, cout, cout, 3, 1, bias=False), cout, gamma=RESIDUAL_GAMMA)
    if stride != 1 or cin != cout:
        x = b.bn(b.conv(x, cin, cout, 1, stride, pads=(0, 0, 0, 0), bias=False, gain=1.0), cout)
    return b.relu(b.op("Add", [y, x]))


def resnet18(num_classes: int = 1000, image: int = 224, seed: int = 0) -> onnx.ModelProto:
    b = OnnxBuilder("resnet18", seed=seed)
    x = b.relu(b.bn(b.conv("input", 3, 64, 7, 2, bias=False), 64))
    x = b.op("MaxPool", [x], kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])
    cin = 64
    for stage, cout in enumerate((64, 128, 256, 512)):
        for block in range(2):
            x = _basic_block(b, x, cin, cout, 2 if stage > 0 and block == 0 else 1)
            cin = cout
    x = b.op("Flatten", [b.op("GlobalAveragePool", [x])], axis=1)
    logits = b.gemm(x, 512, num_classes)
    return b.model([("input", (1, 3, image, image))], [logits])


def _make_divisible(v: float, divisor: int = 8) -> int:
    """Round to the nearest multiple of divisor, never more than 10% below v (torchvision's rule)."""
    new = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return new + divisor if new < 0.9 * v else new


# (expand ratio t, output channels c, repeats n, first stride s), Table 2 of the paper
MOBILENET_V2_SETTINGS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
                         (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))


def _inverted_residual(b: OnnxBuilder, x: str, cin: int, cout: int, stride: int, t: int) -> str:
    hidden = cin * t
    y = x
    if t != 1:
        y = b.relu6(b.bn(b.conv(y, cin, hidden, 1, bias=False), hidden))
    y = b.relu6(b.bn(b.conv(y, hidden, hidden, 3, stride, group=hidden, bias=False), hidden))
    residual = stride == 1 and cin == cout
    y = b.bn(b.conv(y, hidden, cout, 1, bias=False, gain=1.0), cout,
             gamma=RESIDUAL_GAMMA if residual else (0.6, 1.2))
    return b.op("Add", [y, x]) if residual else y


def mobilenet_v2(width: float = 1.0, num_classes: int = 1000, image: int = 224,
                 seed: int = 0) -> onnx.ModelProto:
    b = OnnxBuilder(f"mobilenet_v2_{width}", seed=seed)
    cin = _make_divisible(32 * width)
    x = b.relu6(b.bn(b.conv("input", 3, cin, 3, 2, bias=False), cin))
    for t, c, n, s in MOBILENET_V2_SETTINGS:
        cout = _make_divisible(c * width)
        for i in range(n):
            x = _inverted_residual(b, x, cin, cout, s if i == 0 else 1, t)
            cin = cout
    last = _make_divisible(1280 * max(1.0, width))
    x = b.relu6(b.bn(b.conv(x, cin, last, 1, bias=False), last))
    x = b.op("GlobalAveragePool", [x])
    x = b.op("Reshape", [x, b.const("flat_shape", np.array([1, -1], np.int64))])
    logits = b.gemm(x, last, num_classes)
    return b.model([("input", (1, 3, image, image))], [logits])
