"""Each supported ONNX op (with its attribute variants) as a one-node model, run by onnxruntime and
by qcomp (import_onnx + ref.run_float): cosine >= 0.9999 and max|a-b| / max|b| <= 1e-3.

Cases marked nhwc put a 1x1 Conv before the op, so inside qcomp the op's input is NHWC and the
frontend has to remap the op's axes (or transpose back) correctly. Shapes are odd on purpose.
"""
from __future__ import annotations

import numpy as np
import pytest

from qcomp.frontend import import_onnx
from qcomp.ref import run_float

from .onnx_util import Case, Ints, Pos, assert_matches, run_onnxruntime

_rng = np.random.default_rng(0)
I64_MAX = np.iinfo(np.int64).max


def w(*shape, scale=None) -> np.ndarray:
    """Seeded float32 weights (He-like scale over all but the first axis)."""
    fan = int(np.prod(shape[1:])) if len(shape) > 1 else 1
    return (_rng.standard_normal(shape) * (scale if scale is not None else 1 / np.sqrt(fan))).astype(np.float32)


def i64(*v) -> np.ndarray:
    return np.array(v, dtype=np.int64)


def f32(*v) -> np.ndarray:
    return np.array(v, dtype=np.float32)


CONV = [
    Case("conv_3x3_pad1", "Conv", ((1, 3, 17, 17), w(5, 3, 3, 3), w(5)), {"pads": [1, 1, 1, 1]}),
    Case("conv_no_bias_5x3", "Conv", ((1, 3, 13, 11), w(13, 3, 5, 3)), {"pads": [2, 1, 2, 1]}),
    Case("conv_stride2_odd", "Conv", ((1, 3, 33, 29), w(17, 3, 3, 3), w(17)),
         {"strides": [2, 2], "pads": [1, 1, 1, 1]}),
    Case("conv_groups", "Conv", ((1, 6, 9, 9), w(9, 2, 3, 3), w(9)), {"group": 3, "pads": [1, 1, 1, 1]}),
    Case("conv_depthwise_13", "Conv", ((1, 13, 15, 15), w(13, 1, 3, 3), w(13)), {"group": 13, "pads": [1, 1, 1, 1]}),
    Case("conv_depthwise_mult2", "Conv", ((1, 5, 11, 11), w(10, 1, 3, 3), w(10)), {"group": 5, "strides": [2, 2]}),
    Case("conv_dilated", "Conv", ((1, 3, 17, 19), w(5, 3, 3, 3), w(5)), {"dilations": [2, 3], "pads": [2, 3, 2, 3]}),
    Case("conv_asym_pads", "Conv", ((1, 3, 13, 13), w(5, 3, 3, 3), w(5)), {"pads": [0, 1, 2, 1], "strides": [2, 1]}),
    Case("conv_same_upper_s2", "Conv", ((1, 3, 17, 17), w(5, 3, 3, 3), w(5)),
         {"auto_pad": "SAME_UPPER", "strides": [2, 2]}),
    Case("conv_same_lower_k4", "Conv", ((1, 3, 13, 13), w(5, 3, 4, 4), w(5)), {"auto_pad": "SAME_LOWER"}),
    Case("conv_valid", "Conv", ((1, 3, 13, 13), w(5, 3, 3, 3), w(5)), {"auto_pad": "VALID", "strides": [2, 2]}),
    Case("conv_1x1_33ch", "Conv", ((1, 33, 7, 5), w(33, 33, 1, 1), w(33)), {}),
    Case("conv_1ch_h1", "Conv", ((1, 1, 1, 31), w(3, 1, 1, 5), w(3)), {"pads": [0, 2, 0, 2]}),
    Case("conv_batch2", "Conv", ((2, 3, 9, 9), w(5, 3, 3, 3), w(5)), {"pads": [1, 1, 1, 1]}),
    Case("conv1d", "Conv", ((1, 5, 31), w(13, 5, 3), w(13)), {"pads": [1, 1], "strides": [2], "dilations": [1]}),
    Case("conv1d_depthwise_same", "Conv", ((1, 5, 17), w(5, 1, 5)), {"group": 5, "auto_pad": "SAME_UPPER"}),
    Case("conv_after_conv", "Conv", ((1, 3, 9, 9), w(5, 3, 3, 3), w(5)), {"pads": [1, 1, 1, 1]}, nhwc=True),
]

CONV_TRANSPOSE = [
    Case("convT_s2_outpad", "ConvTranspose", ((1, 3, 7, 9), w(3, 5, 3, 3), w(5)),
         {"strides": [2, 2], "pads": [1, 1, 1, 1], "output_padding": [1, 1]}),
    Case("convT_groups", "ConvTranspose", ((1, 6, 5, 5), w(6, 2, 3, 3), w(6)), {"group": 3, "strides": [2, 1]}),
    Case("convT_depthwise", "ConvTranspose", ((1, 5, 6, 6), w(5, 1, 4, 4)),
         {"group": 5, "strides": [2, 2], "pads": [1, 1, 1, 1]}),
    Case("convT_dilated_asym", "ConvTranspose", ((1, 3, 5, 7), w(3, 4, 3, 2), w(4)),
         {"dilations": [2, 1], "pads": [0, 1, 1, 0]}),
    Case("convT_output_shape", "ConvTranspose", ((1, 3, 5, 5), w(3, 4, 3, 3), w(4)),
         {"strides": [2, 2], "output_shape": [10, 10]}),
    Case("convT_same_upper", "ConvTranspose", ((1, 3, 5, 5), w(3, 4, 3, 3)),
         {"strides": [2, 2], "auto_pad": "SAME_UPPER"}),
    Case("convT_1d", "ConvTranspose", ((1, 3, 9), w(3, 5, 4), w(5)), {"strides": [2], "pads": [1, 1]}),
]

GEMM_MATMUL = [
    Case("gemm_transB", "Gemm", ((3, 17), w(13, 17), w(13)), {"transB": 1}),
    Case("gemm_alpha_beta", "Gemm", ((2, 5), w(5, 7), w(1, 7)), {"alpha": 0.5, "beta": 2.0}),
    Case("gemm_transA", "Gemm", ((5, 3), w(5, 7), w(7)), {"transA": 1}),
    Case("gemm_transA_transB", "Gemm", ((5, 3), w(7, 5)), {"transA": 1, "transB": 1, "alpha": 1.5}),
    Case("gemm_C_full", "Gemm", ((3, 5), w(5, 7), w(3, 7)), {"beta": 0.25}),
    Case("gemm_C_column", "Gemm", ((3, 5), w(5, 7), w(3, 1)), {}),
    Case("gemm_C_scalar", "Gemm", ((3, 5), w(5, 7), f32(0.75)), {}),
    Case("gemm_B_runtime", "Gemm", ((3, 5), (7, 5), w(7)), {"transB": 1, "alpha": 2.0, "beta": 0.5}),
    Case("gemm_C_runtime", "Gemm", ((3, 5), w(5, 7), (3, 7)), {"beta": 0.5}),
    Case("matmul_const_2d", "MatMul", ((3, 17), w(17, 33)), {}),
    Case("matmul_const_3d_x", "MatMul", ((2, 5, 17), w(17, 13)), {}),
    Case("matmul_batched", "MatMul", ((2, 3, 4, 5), (2, 3, 5, 6)), {}),
    Case("matmul_broadcast_batch", "MatMul", ((3, 4, 5), (5, 6)), {}),
    Case("matmul_const_A", "MatMul", (w(4, 5), (3, 5, 6)), {}),
    Case("matmul_const_B_1d", "MatMul", ((3, 5), w(5)), {}),
    Case("matmul_runtime_A_1d", "MatMul", ((5,), (2, 5, 3)), {}),
    Case("matmul_runtime_B_1d", "MatMul", ((2, 4, 5), (5,)), {}),
    Case("matmul_const_3d_B", "MatMul", ((2, 4, 5), w(2, 5, 3)), {}),
]

BN = [Case("bn_rank4", "BatchNormalization",
           ((1, 5, 7, 9), w(5, scale=1), w(5), w(5), np.abs(w(5, scale=1)) + 0.5), {"epsilon": 1e-3}),
      Case("bn_rank2", "BatchNormalization", ((3, 13), w(13, scale=1), w(13), w(13), np.abs(w(13, scale=1)) + 0.1),
           {}),
      Case("bn_rank3", "BatchNormalization", ((2, 5, 7), w(5, scale=1), w(5), w(5), np.abs(w(5, scale=1)) + 0.1), {}),
      Case("bn_after_conv", "BatchNormalization",
           ((1, 3, 7, 9), w(3, scale=1), w(3), w(3), np.abs(w(3, scale=1)) + 0.1), {}, nhwc=True)]

X4 = (1, 5, 7, 9)
UNARY = [
    Case("relu", "Relu", (X4,)),
    Case("relu_nhwc", "Relu", (X4,), nhwc=True),
    Case("clip_11_minmax", "Clip", (X4, f32(-0.5), f32(0.7)), opset=11),
    Case("clip_13_relu6", "Clip", (X4, f32(0.0), f32(6.0)), nhwc=True),
    Case("clip_only_max", "Clip", (X4, None, f32(0.3))),
    Case("clip_only_min", "Clip", (X4, f32(-0.2))),
    Case("clip_unbounded", "Clip", (X4,)),
    Case("leaky_relu", "LeakyRelu", (X4,), {"alpha": 0.1}),
    Case("sigmoid", "Sigmoid", (X4,), nhwc=True),
    Case("tanh", "Tanh", (X4,)),
    Case("hard_sigmoid", "HardSigmoid", (X4,), {"alpha": 0.3, "beta": 0.4}),
    Case("hard_swish", "HardSwish", ((1, 5, 7, 9),), opset=14),
    Case("erf", "Erf", ((2, 3, 17),)),
    Case("gelu_exact", "Gelu", ((2, 3, 17),), opset=20),
    Case("gelu_tanh", "Gelu", ((2, 3, 17),), {"approximate": "tanh"}, opset=20),
    Case("sqrt", "Sqrt", (Pos((3, 13)),)),
    Case("exp", "Exp", ((3, 13),)),
    Case("identity", "Identity", (X4,)),
    Case("dropout", "Dropout", (X4,), opset=13),
    Case("dropout_opset11", "Dropout", (X4,), {"ratio": 0.3}, opset=11),
    Case("neg", "Neg", ((3, 5),)),
    Case("reciprocal", "Reciprocal", (Pos((3, 5)),)),
    Case("prelu_channel", "PRelu", (X4, w(5, 1, 1)), nhwc=True),
    Case("prelu_scalar", "PRelu", (X4, f32(0.25))),
    Case("prelu_runtime", "PRelu", ((2, 7), (7,))),
]

BINARY = [
    Case(f"{op.lower()}_{k}", op, ins, nhwc=nhwc)
    for op in ("Add", "Sub", "Mul", "Div")
    for k, ins, nhwc in [
        ("same", (X4, X4), False),
        ("const_channel", (X4, w(5, 1, 1, scale=1) + 2.0), True),
        ("const_scalar", (X4, f32(1.5)), True),
        ("nhwc_vs_runtime", (X4, X4), True),
        ("rank_broadcast", ((2, 3, 5), (5,)), False),
    ]
] + [
    Case("add_const_first", "Add", (w(9, scale=1), X4), {}),
    Case("sum3", "Sum", (X4, X4, w(5, 1, 1)), {}),
    Case("max_scalar", "Max", (X4, f32(0.1)), {}),
    Case("min_scalar", "Min", (X4, f32(0.1)), {}, nhwc=True),
    Case("pow_2", "Pow", (X4, f32(2.0)), nhwc=True),
    Case("pow_half", "Pow", (Pos((3, 5)), f32(0.5))),
    Case("pow_3", "Pow", ((3, 5), f32(3.0))),
    Case("pow_runtime", "Pow", (Pos((3, 5)), (3, 5))),
]

POOL = [
    Case("maxpool_2x2", "MaxPool", ((1, 5, 17, 17),), {"kernel_shape": [2, 2], "strides": [2, 2]}),
    Case("maxpool_3x3_pads", "MaxPool", ((1, 3, 13, 11),),
         {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1]}),
    Case("maxpool_ceil", "MaxPool", ((1, 3, 13, 13),), {"kernel_shape": [3, 3], "strides": [2, 2], "ceil_mode": 1}),
    Case("maxpool_dilated", "MaxPool", ((1, 3, 13, 13),), {"kernel_shape": [2, 3], "dilations": [2, 2]}, opset=12),
    Case("maxpool_same_upper", "MaxPool", ((1, 3, 13, 13),),
         {"kernel_shape": [3, 3], "strides": [2, 2], "auto_pad": "SAME_UPPER"}),
    Case("maxpool_asym", "MaxPool", ((1, 3, 9, 9),), {"kernel_shape": [2, 2], "pads": [0, 1, 1, 0]}, nhwc=True),
    Case("maxpool_1d", "MaxPool", ((1, 3, 17),), {"kernel_shape": [3], "strides": [2]}),
    Case("avgpool_exclude_pad", "AveragePool", ((1, 5, 13, 11),), {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1]}),
    Case("avgpool_include_pad", "AveragePool", ((1, 5, 13, 11),),
         {"kernel_shape": [3, 3], "pads": [1, 1, 1, 1], "count_include_pad": 1}),
    Case("avgpool_ceil", "AveragePool", ((1, 3, 13, 13),),
         {"kernel_shape": [2, 2], "strides": [2, 2], "ceil_mode": 1}),
    Case("avgpool_ceil_include_pad", "AveragePool", ((1, 3, 12, 12),),
         {"kernel_shape": [3, 3], "strides": [2, 2], "pads": [1, 1, 1, 1], "ceil_mode": 1, "count_include_pad": 1}),
    Case("avgpool_same_lower", "AveragePool", ((1, 3, 10, 10),),
         {"kernel_shape": [3, 3], "strides": [2, 2], "auto_pad": "SAME_LOWER"}),
    Case("avgpool_1d", "AveragePool", ((1, 3, 17),), {"kernel_shape": [4], "strides": [3], "pads": [1, 2]}),
    Case("gap", "GlobalAveragePool", ((1, 33, 7, 5),), nhwc=True),
    Case("gap_rank3", "GlobalAveragePool", ((1, 5, 9),)),
    Case("gmp", "GlobalMaxPool", ((1, 13, 7, 5),)),
]

REDUCE = [
    Case("reducemean_hw_keep", "ReduceMean", ((1, 5, 7, 9),), {"axes": [2, 3]}, nhwc=True),
    Case("reducemean_c_nokeep", "ReduceMean", ((1, 5, 7, 9),), {"axes": [1], "keepdims": 0}, nhwc=True),
    Case("reducemean_last", "ReduceMean", ((2, 3, 17),), {"axes": [-1]}),
    Case("reducemean_all", "ReduceMean", ((2, 3, 5),), {"keepdims": 0}),
    Case("reducemean_18_input", "ReduceMean", ((1, 5, 7, 9), i64(2, 3)), {"keepdims": 0}, opset=18, nhwc=True),
    Case("reducemean_18_noop", "ReduceMean", ((2, 3),), {"noop_with_empty_axes": 1}, opset=18),
    Case("reducemax_axis1", "ReduceMax", ((2, 5, 7),), {"axes": [1], "keepdims": 0}),
]

SOFTMAX_NORM = [
    Case("softmax11_axis1_rank4", "Softmax", ((1, 5, 3, 4),), {"axis": 1}, opset=11),
    Case("softmax11_default_rank3", "Softmax", ((2, 3, 7),), {}, opset=11),
    Case("softmax11_last", "Softmax", ((2, 3, 7),), {"axis": -1}, opset=11, ),
    Case("softmax11_nhwc", "Softmax", ((1, 5, 3, 4),), {"axis": 2}, opset=11, nhwc=True),
    Case("softmax13_axis1_nhwc", "Softmax", ((1, 5, 3, 4),), {"axis": 1}, opset=13, nhwc=True),
    Case("softmax13_default", "Softmax", ((2, 3, 7),), {}, opset=13),
    Case("layernorm_last", "LayerNormalization", ((2, 7, 33), w(33, scale=1), w(33)), {"epsilon": 1e-5}, opset=17),
    Case("layernorm_axis1", "LayerNormalization", ((2, 3, 5), w(3, 5, scale=1), w(3, 5)), {"axis": 1}, opset=17),
    Case("layernorm_no_bias", "LayerNormalization", ((2, 7, 13), w(13, scale=1)), {"axis": -1}, opset=17),
    Case("layernorm_nhwc_c", "LayerNormalization", ((1, 5, 3, 4), w(4, scale=1), w(4)),
         {"axis": 3}, opset=17, nhwc=True),
]

SHAPE = [
    Case("reshape_0_-1", "Reshape", ((2, 3, 4, 5), i64(0, -1, 5))),
    Case("reshape_nhwc", "Reshape", ((1, 5, 3, 4), i64(1, 5, 12)), nhwc=True),
    Case("reshape_allowzero", "Reshape", ((2, 3, 4), i64(4, 6)), {"allowzero": 1}, opset=14),
    Case("flatten_1_nhwc", "Flatten", ((1, 5, 3, 4),), nhwc=True),
    Case("flatten_0", "Flatten", ((2, 3, 4),), {"axis": 0}),
    Case("flatten_neg", "Flatten", ((2, 3, 4, 5),), {"axis": -2}),
    Case("transpose_default", "Transpose", ((2, 3, 4),)),
    Case("transpose_nhwc_to_nhwc", "Transpose", ((1, 5, 3, 4),), {"perm": [0, 2, 3, 1]}, nhwc=True),
    Case("transpose_nhwc_other", "Transpose", ((1, 5, 3, 4),), {"perm": [3, 1, 0, 2]}, nhwc=True),
    Case("squeeze_11", "Squeeze", ((1, 3, 1, 5),), {"axes": [0, 2]}, opset=11),
    Case("squeeze_13_input", "Squeeze", ((1, 3, 1, 5), i64(-2)), opset=13),
    Case("squeeze_all", "Squeeze", ((1, 3, 1, 5),), opset=13),
    Case("unsqueeze_11", "Unsqueeze", ((3, 5),), {"axes": [0, 3]}, opset=11),
    Case("unsqueeze_13_nhwc", "Unsqueeze", ((1, 5, 3, 4), i64(-1)), opset=13, nhwc=True),
    Case("concat_nhwc_axis1", "Concat", ((1, 5, 3, 4), (1, 2, 3, 4)), {"axis": 1}, nhwc=True),
    Case("concat_const", "Concat", ((2, 3, 4), w(2, 1, 4)), {"axis": -2}),
    Case("concat_nhwc_const_axis3", "Concat", ((1, 5, 3, 4), w(1, 5, 3, 2)), {"axis": 3}, nhwc=True),
    Case("split_11_attr", "Split", ((2, 7, 3),), {"axis": 1, "split": [2, 5]}, opset=11, outputs=2),
    Case("split_13_input_nhwc", "Split", ((1, 6, 3, 4), i64(1, 2, 3)), {"axis": 1}, opset=13, outputs=3, nhwc=True),
    Case("split_equal", "Split", ((2, 6),), {"axis": -1}, opset=13, outputs=3),
    Case("split_18_num_outputs", "Split", ((2, 7),), {"axis": 1, "num_outputs": 3}, opset=18, outputs=3),
    Case("slice_basic", "Slice", ((5, 7), i64(1, 0), i64(4, 7), i64(0, 1), i64(1, 2))),
    Case("slice_neg_step", "Slice", ((5, 7), i64(-1, 5), i64(-I64_MAX, 0), i64(0, 1), i64(-1, -2))),
    Case("slice_neg_step_nhwc", "Slice", ((1, 5, 7, 9), i64(3, 8), i64(0, 1), i64(1, 3), i64(-1, -3)), nhwc=True),
    Case("slice_int_max", "Slice", ((1, 5, 7, 9), i64(2), i64(I64_MAX), i64(-1)), nhwc=True),
    Case("slice_clamped", "Slice", ((4, 6), i64(-100, 2), i64(100, -1))),
    Case("pad_constant_value", "Pad", ((1, 3, 5, 7), i64(0, 0, 1, 2, 0, 0, 3, 0), f32(0.5)), {"mode": "constant"}),
    Case("pad_reflect_nhwc", "Pad", ((1, 3, 5, 7), i64(0, 0, 2, 1, 0, 0, 1, 3)), {"mode": "reflect"}, nhwc=True),
    Case("pad_edge", "Pad", ((2, 5, 7), i64(0, 1, 2, 1, 0, 1)), {"mode": "edge"}),
    Case("pad_negative", "Pad", ((1, 3, 5, 7), i64(0, 0, -1, 2, 0, 0, 1, -2)), nhwc=True),
    Case("pad_18_axes", "Pad", ((1, 3, 5, 7), i64(1, 2, 3, 0), None, i64(2, 3)), {"mode": "edge"}, opset=18),
    Case("gather_embedding", "Gather", (w(50, 9, scale=1), Ints((1, 13), 0, 50))),
    Case("gather_neg_indices", "Gather", (w(7, 9, scale=1), Ints((4,), -7, 7)), {"axis": 0}),
    Case("gather_const_idx_axis1", "Gather", ((2, 7, 3), i64(0)), {"axis": 1}),
    Case("gather_const_idx_nhwc", "Gather", ((1, 5, 3, 4), i64(4, 0, 2)), {"axis": 1}, nhwc=True),
    Case("cast_int_to_float", "Cast", (Ints((3, 5), -9, 9),), {"to": 1}),
    Case("cast_float_to_float", "Cast", ((3, 5),), {"to": 1}),
]

EMPTY_F = np.zeros(0, np.float32)
RESIZE = [
    Case(f"resize_{mode}_{ctm}_{k}", "Resize", ins, attrs, opset=13, nhwc=nhwc)
    for mode, ctm, extra in [
        ("nearest", "asymmetric", {"nearest_mode": "floor"}),
        ("nearest", "half_pixel", {"nearest_mode": "round_prefer_floor"}),
        ("nearest", "align_corners", {"nearest_mode": "round_prefer_ceil"}),
        ("nearest", "pytorch_half_pixel", {"nearest_mode": "ceil"}),
        ("linear", "half_pixel", {}),
        ("linear", "asymmetric", {}),
        ("linear", "align_corners", {}),
        ("linear", "pytorch_half_pixel", {}),
    ]
    for k, ins, nhwc in [
        ("scales", ((1, 3, 5, 7), None, f32(1, 1, 2, 2)), True),
        ("sizes", ((1, 3, 5, 7), None, None, i64(1, 3, 9, 4)), False),
    ]
    for attrs in [{"mode": mode, "coordinate_transformation_mode": ctm, **extra}]
] + [
    Case("resize_11_roi_empty_scales", "Resize", ((1, 3, 5, 5), EMPTY_F, f32(1, 1, 1.5, 2.5)),
         {"mode": "linear"}, opset=11),
    Case("resize_11_sizes_h1", "Resize", ((1, 2, 1, 5), EMPTY_F, EMPTY_F, i64(1, 2, 1, 11)),
         {"mode": "nearest", "coordinate_transformation_mode": "pytorch_half_pixel"}, opset=11),
    Case("resize_18_axes", "Resize", ((1, 3, 5, 7), None, None, i64(8, 3)),
         {"mode": "linear", "axes": [2, 3]}, opset=18),
    Case("resize_rank3_linear", "Resize", ((2, 5, 7), None, f32(1, 1, 1.75)), {"mode": "linear"}),
]

DIVISORS = np.array([[3, -2, 5, -7, 4], [-3, 2, -5, 7, 1], [9, -9, 2, 6, -1]], np.int64)
MATH = [
    Case("elu", "Elu", (X4,)), Case("elu_alpha", "Elu", (X4,), {"alpha": 0.3}, nhwc=True),
    Case("selu", "Selu", (X4,)), Case("selu_attrs", "Selu", (X4,), {"alpha": 1.5, "gamma": 2.0}),
    Case("celu", "Celu", (X4,), opset=12), Case("celu_alpha", "Celu", (X4,), {"alpha": 2.5}, nhwc=True),
    Case("softplus", "Softplus", (X4,)), Case("softsign", "Softsign", (X4,), nhwc=True),
    Case("mish", "Mish", (X4,), opset=18), Case("log", "Log", (Pos((3, 13)),)),
    Case("abs", "Abs", (X4,)), Case("floor", "Floor", (X4,)), Case("ceil", "Ceil", (X4,), nhwc=True),
    Case("round", "Round", (X4,), opset=11), Case("sign", "Sign", (X4,)), Case("sin", "Sin", (X4,)),
    Case("cos", "Cos", (X4,), nhwc=True),
    Case("thresholded_relu", "ThresholdedRelu", (X4,)),
    Case("thresholded_relu_alpha", "ThresholdedRelu", (X4,), {"alpha": 0.25}, nhwc=True),
    Case("shrink", "Shrink", (X4,)), Case("shrink_attrs", "Shrink", (X4,), {"bias": 0.3, "lambd": 0.7}),
    Case("max_two", "Max", (X4, X4)), Case("min_two_nhwc", "Min", (X4, X4), nhwc=True),
    Case("max_three_broadcast", "Max", (X4, (1, 1, 9), w(5, 1, 1, scale=1)), opset=12),
    Case("min_const_tensor", "Min", ((2, 3, 5), w(3, 5, scale=1))),
    Case("max_one_input", "Max", (X4,)),
    Case("max_constants_first", "Max", (w(5, 1, 1, scale=1), w(1, 9, scale=1), X4)),
    Case("min_runtime_and_constants", "Min", (X4, w(7, 1, scale=1), (1, 5, 1, 9), w(9, scale=1))),
    Case("max_two_scalars", "Max", (X4, f32(0.1), f32(-0.3))),
    Case("min_int64", "Min", (Ints((3, 5), -9, 9), Ints((3, 5), -9, 9))),
    Case("mod_fmod_float", "Mod", ((3, 5), Pos((3, 5))), {"fmod": 1}),
    Case("mod_fmod_float_broadcast", "Mod", (X4, f32(0.7)), {"fmod": 1}, nhwc=True),
    Case("mod_int64", "Mod", (Ints((3, 5), -20, 20), DIVISORS)),
    Case("mod_int64_fmod", "Mod", (Ints((3, 5), -20, 20), DIVISORS), {"fmod": 1}),
]

CASES = CONV + CONV_TRANSPOSE + GEMM_MATMUL + BN + UNARY + BINARY + POOL + REDUCE + SOFTMAX_NORM + SHAPE + RESIZE + MATH


def test_case_ids_are_unique():
    ids = [c.id for c in CASES]
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_op_matches_onnxruntime(case: Case):
    m, feeds = case.build(np.random.default_rng(0))
    want = run_onnxruntime(m, feeds)
    got = run_float(import_onnx(m), feeds)
    assert_matches(got, want)


@pytest.mark.parametrize("case", MATH, ids=lambda c: c.id)
def test_math_op_matches_onnxruntime_tightly(case: Case):
    """The math ops' float64-then-rounded kernels are within a few float32 ulps of onnxruntime's."""
    m, feeds = case.build(np.random.default_rng(0))
    want = run_onnxruntime(m, feeds)
    got = run_float(import_onnx(m), feeds)
    for k, b in want.items():
        assert got[k].dtype == b.dtype
        np.testing.assert_allclose(got[k], b, rtol=1e-5, atol=1e-6, err_msg=f"{case.id}: output {k!r}")
