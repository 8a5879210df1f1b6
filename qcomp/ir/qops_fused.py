"""TARGET-stage fused ops of --quant dynamic graphs (passes/fuse_dynamic.py): a DynamicDense and the
float ops that read it, one node whose value is, element for element, the unfused sequence's.

Only backends that emit them receive them (builder.BACKEND_FUSIONS: llvm); every other backend, and
the `ref` target, run the unfused sequence. The reference interpreter runs them too
(qcomp/ref/fused_kernels.py: the unfused ops' own kernels, in the same order).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from .ops import Op
from .qops import DynamicDense, DynamicMatMul, _check
from .types import DType, IRError, TensorType

_F = DType.FLOAT32


@dataclass(frozen=True)
class DynamicDenseGelu(Op):
    """DynamicDense, the bias Add after it and GELU in its Erf form, fused. Per element, float32,
    each step one IEEE operation rounded once, in this order (the unfused graph's):
      d = DynamicDense(x, w, b, w_scale) {act_min, act_max}     (qops.DynamicDense)
      h = bias[n] + d                                            (Add: float32 addition is commutative)
      t = h / div                                                (Div by a scalar constant)
      e = erf(t)                                                 (Erf: the backend's Erf of the unfused node)
      a = e + one                                                (Add of a scalar constant)
      m = h * a                                                  (Mul)
      y = m * half                                               (Mul by a scalar constant)
    which is x * 0.5 * (1 + erf(x / sqrt 2)) with div = sqrt 2, one = 1, half = 0.5 as exported.
    Inputs: DynamicDense's four (x f32[..., K], w i8[N, K], b f32[N], w_scale f32[N]), then bias
    f32[N]. div, one, half: float32 values (stored as the Python floats they equal)."""
    act_min: float | None = None
    act_max: float | None = None
    div: float = 1.4142135381698608
    one: float = 1.0
    half: float = 0.5
    arity: ClassVar[int] = 5

    def dense(self) -> DynamicDense:
        """The DynamicDense of the sequence (d above)."""
        return DynamicDense(self.act_min, self.act_max)

    def infer(self, ins):
        out = self.dense().infer(ins[:4])
        _check(ins[4:], (_F,), "DynamicDenseGelu bias")
        n = out[0].shape[-1]
        if ins[4].shape != (n,):
            raise IRError(f"DynamicDenseGelu: the bias has shape {ins[4].shape}, expected ({n},)")
        return [TensorType(out[0].shape, _F)]


@dataclass(frozen=True)
class DynamicDenseAddNorm(Op):
    """DynamicDense, the bias Add after it, the residual Add and the LayerNorm over the last axis,
    fused. Per element, float32, in this order (the unfused graph's):
      d = DynamicDense(x, w, b, w_scale) {act_min, act_max}     (qops.DynamicDense)
      h = bias[n] + d                                            (Add: float32 addition is commutative)
      s = h + r                                                  (Add of the residual r)
      y = LayerNorm(s, gamma, beta) {axis: last, epsilon}        (ops.LayerNorm: the backend's LayerNorm
                                                                  of the unfused node, over each row of N)
    Inputs: DynamicDense's four (x f32[..., K], w i8[N, K], b f32[N], w_scale f32[N]), then bias
    f32[N], r f32 (the output's shape), gamma f32[N], beta f32[N]."""
    act_min: float | None = None
    act_max: float | None = None
    epsilon: float = 1e-5
    arity: ClassVar[int] = 8

    def dense(self) -> DynamicDense:
        """The DynamicDense of the sequence (d above)."""
        return DynamicDense(self.act_min, self.act_max)

    def infer(self, ins):
        out = self.dense().infer(ins[:4])
        _check(ins[4:], (_F, _F, _F, _F), "DynamicDenseAddNorm bias, residual, gamma, beta")
        shape = out[0].shape
        n = shape[-1]
        if ins[5].shape != shape:
            raise IRError(f"DynamicDenseAddNorm: the residual has shape {ins[5].shape}, the output {shape}")
        for what, t in (("bias", ins[4]), ("gamma", ins[6]), ("beta", ins[7])):
            if t.shape != (n,):
                raise IRError(f"DynamicDenseAddNorm: {what} has shape {t.shape}, expected ({n},)")
        return [TensorType(shape, _F)]


FUSED_OPS: dict[str, type[Op]] = {cls.__name__: cls for cls in [DynamicDenseGelu, DynamicDenseAddNorm]}


@dataclass(frozen=True)
class DynamicMatMulScaleAdd(Op):
    """DynamicMatMul, the Mul by a scalar constant after it and the Add of a float32 tensor that
    varies along the last axis only (attention's scores: Q K^T * 1/sqrt(d) + mask), fused. Per
    element, float32, each step one IEEE operation rounded once, in this order (the unfused graph's):
      d = DynamicMatMul(a, b) {act_min, act_max}                (qops.DynamicMatMul)
      s = d * scale                                              (Mul: float32 multiplication is commutative)
      y = s + m[n]                                               (Add: commutative; m broadcast over the
                                                                  leading axes)
    Inputs: DynamicMatMul's two (a f32[..., M, K], b f32[..., K, N]), then m f32[1, ..., 1, N] (rank
    at most the output's). scale: a float32 value (stored as the Python float it equals)."""
    act_min: float | None = None
    act_max: float | None = None
    scale: float = 1.0
    arity: ClassVar[int] = 3

    def matmul(self) -> DynamicMatMul:
        """The DynamicMatMul of the sequence (d above)."""
        return DynamicMatMul(self.act_min, self.act_max)

    def infer(self, ins):
        out = self.matmul().infer(ins[:2])
        _check(ins[2:], (_F,), "DynamicMatMulScaleAdd addend")
        shape, m = out[0].shape, ins[2].shape
        if len(m) > len(shape) or m[-1:] != shape[-1:] or any(d != 1 for d in m[:-1]):
            raise IRError(f"DynamicMatMulScaleAdd: the addend has shape {m}, expected [1, ..., 1, {shape[-1]}]")
        return [TensorType(shape, _F)]


FUSED_OPS[DynamicMatMulScaleAdd.__name__] = DynamicMatMulScaleAdd   # attention's scores (passes/fuse_dynamic_attention.py)


@dataclass(frozen=True)
class DynamicAttention(Op):
    """The core of one attention layer under --quant dynamic, fused (passes/fuse_attention.py): the
    head split of Q, K and V, the scores (DynamicMatMulScaleAdd), their Softmax, the product with V
    (DynamicMatMul) and the head merge. Its value is the unfused sequence's, element for element:
      qt = Transpose(q, perm 0, 2, 1, 3)                         [B, H, Sq, D]
      kt = Transpose(k, perm 0, 2, 3, 1)                         [B, H, D, Sk]
      vt = Transpose(v, perm 0, 2, 1, 3)                         [B, H, Sk, Dv]
      s  = DynamicMatMulScaleAdd(qt, kt, m) {scores_min, scores_max, scale}
      p  = Softmax(s, axis 3)                                    (the backend's float Softmax)
      c  = DynamicMatMul(p, vt) {context_min, context_max}       [B, H, Sq, Dv]
      y  = Transpose(c, perm 0, 2, 1, 3)                         [B, Sq, H, Dv]
    so q, k, v and p are each quantized per run from their whole tensor's min/max (the
    transposes move values only: the same sets, the same parameters).
    Inputs: q f32[B, Sq, H, D], k f32[B, Sk, H, D], v f32[B, Sk, H, Dv], m f32[1, ..., 1, Sk]
    (rank at most 4). scale: a float32 value (stored as the Python float it equals)."""
    scores_min: float | None = None
    scores_max: float | None = None
    scale: float = 1.0
    context_min: float | None = None
    context_max: float | None = None
    arity: ClassVar[int] = 4

    def scores(self) -> DynamicMatMulScaleAdd:
        """The scores' node of the sequence (s above)."""
        return DynamicMatMulScaleAdd(self.scores_min, self.scores_max, self.scale)

    def context(self) -> DynamicMatMul:
        """The context's DynamicMatMul of the sequence (c above)."""
        return DynamicMatMul(self.context_min, self.context_max)

    def infer(self, ins):
        _check(ins, (_F, _F, _F, _F), "DynamicAttention q, k, v, mask")
        q, k, v, m = (t.shape for t in ins)
        if len(q) != 4 or len(k) != 4 or len(v) != 4:
            raise IRError(f"DynamicAttention: q, k, v must be [B, S, H, D], got {q}, {k}, {v}")
        if k[0] != q[0] or k[2:] != q[2:] or v[:3] != k[:3]:
            raise IRError(f"DynamicAttention: q {q}, k {k}, v {v} do not agree as [B, Sq, H, D], [B, Sk, H, D], "
                          f"[B, Sk, H, Dv]")
        if len(m) > 4 or m[-1:] != (k[1],) or any(d != 1 for d in m[:-1]):
            raise IRError(f"DynamicAttention: the mask has shape {m}, expected [1, ..., 1, {k[1]}]")
        return [TensorType((q[0], q[1], q[2], v[3]), _F)]


FUSED_OPS[DynamicAttention.__name__] = DynamicAttention   # attention's core (passes/fuse_attention.py)
from .qops_split import DynamicDenseSplit  # noqa: E402  (P DynamicDense of one activation: passes/share_dynamic_input.py)

FUSED_OPS[DynamicDenseSplit.__name__] = DynamicDenseSplit
