"""Train a CRNN-style sequence recognizer (conv features, bidirectional LSTM, per-column classifier,
CTC) on strips of Fashion-MNIST items and export it to ONNX.

  python tests/models/train_crnn.py OUT.onnx [--epochs 5]

Data (tests/models/zoo_data.py): 16x96 strips holding 3 to 5 Fashion-MNIST items (downscaled to
14x14) left to right with random gaps; the label is the class sequence (10 classes, CTC blank 10).

Network (Shi et al. 2015, shrunk): conv 3x3 1->16 + BN + ReLU, MaxPool 2 (8x48), conv 3x3 16->32
+ BN + ReLU, MaxPool 2 (4x24), conv 3x3 32->32 + BN + ReLU, MaxPool 2 (2x12); the 12 columns become
a sequence (T=12, N=1, 32*2=64) -> bidirectional LSTM(64 -> 32 each way) -> Linear(64 -> 11) per
column: output "logits" (12, 1, 11), input "input" (1, 1, 16, 96), x = pixel / 255. (T is kept
short on purpose: every LSTM step is unrolled into its own kernels, so build time grows with T.) Trained with CTC loss
on log_softmax(logits); read by best-path decoding (zoo_data.ctc_greedy: argmax per column, merge
repeats, drop blanks), which the logits decide alone.

Deterministic: torch.manual_seed(0), one thread, seeded strips and shuffling; Adam (lr 3e-3,
cosine decay), batch 64. Prints the float sequence accuracy (the whole sequence right) on 500 test
strips. TorchScript export, opset 14.
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

BLANK = 10


def block(cin: int, cout: int) -> list[nn.Module]:
    return [nn.Conv2d(cin, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]


class Crnn(nn.Module):
    def __init__(self, classes: int = 10):
        super().__init__()
        self.features = nn.Sequential(*block(1, 16), nn.MaxPool2d(2), *block(16, 32), nn.MaxPool2d(2),
                                      *block(32, 32), nn.MaxPool2d(2))
        self.rnn = nn.LSTM(64, 32, bidirectional=True)
        self.fc = nn.Linear(64, classes + 1)

    def forward(self, x):
        f = self.features(x)                               # (N, 32, 2, 12)
        seq = f.permute(3, 0, 1, 2).flatten(2)             # (12, N, 64)
        seq, _ = self.rnn(seq)
        return self.fc(seq)                                # (12, N, 11)


def sequence_accuracy(model: Crnn, x: np.ndarray, labels: np.ndarray) -> float:
    model.eval()
    with torch.no_grad():
        logits = torch.cat([model(torch.from_numpy(x[i:i + 250])) for i in range(0, len(x), 250)], dim=1)
    return zoo_data.sequence_accuracy(logits.numpy(), labels)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", type=Path)
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--strips", type=int, default=12000)
    args = ap.parse_args()
    torch.manual_seed(0)
    torch.set_num_threads(1)
    x, labels = zoo_data.recognize(*zoo_data.fashion("train"), args.strips, seed=0)
    xt, labels_t = zoo_data.recognize(*zoo_data.fashion("t10k"), 500, seed=1)
    lengths = (labels >= 0).sum(1)
    model = Crnn()
    batch = 64
    steps = args.epochs * (len(x) // batch)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    ctc = nn.CTCLoss(blank=BLANK, zero_infinity=True)
    order_rng = np.random.default_rng(0)
    start = time.time()
    for epoch in range(args.epochs):
        model.train()
        order = order_rng.permutation(len(x))
        for i in range(0, len(x) - batch + 1, batch):
            idx = order[i:i + batch]
            logp = model(torch.from_numpy(x[idx])).log_softmax(2)
            targets = torch.from_numpy(np.concatenate([labels[j][:lengths[j]] for j in idx]))
            loss = ctc(logp, targets, torch.full((batch,), logp.shape[0], dtype=torch.long),
                       torch.from_numpy(lengths[idx]))
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            opt.step()
            sched.step()
        print(f"epoch {epoch + 1}: loss {loss.item():.3f}, test sequence accuracy "
              f"{sequence_accuracy(model, xt, labels_t):.4f} ({time.time() - start:.0f} s)", file=sys.stderr)
    model.eval()
    with torch.no_grad():
        torch.onnx.export(model, (torch.zeros(1, 1, zoo_data.STRIP_H, zoo_data.STRIP_W),), str(args.out),
                          dynamo=False, opset_version=14, input_names=["input"], output_names=["logits"])
    print(f"wrote {args.out}: float test sequence accuracy {sequence_accuracy(model, xt, labels_t):.4f}",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
