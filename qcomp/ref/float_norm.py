"""Float kernels of the normalizations: BatchNorm, LayerNorm, Softmax.

    BatchNorm (last axis):  y = x * a + c,  a = scale / sqrt(var + eps),  c = bias - mean * a
                            (a and c folded in float64 and rounded once, as onnxruntime folds them)
    LayerNorm (axes [axis, rank)):
                            mu = mean(x),  var = mean((x - mu)^2)      (two passes, float64)
                            y = (x - mu) / sqrt(var + eps) * scale + bias
    Softmax (one axis):     y = exp(x - max(x)) / sum(exp(x - max(x)))  (float32; the max shift
                            keeps exp <= 1, so nothing overflows)
"""
from __future__ import annotations

import numpy as np

from ..ir.ops import BatchNorm, LayerNorm, Softmax


def batch_norm(op: BatchNorm, x: np.ndarray, scale: np.ndarray, bias: np.ndarray, mean: np.ndarray,
               var: np.ndarray) -> np.ndarray:
    a = scale.astype(np.float64) / np.sqrt(var.astype(np.float64) + op.epsilon)
    c = bias.astype(np.float64) - mean.astype(np.float64) * a
    return x * a.astype(x.dtype) + c.astype(x.dtype)


def layer_norm(op: LayerNorm, x: np.ndarray, scale: np.ndarray, bias: np.ndarray) -> np.ndarray:
    axes = tuple(range(op.axis, x.ndim))
    x64 = x.astype(np.float64)
    centred = x64 - x64.mean(axis=axes, keepdims=True)
    var = np.mean(centred * centred, axis=axes, keepdims=True)
    y = centred / np.sqrt(var + op.epsilon) * scale.astype(np.float64) + bias.astype(np.float64)
    return y.astype(x.dtype)


def softmax(op: Softmax, x: np.ndarray) -> np.ndarray:
    e = np.exp(x - np.max(x, axis=op.axis, keepdims=True))
    return e / np.sum(e, axis=op.axis, keepdims=True)


TABLE = {BatchNorm: batch_norm, LayerNorm: layer_norm, Softmax: softmax}
