"""The figures of the accuracy benchmark, computed the same way for every path.

For logits L (N, C) of a quantized path, F (N, C) of the FP32 model and labels y (N,):

    top1(L, y)       = #{ i : argmax_k L[i, k] == y[i] } / N
    agreement(L, F)  = #{ i : argmax_k L[i, k] == argmax_k F[i, k] } / N
    cosine(L, F)[i]  = <L[i], F[i]> / (|L[i]| |F[i]|)          (float64; one value per row)

argmax takes the first index of the maximum (numpy's rule), so ties are decided the same way on
every path. A row of zeros has no direction: its cosine is defined as 0 (counted as a failure),
never NaN, so it cannot slip through a `>=` threshold.

Sentence embeddings (all-MiniLM-L6-v2): mean pooling of the last hidden state H (S, D) over the
tokens the attention mask m (S,) keeps, as sentence-transformers does:

    e = sum_s m[s] H[s] / max(sum_s m[s], 1e-9)
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def _as_rows(a: np.ndarray) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    return a.reshape(a.shape[0], -1)


def top1(logits: np.ndarray, labels: np.ndarray) -> float:
    logits, labels = _as_rows(logits), np.asarray(labels)
    if logits.shape[0] != labels.shape[0] or labels.shape[0] == 0:
        raise ValueError(f"top1: {logits.shape[0]} rows of logits for {labels.shape[0]} labels")
    return float(np.mean(np.argmax(logits, axis=1) == labels))


def agreement(logits: np.ndarray, reference: np.ndarray) -> float:
    a, b = _as_rows(logits), _as_rows(reference)
    if a.shape != b.shape or a.shape[0] == 0:
        raise ValueError(f"agreement: shapes {a.shape} and {b.shape} differ (or are empty)")
    return float(np.mean(np.argmax(a, axis=1) == np.argmax(b, axis=1)))


def cosine_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a, b = _as_rows(a), _as_rows(b)
    if a.shape != b.shape:
        raise ValueError(f"cosine: shapes {a.shape} and {b.shape} differ")
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    dots = np.sum(a * b, axis=1)
    return np.where(norms > 0, dots / np.where(norms > 0, norms, 1.0), 0.0)


def mean_pool(hidden: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """(N, S, D) hidden states and (N, S) attention masks -> (N, D) sentence embeddings."""
    h = np.asarray(hidden, dtype=np.float64)
    m = np.asarray(mask, dtype=np.float64)[..., None]
    return np.sum(h * m, axis=1) / np.maximum(np.sum(m, axis=1), 1e-9)


@dataclass(frozen=True)
class Comparison:
    """One quantized path against the FP32 model on one set of inputs."""
    path: str                   # e.g. "qcomp int8 (minmax)"
    count: int                  # inputs compared
    agreement: float | None     # argmax agreement with FP32 (None for embeddings)
    cosine_mean: float
    cosine_min: float
    top1: float | None = None   # vs labels, where labels exist
    labelled: int = 0           # how many inputs have labels
    note: str = ""

    @staticmethod
    def of_logits(path: str, logits: np.ndarray, fp32: np.ndarray, labels: np.ndarray | None = None,
                  note: str = "") -> "Comparison":
        """`labels` may hold -1 for inputs without a label; top1 counts the labelled ones only."""
        cos = cosine_rows(logits, fp32)
        acc, labelled = None, 0
        if labels is not None:
            keep = np.asarray(labels) >= 0
            labelled = int(keep.sum())
            if labelled:
                acc = top1(_as_rows(logits)[keep], np.asarray(labels)[keep])
        return Comparison(path, int(cos.size), agreement(logits, fp32), float(cos.mean()), float(cos.min()),
                          acc, labelled, note)

    @staticmethod
    def of_embeddings(path: str, emb: np.ndarray, fp32: np.ndarray, note: str = "") -> "Comparison":
        cos = cosine_rows(emb, fp32)
        return Comparison(path, int(cos.size), None, float(cos.mean()), float(cos.min()), note=note)
