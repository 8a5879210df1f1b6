"""Export the four MLPerf Tiny reference architectures to ONNX (run in a subprocess; needs torch).

  python export_mlperf_tiny.py OUT_DIR

Writes OUT_DIR/{kws_dscnn,vww_mobilenet,ic_resnet8,ad_autoencoder}.onnx, seeded random weights
(torch.manual_seed(0); BatchNorm statistics and affine parameters drawn too, so no BN is an identity),
TorchScript export at opset 13, inputs "input" and outputs "probs" (the three classifiers, after their
Softmax) or "reconstruction" (the autoencoder). The architectures follow the reference models of
mlcommons/tiny (benchmark/training/*/keras_model.py), layer for layer; Keras' "same" padding of a
strided convolution is asymmetric (the extra row and column at the bottom and right: pad total
= max((out - 1) * stride + k - in, 0), top = total // 2), written as a ZeroPad2d before the conv,
which qcomp's fold_pad folds into the conv's pads:

- kws_dscnn (keyword spotting, DS-CNN small): input [1, 1, 49, 10] (49 frames x 10 MFCC),
  Conv 64 10x4 /2 ("same": pads top 4, bottom 5, left 1, right 1) + BN + ReLU -> 25x5x64;
  4 x (depthwise 3x3 + BN + ReLU, Conv 1x1 64 + BN + ReLU); AvgPool 25x5; Flatten; Dense 12; Softmax.
- vww_mobilenet (visual wake words, MobileNetV1 alpha 0.25): input [1, 3, 96, 96], Conv 8 3x3 /2 +
  BN + ReLU, then 13 depthwise-separable blocks (depthwise 3x3 + BN + ReLU, Conv 1x1 + BN + ReLU) of
  16, 32, 32, 64, 64, 128 x 6, 256, 256 filters, stride 2 at blocks 2, 4, 6 and 12 -> 3x3x256;
  AvgPool 3x3; Flatten; Dense 2; Softmax.
- ic_resnet8 (image classification, ResNet-8 for CIFAR-10): input [1, 3, 32, 32], Conv 16 3x3 + BN
  + ReLU; three stacks of (Conv 3x3 /s + BN + ReLU, Conv 3x3 + BN) + shortcut (identity in the first
  stack, Conv 1x1 /2 without BN in the others), Add, ReLU, with 16, 32, 64 filters -> 8x8x64;
  AvgPool 8x8; Flatten; Dense 10; Softmax.
- ad_autoencoder (anomaly detection, ToyADMOS): input [1, 640] (5 frames x 128 mel bins),
  4 x (Dense 128 + BN + ReLU), Dense 8 + BN + ReLU, 4 x (Dense 128 + BN + ReLU), Dense 640.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from torch import nn

MODELS = ("kws_dscnn", "vww_mobilenet", "ic_resnet8", "ad_autoencoder")


def same_pad(size: int, k: int, stride: int) -> tuple[int, int]:
    """Keras "same" padding of one axis: (before, after)."""
    out = -(-size // stride)
    total = max((out - 1) * stride + k - size, 0)
    return total // 2, total - total // 2


def conv_bn_relu(cin: int, cout: int, k: tuple[int, int], stride: int, size: tuple[int, int], groups: int = 1,
                 relu: bool = True, bn: bool = True) -> list[nn.Module]:
    """ZeroPad2d ("same") + Conv2d [+ BatchNorm2d] [+ ReLU]; size is the input's (H, W)."""
    (t, b), (l, r) = same_pad(size[0], k[0], stride), same_pad(size[1], k[1], stride)
    layers: list[nn.Module] = [nn.ZeroPad2d((l, r, t, b)), nn.Conv2d(cin, cout, k, stride, groups=groups)]
    if bn:
        layers.append(nn.BatchNorm2d(cout))
    if relu:
        layers.append(nn.ReLU())
    return layers


class DSCNN(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        layers = conv_bn_relu(1, 64, (10, 4), 2, (49, 10))
        for _ in range(4):
            layers += conv_bn_relu(64, 64, (3, 3), 1, (25, 5), groups=64)
            layers += conv_bn_relu(64, 64, (1, 1), 1, (25, 5))
        self.features = nn.Sequential(*layers, nn.AvgPool2d((25, 5)), nn.Flatten())
        self.fc = nn.Linear(64, 12)

    def forward(self, x):
        return torch.softmax(self.fc(self.features(x)), dim=1)


# (filters, stride) of MobileNetV1 alpha 0.25's depthwise-separable blocks
VWW_BLOCKS = ((16, 1), (32, 2), (32, 1), (64, 2), (64, 1), (128, 2), *((128, 1),) * 5, (256, 2), (256, 1))


class MobileNetV1(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        size, cin = 96, 8
        layers = conv_bn_relu(3, 8, (3, 3), 2, (size, size))
        size //= 2
        for cout, stride in VWW_BLOCKS:
            layers += conv_bn_relu(cin, cin, (3, 3), stride, (size, size), groups=cin)
            size = -(-size // stride)
            layers += conv_bn_relu(cin, cout, (1, 1), 1, (size, size))
            cin = cout
        self.features = nn.Sequential(*layers, nn.AvgPool2d(size), nn.Flatten())
        self.fc = nn.Linear(256, 2)

    def forward(self, x):
        return torch.softmax(self.fc(self.features(x)), dim=1)


class ResidualStack(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, size: int) -> None:
        super().__init__()
        self.branch = nn.Sequential(*conv_bn_relu(cin, cout, (3, 3), stride, (size, size)),
                                    *conv_bn_relu(cout, cout, (3, 3), 1, (size // stride,) * 2, relu=False))
        self.shortcut = (nn.Sequential(*conv_bn_relu(cin, cout, (1, 1), stride, (size, size), relu=False, bn=False))
                         if stride != 1 else nn.Identity())

    def forward(self, x):
        return torch.relu(self.branch(x) + self.shortcut(x))


class ResNet8(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(*conv_bn_relu(3, 16, (3, 3), 1, (32, 32)), ResidualStack(16, 16, 1, 32),
                                      ResidualStack(16, 32, 2, 32), ResidualStack(32, 64, 2, 16),
                                      nn.AvgPool2d(8), nn.Flatten())
        self.fc = nn.Linear(64, 10)

    def forward(self, x):
        return torch.softmax(self.fc(self.features(x)), dim=1)


class AutoEncoder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        widths = (640, 128, 128, 128, 128, 8, 128, 128, 128, 128)
        layers: list[nn.Module] = []
        for a, b in zip(widths, widths[1:]):
            layers += [nn.Linear(a, b), nn.BatchNorm1d(b), nn.ReLU()]
        self.net = nn.Sequential(*layers, nn.Linear(128, 640))

    def forward(self, x):
        return self.net(x)


BUILD = {"kws_dscnn": (DSCNN, (1, 1, 49, 10), "probs"), "vww_mobilenet": (MobileNetV1, (1, 3, 96, 96), "probs"),
         "ic_resnet8": (ResNet8, (1, 3, 32, 32), "probs"), "ad_autoencoder": (AutoEncoder, (1, 640), "reconstruction")}


def randomize_batchnorm(model: nn.Module) -> None:
    """Seeded BN statistics and affine parameters (a fresh BN is the identity in eval mode)."""
    for m in model.modules():
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            n = m.num_features
            m.running_mean.copy_(torch.randn(n) * 0.1)
            m.running_var.copy_(torch.rand(n) * 0.5 + 0.75)
            m.weight.data.copy_(torch.rand(n) * 0.6 + 0.7)
            m.bias.data.copy_(torch.randn(n) * 0.1)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out_dir", type=Path)
    args = ap.parse_args()
    for name in MODELS:
        torch.manual_seed(0)
        cls, shape, output = BUILD[name]
        model = cls()
        with torch.no_grad():
            randomize_batchnorm(model)
        model.eval()
        out = args.out_dir / f"{name}.onnx"
        with torch.no_grad():
            torch.onnx.export(model, (torch.zeros(shape),), str(out), dynamo=False, opset_version=13,
                              input_names=["input"], output_names=[output])
        print(f"wrote {out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
