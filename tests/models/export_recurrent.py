"""Export two tiny recurrent models with torch (run in a subprocess; needs torch). Weights are seeded,
not trained: the tests check that qcomp computes what onnxruntime computes, not accuracy.

  python export_recurrent.py OUT_DIR [--opset 14]

- OUT_DIR/kws_lstm.onnx: a keyword-spotting classifier. MFCC frames x [1, 12, 10] (batch, time,
  coefficients) -> LSTM(10 -> 24, batch_first) -> its last state Y_h -> Linear(24 -> 12) logits.
- OUT_DIR/crnn_head.onnx: a CRNN text recognizer's head. A feature map x [1, 8, 4, 8] (N, C, H, W)
  -> Conv 3x3 (8 -> 12) + ReLU -> columns as a sequence [W, N, C*H] -> bidirectional GRU(48 -> 16)
  -> bidirectional LSTM(32 -> 16) -> Linear(32 -> 11) per column: logits [8, 1, 11].
Both static-shape TorchScript exports (torch.onnx.export, dynamo=False).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

KWS_INPUT = (1, 12, 10)      # (batch, frames, MFCC coefficients)
CRNN_INPUT = (1, 8, 4, 8)    # (N, C, H, W): W columns become the sequence

class KwsLstm(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = torch.nn.LSTM(10, 24, batch_first=True)
        self.fc = torch.nn.Linear(24, 12)

    def forward(self, x):
        _, (h, _) = self.lstm(x)                          # Y_h [1, N, 24]: the last step's output
        return self.fc(h.squeeze(0))


class CrnnHead(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(8, 12, 3, padding=1)
        self.gru = torch.nn.GRU(48, 16, bidirectional=True)
        self.lstm = torch.nn.LSTM(32, 16, bidirectional=True)
        self.fc = torch.nn.Linear(32, 11)

    def forward(self, x):
        f = torch.relu(self.conv(x))                      # [N, 12, 4, W]
        seq = f.permute(3, 0, 1, 2).flatten(2)            # [W, N, 48]
        seq, _ = self.gru(seq)
        seq, _ = self.lstm(seq)
        return self.fc(seq)                               # [W, N, 11]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out_dir", type=Path)
    ap.add_argument("--opset", type=int, default=14)
    args = ap.parse_args()
    torch.manual_seed(0)
    for name, model, shape in (("kws_lstm", KwsLstm(), KWS_INPUT), ("crnn_head", CrnnHead(), CRNN_INPUT)):
        model.eval()
        torch.onnx.export(model, (torch.zeros(shape),), str(args.out_dir / f"{name}.onnx"), input_names=["x"],
                          output_names=["logits"], opset_version=args.opset, dynamo=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
