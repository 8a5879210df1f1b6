"""Export a tiny transformer encoder with token-id and attention-mask inputs (seeded random weights).

  python export_token_encoder.py OUT_DIR [--opset 17]

vocab 40, hidden 16, 2 heads of 8, feed-forward 32, sequence 8, batch 1. Inputs `input_ids` [1, 8]
int64 and `attention_mask` [1, 8] int64 (1: a token, 0: padding); output `y` [1, 8, 16] float32:

  e = LayerNorm(E[input_ids] + P)                       (token embedding Gather at run time; P constant)
  bias = (1 - float(attention_mask)) * -10000           (BERT's extended attention mask)
  a = softmax(q k^T / sqrt(8) + bias) v   (per head)
  h = LayerNorm(e + o(a));  y = LayerNorm(h + W2 gelu(W1 h))

torch.manual_seed(0) fixes the weights. Writes OUT_DIR/model.onnx.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

VOCAB, HIDDEN, HEADS, FFN, SEQ = 40, 16, 2, 32, 8


class Encoder(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.tokens = torch.nn.Embedding(VOCAB, HIDDEN)
        self.positions = torch.nn.Parameter(0.1 * torch.randn(1, SEQ, HIDDEN))
        self.q, self.k, self.v, self.o = (torch.nn.Linear(HIDDEN, HIDDEN) for _ in range(4))
        self.norm0, self.norm1, self.norm2 = (torch.nn.LayerNorm(HIDDEN, eps=1e-12) for _ in range(3))
        self.ff1, self.ff2 = torch.nn.Linear(HIDDEN, FFN), torch.nn.Linear(FFN, HIDDEN)

    def heads(self, t: torch.Tensor) -> torch.Tensor:
        return t.reshape(1, SEQ, HEADS, HIDDEN // HEADS).transpose(1, 2)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        x = self.norm0(self.tokens(input_ids) + self.positions)
        bias = (1.0 - attention_mask[:, None, None, :].to(torch.float32)) * -10000.0
        q, k, v = self.heads(self.q(x)), self.heads(self.k(x)), self.heads(self.v(x))
        scores = torch.matmul(q, k.transpose(-1, -2)) / (HIDDEN // HEADS) ** 0.5 + bias
        a = torch.matmul(torch.softmax(scores, dim=-1), v).transpose(1, 2).reshape(1, SEQ, HIDDEN)
        h = self.norm1(x + self.o(a))
        return self.norm2(h + self.ff2(torch.nn.functional.gelu(self.ff1(h))))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out_dir", type=Path)
    ap.add_argument("--opset", type=int, default=17)
    args = ap.parse_args()
    torch.manual_seed(0)
    model = Encoder().eval()
    ids = torch.randint(0, VOCAB, (1, SEQ))
    mask = torch.ones(1, SEQ, dtype=torch.int64)
    with torch.no_grad():
        torch.onnx.export(model, (ids, mask), str(args.out_dir / "model.onnx"), dynamo=False, opset_version=args.opset,
                          input_names=["input_ids", "attention_mask"], output_names=["y"], do_constant_folding=True)
    print(f"wrote {args.out_dir / 'model.onnx'} (opset {args.opset})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
