"""Export one small transformer encoder block (BERT's post-LayerNorm layer) with seeded random weights.

  python export_encoder_block.py OUT_DIR [--opset 17]

hidden 32, 4 heads of 8, feed-forward 64, sequence 8, batch 1; input `x` [1, 8, 32] float32 (token
embeddings), output `y` [1, 8, 32]:

  a = softmax(q k^T / sqrt(8)) v  (per head; q, k, v, o: Linear 32 -> 32)
  h = LayerNorm(x + o(a));  y = LayerNorm(h + W2 gelu(W1 h))   (exact GELU: Erf; eps 1e-12 as BERT)

torch.manual_seed(0) fixes the weights; gamma and beta are random too (not 1 and 0), so the per-element
affine step is exercised. Opset 17 exports nn.LayerNorm as LayerNormalization; opset 13 and lower
export its decomposition (ReduceMean, Sub, Pow, ReduceMean, Add, Sqrt, Div, Mul, Add). Writes
OUT_DIR/model.onnx.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

HIDDEN, HEADS, FFN, SEQ = 32, 4, 64, 8


class Block(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.q, self.k, self.v, self.o = (torch.nn.Linear(HIDDEN, HIDDEN) for _ in range(4))
        self.norm1, self.norm2 = torch.nn.LayerNorm(HIDDEN, eps=1e-12), torch.nn.LayerNorm(HIDDEN, eps=1e-12)
        self.ff1, self.ff2 = torch.nn.Linear(HIDDEN, FFN), torch.nn.Linear(FFN, HIDDEN)
        with torch.no_grad():
            for norm in (self.norm1, self.norm2):
                norm.weight.copy_(1.0 + 0.3 * torch.randn(HIDDEN))
                norm.bias.copy_(0.2 * torch.randn(HIDDEN))

    def heads(self, t: torch.Tensor) -> torch.Tensor:
        return t.reshape(1, SEQ, HEADS, HIDDEN // HEADS).transpose(1, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        q, k, v = self.heads(self.q(x)), self.heads(self.k(x)), self.heads(self.v(x))
        scores = torch.matmul(q, k.transpose(-1, -2)) / (HIDDEN // HEADS) ** 0.5
        a = torch.matmul(torch.softmax(scores, dim=-1), v).transpose(1, 2).reshape(1, SEQ, HIDDEN)
        h = self.norm1(x + self.o(a))
        return self.norm2(h + self.ff2(torch.nn.functional.gelu(self.ff1(h))))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out_dir", type=Path)
    ap.add_argument("--opset", type=int, default=17)
    args = ap.parse_args()
    torch.manual_seed(0)
    block = Block().eval()
    x = torch.randn(1, SEQ, HIDDEN)
    with torch.no_grad():
        torch.onnx.export(block, (x,), str(args.out_dir / "model.onnx"), dynamo=False, opset_version=args.opset,
                          input_names=["x"], output_names=["y"], do_constant_folding=True)
    print(f"wrote {args.out_dir / 'model.onnx'} (opset {args.opset})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
