"""Train a MobileNetV3-style classifier on Fashion-MNIST and export it to ONNX.

  python tests/models/train_mobilenetv3.py OUT.onnx [--epochs 2]

The architecture is MobileNetV3-Small's, shrunk to 28x28 grey inputs (Howard et al. 2019): a
3x3 stride-2 stem with hard-swish, then inverted-residual "bneck" blocks (1x1 expansion, depthwise
k x k, an optional squeeze-excite gate, 1x1 projection, a residual add where shapes allow):

    SE(x)       = x * hardsigmoid(W2 relu(W1 mean_hw(x)))       hardsigmoid(v) = relu6(v + 3) / 6
    hardswish(v) = v * relu6(v + 3) / 6

    stem 3x3/2 1->16 hswish                    14x14
    bneck 3x3 exp 16  -> 16  SE  relu   /1 (+) 14x14
    bneck 3x3 exp 64  -> 24      relu   /2     7x7
    bneck 3x3 exp 72  -> 24      relu   /1 (+)
    bneck 5x5 exp 96  -> 40  SE  hswish /1
    bneck 5x5 exp 120 -> 40  SE  hswish /1 (+)
    1x1 40 -> 160 hswish, global mean, Linear 160->128 hswish, Linear 128->10 (logits)

Every conv is followed by BatchNorm (kept in the export: qcomp folds it). Input x = pixel / 255
(tests/models/zoo_data.py). Deterministic: torch.manual_seed(0), one thread, a fixed shuffling
order; Adam (lr 3e-3, cosine decay), batch 128, cross-entropy. The export is TorchScript at opset
14 (HardSwish is an opset-14 op), input "input" [1, 1, 28, 28], output "logits" [1, 10].
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
import zoo_data  # noqa: E402


def conv_bn(cin: int, cout: int, k: int, stride: int = 1, groups: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False), nn.BatchNorm2d(cout)]


class SqueezeExcite(nn.Module):
    def __init__(self, c: int):
        super().__init__()
        self.fc1 = nn.Conv2d(c, max(8, c // 4), 1)
        self.fc2 = nn.Conv2d(max(8, c // 4), c, 1)

    def forward(self, x):
        s = x.mean((2, 3), keepdim=True)
        return x * nn.functional.hardsigmoid(self.fc2(torch.relu(self.fc1(s))))


class Bneck(nn.Module):
    def __init__(self, cin: int, exp: int, cout: int, k: int, se: bool, act: type, stride: int):
        super().__init__()
        layers: list[nn.Module] = []
        if exp != cin:
            layers += conv_bn(cin, exp, 1) + [act()]
        layers += conv_bn(exp, exp, k, stride, groups=exp) + [act()]
        if se:
            layers.append(SqueezeExcite(exp))
        layers += conv_bn(exp, cout, 1)
        self.body = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        y = self.body(x)
        return x + y if self.residual else y


class MobileNetV3(nn.Module):
    def __init__(self, classes: int = 10):
        super().__init__()
        self.features = nn.Sequential(
            *conv_bn(1, 16, 3, 2), nn.Hardswish(),
            Bneck(16, 16, 16, 3, True, nn.ReLU, 1),
            Bneck(16, 64, 24, 3, False, nn.ReLU, 2),
            Bneck(24, 72, 24, 3, False, nn.ReLU, 1),
            Bneck(24, 96, 40, 5, True, nn.Hardswish, 1),
            Bneck(40, 120, 40, 5, True, nn.Hardswish, 1),
            *conv_bn(40, 160, 1), nn.Hardswish())
        self.head = nn.Sequential(nn.Linear(160, 128), nn.Hardswish(), nn.Linear(128, classes))

    def forward(self, x):
        return self.head(self.features(x).mean((2, 3)))


def accuracy(model: nn.Module, x: np.ndarray, y: np.ndarray) -> float:
    model.eval()
    with torch.no_grad():
        pred = np.concatenate([model(torch.from_numpy(x[i:i + 500])).argmax(1).numpy()
                               for i in range(0, len(x), 500)])
    return float((pred == y).mean())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--train", type=int, default=60000, help="training images used (the first N)")
    args = ap.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(1)
    pixels, y = zoo_data.fashion("train")
    x, y = zoo_data.classify(pixels[:args.train]), y[:args.train]
    tp, yt = zoo_data.fashion("t10k")
    xt = zoo_data.classify(tp)
    model = MobileNetV3()
    steps = args.epochs * (len(x) // 128)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    loss_fn = nn.CrossEntropyLoss()
    order_rng = np.random.default_rng(0)
    start = time.time()
    for epoch in range(args.epochs):
        model.train()
        order = order_rng.permutation(len(x))
        for i in range(0, len(x) - 127, 128):
            idx = order[i:i + 128]
            loss = loss_fn(model(torch.from_numpy(x[idx])), torch.from_numpy(y[idx]))
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        print(f"epoch {epoch + 1}: loss {loss.item():.3f}, test accuracy {accuracy(model, xt, yt):.4f} "
              f"({time.time() - start:.0f} s)", file=sys.stderr)
    model.eval()
    with torch.no_grad():
        torch.onnx.export(model, (torch.zeros(1, 1, 28, 28),), str(args.out), dynamo=False, opset_version=14,
                          input_names=["input"], output_names=["logits"])
    print(f"wrote {args.out}: float test accuracy {accuracy(model, xt, yt):.4f}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
