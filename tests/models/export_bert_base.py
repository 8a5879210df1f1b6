"""Export a BERT-base-size encoder with random weights to ONNX (run in a subprocess; needs torch and
transformers, nothing is downloaded).

  python export_bert_base.py OUT_DIR [--seq 128]

BertModel(BertConfig()) at BERT-base size: 12 layers, hidden 768, 12 heads, FFN 3072, vocabulary
30522, its own initialization (normal, std 0.02) under torch.manual_seed(0). The exported graph is
export_minilm.py's wrapper (imported from it: token type 0, positions 0..S-1, an explicit additive
mask, eager attention, exact GELU, LayerNormalization at opset 17), batch 1, static shapes:

  inputs   input_ids [1, S] int64, attention_mask [1, S] int64
  output   last_hidden_state [1, S, 768] float32

OUT_DIR/sentence.npz holds a seeded random input: S - S/4 random token ids between [CLS] (101)
and [SEP] (102), then padding (id 0, mask 0). The script checks the wrapper against BertModel on it
(max abs difference <= 1e-4).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

from export_minilm import Encoder

SEED = 0


def sample_input(seq: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(SEED)
    real = seq - seq // 4
    ids = np.zeros((1, seq), np.int64)
    ids[0, :real] = rng.integers(1000, 30000, real)
    ids[0, 0], ids[0, real - 1] = 101, 102
    mask = np.zeros((1, seq), np.int64)
    mask[0, :real] = 1
    return ids, mask


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out_dir", type=Path)
    ap.add_argument("--seq", type=int, default=128)
    args = ap.parse_args()

    from transformers import BertConfig, BertModel

    torch.manual_seed(SEED)
    config = BertConfig(hidden_size=768, num_hidden_layers=12, num_attention_heads=12, intermediate_size=3072)
    config._attn_implementation = "eager"
    bert = BertModel(config, add_pooling_layer=False).eval()
    ids_np, mask_np = sample_input(args.seq)
    ids, mask = torch.from_numpy(ids_np), torch.from_numpy(mask_np)
    wrapper = Encoder(bert, args.seq).eval()
    with torch.no_grad():
        want = bert(input_ids=ids, attention_mask=mask).last_hidden_state
        got = wrapper(ids, mask)
        real = mask[0].bool()
        diff = float((want[0, real] - got[0, real]).abs().max())
        if diff > 1e-4:
            print(f"wrapper differs from BertModel by {diff}", file=sys.stderr)
            return 1
        out = args.out_dir / "model.onnx"
        torch.onnx.export(wrapper, (ids, mask), str(out), dynamo=False, opset_version=17,
                          input_names=["input_ids", "attention_mask"],
                          output_names=["last_hidden_state"], do_constant_folding=True)
    np.savez(args.out_dir / "sentence.npz", input_ids=ids_np, attention_mask=mask_np)
    print(f"wrote {out} (wrapper vs BertModel: max abs diff {diff:.2e})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
