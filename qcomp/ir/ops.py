"""The ops of the qcomp IR: one frozen dataclass per op, its attributes typed.

This module is the one to import ops from. The op families are defined beside it, one file each:
ops_base.py (`Op`, shape helpers), ops_compute.py (conv, matmul, norms, pooling, reductions),
ops_elementwise.py (unary and binary), ops_logic.py (comparison, logic, Where, more
reductions), ops_movement.py (concat, reshape, slice, resize, gather);
the quantization boundary ops, `output_count` and the `ALL_OPS` registry are defined here.

An op instance is the attribute set of a node; the class is the op. Every op knows its input
arity and infers its output types from its input types (`infer`), which the frontend uses to
type new values and the verifier uses to re-check every node after every pass.

Fused activations: Conv2D, ConvTranspose2D, Dense, MatMul and Add carry `act_min`/`act_max`
(None = unbounded): the op's result is clamped to [act_min, act_max] (Relu = (0, None),
Relu6 = (0, 6)). The frontend leaves them None; the fuse_activations pass sets them.

Layout: activations are NHWC. Conv-like ops take x[N,H,W,C] and weights w[O,KH,KW,C/group]
("OHWI", as TFLite); channel-wise ops (BatchNorm) act on the last axis. Pads of 2-D window ops
are (top, left, bottom, right). Axis attributes are non-negative and refer to the IR layout.

`infer` returns dtype-and-shape types without quant params: which quant params an integer value
carries is decided by the quantization passes, and the verifier compares shapes and dtypes only.
"""
from __future__ import annotations

from dataclasses import dataclass

from .ops_base import Op, Types, broadcast_shapes, expect_rank, same_type, window_out
from .ops_compute import (AvgPool2D, BatchNorm, Conv2D, ConvTranspose2D, Dense, LayerNorm, MatMul, MaxPool2D,
                          ReduceMax, ReduceMean, Softmax)
from .ops_elementwise import (Abs, Add, Binary, Cast, Ceil, Celu, Clip, Cos, Div, Elu, Erf, Exp, Floor, Gelu,
                              HardSigmoid, HardSwish, LeakyRelu, Log, Max, Min, Mish, Mod, Mul, Pow, PRelu, Relu,
                              Round, Selu, Shrink, Sigmoid, Sign, Sin, Softplus, Softsign, Sqrt, Sub, Tanh,
                              ThresholdedRelu, Unary)
from .ops_movement import Concat, Gather, Pad, Reshape, Resize, Slice, Split, Transpose
from .ops_logic import (ArgMax, ArgMin, Compare, CumSum, IsInf, IsNaN, Logical, Not, ReduceMin, ReduceProd,
                        ReduceSum, Where)
from .ops_select import TopK
from .types import DType, IRError, TensorType

__all__ = [
    "Op", "Types", "broadcast_shapes", "expect_rank", "same_type", "window_out",
    "AvgPool2D", "BatchNorm", "Conv2D", "ConvTranspose2D", "Dense", "LayerNorm", "MatMul", "MaxPool2D", "ReduceMax",
    "ReduceMean", "Softmax",
    "Add", "Binary", "Cast", "Clip", "Div", "Erf", "Exp", "Gelu", "HardSigmoid", "HardSwish", "LeakyRelu", "Mul", "Pow",
    "PRelu", "Relu", "Sigmoid", "Sqrt", "Sub", "Tanh", "Unary",
    "Abs", "Ceil", "Celu", "Cos", "Elu", "Floor", "Log", "Max", "Min", "Mish", "Mod", "Round", "Selu", "Shrink",
    "Sign", "Sin", "Softplus", "Softsign", "ThresholdedRelu",
    "Concat", "Gather", "Pad", "Reshape", "Resize", "Slice", "Split", "Transpose",
    "TopK",
    "Quantize", "Dequantize", "Requantize", "output_count", "ALL_OPS",
    "ArgMax", "ArgMin", "Compare", "CumSum", "IsInf", "IsNaN", "Logical", "Not", "ReduceMin", "ReduceProd",
    "ReduceSum", "Where",
]


# ---- quantization boundary (QUANTIZED stage and later) --------------------------------------

@dataclass(frozen=True)
class Quantize(Op):
    """float -> int: q = clamp(rint(x / scale) + zero_point) with the output's quant params."""
    dtype: DType = DType.INT8

    def infer(self, ins):
        if not ins[0].dtype.is_float:
            raise IRError(f"Quantize: input must be float, got {ins[0].dtype.value}")
        return [TensorType(ins[0].shape, self.dtype)]


@dataclass(frozen=True)
class Dequantize(Op):
    """int -> float: x = (q - zero_point) * scale with the input's quant params."""

    def infer(self, ins):
        if ins[0].dtype.is_float:
            raise IRError("Dequantize: input must be an integer tensor")
        return [TensorType(ins[0].shape, DType.FLOAT32)]


@dataclass(frozen=True)
class Requantize(Op):
    """int -> int: change quant params (input's to output's)."""
    dtype: DType = DType.INT8

    def infer(self, ins):
        if ins[0].dtype.is_float:
            raise IRError("Requantize: input must be an integer tensor")
        return [TensorType(ins[0].shape, self.dtype)]


def output_count(op: Op) -> int:
    return op.outputs_count if isinstance(op, Split) else op.num_outputs


ALL_OPS: dict[str, type[Op]] = {
    cls.__name__: cls for cls in [
        Conv2D, ConvTranspose2D, Dense, MatMul, BatchNorm, Relu, Clip, LeakyRelu, Sigmoid, Tanh,
        HardSigmoid, HardSwish, Erf, Gelu, Sqrt, Exp, Cast, Add, Sub, Mul, Div, Pow, PRelu, MaxPool2D,
        AvgPool2D, ReduceMean, ReduceMax, Softmax, LayerNorm, Concat, Reshape, Transpose, Pad, Slice,
        Split, Resize, Gather, Quantize, Dequantize, Requantize,
        Elu, Selu, Celu, Softplus, Softsign, Mish, Log, Abs, Floor, Ceil, Round, Sign, Sin, Cos, ThresholdedRelu,
        Shrink, Min, Max, Mod,
        Compare, Not, Logical, Where, IsNaN, IsInf, ReduceSum, ReduceMin, ReduceProd, ArgMax, ArgMin, CumSum,
    ]
}
ALL_OPS["TopK"] = TopK   # selection (ops_select.py)
# ---- index ops with run-time indices (ops_index.py) ----
from .ops_index import GatherElements, GatherND, ScatterElements, ScatterND  # noqa: E402

__all__ += ["GatherElements", "GatherND", "ScatterElements", "ScatterND"]
ALL_OPS.update({cls.__name__: cls for cls in (GatherElements, GatherND, ScatterElements, ScatterND)})
