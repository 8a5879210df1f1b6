"""Train an anchor-free (CenterNet-style) detector on Fashion-MNIST canvases and export it to ONNX,
peak extraction included.

  python tests/models/train_centernet.py OUT.onnx [--epochs 4]

Data (tests/models/zoo_data.py): 64x64 canvases with 1 to 3 Fashion-MNIST items (28x28, 10
classes) at random places; the target is one heatmap per class at stride 4 (16x16), a Gaussian
peak of 1 at each object's centre cell.

Network: conv 3x3/2 1->16, conv 3x3/2 16->32, three conv 3x3 32->32 (each + BatchNorm + ReLU;
receptive field 39 px, more than an item), head conv 3x3 32->32 + ReLU, conv 1x1 32->10, sigmoid:
heat (1, 10, 16, 16). Trained with CenterNet's focal loss (Zhou et al. 2019), P = heat, Y = target:

    L = -1/#pos * sum( Y == 1 ? (1 - P)^2 log P : (1 - Y)^4 P^2 log(1 - P) )

The export carries the post-processing in the graph, as CenterNet deployments do:

    peak   = Where(Equal(MaxPool3x3/1(heat), heat), heat, 0)       local maxima (NMS by max pooling)
    scores, indices = TopK(Reshape(peak, (1, 1600)), k = 5)        index = class * 256 + y * 16 + x

Outputs "heat" (1, 10, 16, 16), "scores" (1, 5), "indices" (1, 5) int64; input "input"
(1, 1, 64, 64), x = pixel / 255. Deterministic: torch.manual_seed(0), one thread, seeded canvases
and shuffling; Adam (lr 3e-3, cosine decay), batch 64. Prints the float hit rate on 500 test
canvases (zoo_data.hit_rate: class right, centre within one cell, score >= 0.3). TorchScript export,
opset 14.
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

TOPK = 5


def block(cin: int, cout: int, stride: int = 1) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]


class CenterNet(nn.Module):
    def __init__(self, classes: int = 10):
        super().__init__()
        self.backbone = nn.Sequential(*block(1, 16, 2), *block(16, 32, 2), *block(32, 32), *block(32, 32),
                                      *block(32, 32))
        self.head = nn.Sequential(nn.Conv2d(32, 32, 3, 1, 1), nn.ReLU(), nn.Conv2d(32, classes, 1))
        nn.init.constant_(self.head[2].bias, -2.19)        # sigmoid prior 0.1, as CenterNet

    def forward(self, x):
        return self.head(self.backbone(x))                 # heat logits


class Exported(nn.Module):
    """The trained network plus its post-processing (module docstring)."""

    def __init__(self, net: CenterNet):
        super().__init__()
        self.net = net

    def forward(self, x):
        heat = torch.sigmoid(self.net(x))
        peak = torch.where(nn.functional.max_pool2d(heat, 3, 1, 1) == heat, heat, torch.zeros_like(heat))
        scores, indices = torch.topk(peak.reshape(1, -1), TOPK)
        return heat, scores, indices


def focal_loss(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    p = torch.sigmoid(logits).clamp(1e-4, 1 - 1e-4)
    pos = target.eq(1).float()
    loss = pos * (1 - p) ** 2 * torch.log(p) + (1 - pos) * (1 - target) ** 4 * p ** 2 * torch.log(1 - p)
    return -loss.sum() / pos.sum().clamp(min=1)


def evaluate(model: CenterNet, x: np.ndarray, objects) -> float:
    exp = Exported(model).eval()
    with torch.no_grad():
        outs = [exp(torch.from_numpy(x[i:i + 1])) for i in range(len(x))]
    scores = np.concatenate([o[1].numpy() for o in outs])
    indices = np.concatenate([o[2].numpy() for o in outs])
    return zoo_data.hit_rate(scores, indices, objects)[0]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--canvases", type=int, default=10000)
    args = ap.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(1)
    x, objects = zoo_data.detect(*zoo_data.fashion("train"), args.canvases, seed=0)
    y = zoo_data.heatmaps(objects)
    xt, objects_t = zoo_data.detect(*zoo_data.fashion("t10k"), 500, seed=1)
    model = CenterNet()
    batch = 64
    steps = args.epochs * (len(x) // batch)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    order_rng = np.random.default_rng(0)
    start = time.time()
    for epoch in range(args.epochs):
        model.train()
        order = order_rng.permutation(len(x))
        for i in range(0, len(x) - batch + 1, batch):
            idx = order[i:i + batch]
            loss = focal_loss(model(torch.from_numpy(x[idx])), torch.from_numpy(y[idx]))
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        model.eval()
        print(f"epoch {epoch + 1}: loss {loss.item():.3f}, test hit rate {evaluate(model, xt, objects_t):.4f} "
              f"({time.time() - start:.0f} s)", file=sys.stderr)
    exp = Exported(model).eval()
    with torch.no_grad():
        torch.onnx.export(exp, (torch.zeros(1, 1, zoo_data.CANVAS, zoo_data.CANVAS),), str(args.out), dynamo=False,
                          opset_version=14, input_names=["input"], output_names=["heat", "scores", "indices"])
    print(f"wrote {args.out}: float test hit rate {evaluate(model, xt, objects_t):.4f}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
