"""The A16W8 op cases (qcomp/ir/qops16.py): int16 graphs crossed with every target like the int8 ones.

Accumulator widths both ways (K <= 511 -> int32, K = 640 / 1024 -> int64), int16 and int8
outputs (zero point, fused Relu clamp), depthwise and strided/padded convs, broadcast binaries,
the three conversions, the 513-entry tables to int16 and int8, pooling with and without counted
padding, means, and the type-generic movement ops on int16 values.
"""
from __future__ import annotations

import numpy as np

from . import graphs16 as g16
from .cases import Case, _p

C = Case


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


CASES16: list[Case] = [
    C("i16_conv3x3_pad1_c9_o5", _p(g16.conv16, (1, 6, 7, 9), 5, pads=(1, 1, 1, 1), acc_bits=32)),
    C("i16_conv3x3_s2_pad_asym_c17_o13_to_i8", _p(g16.conv16, (1, 9, 8, 17), 13, strides=(2, 2), pads=(0, 1, 1, 0),
                                                   out_dtype="i8", zp=-5, acc_bits=32)),
    C("i16_conv1x1_k640_acc64_relu_to_i8", _p(g16.conv16, (1, 4, 5, 640), 6, (1, 1), out_dtype="i8", zp=-5,
                                               relu=True, acc_bits=64)),
    C("i16_conv3x3_k576_acc64_dil2", _p(g16.conv16, (1, 9, 7, 64), 3, dilations=(2, 2), pads=(2, 2, 2, 2),
                                        acc_bits=64)),
    C("i16_depthwise3x3_s2_c13", _p(g16.conv16, (1, 7, 8, 13), 13, strides=(2, 2), pads=(1, 0, 1, 1), group=13)),
    C("i16_dense_k1024_acc64", _p(g16.dense16, (3, 1024), 7, acc_bits=64), min_distinct=8),
    C("i16_dense_k40_tokens_to_i8", _p(g16.dense16, (2, 5, 40), 9, out_dtype="i8", zp=3, acc_bits=32)),
    C("i16_matmul_heads_broadcast_acc64", _p(g16.matmul16, (2, 3, 5, 33), (3, 33, 6))),
    C("i16_matmul_k1_acc32_to_i8", _p(g16.matmul16, (4, 1), (1, 9), out_dtype="i8", zp=-20)),
    C("i16_add_broadcast", _p(g16.binary16, "add", (2, 3, 4, 5), (4, 5))),
    C("i16_sub_relu_broadcast", _p(g16.binary16, "sub", (2, 3, 4), (1, 4), relu=True)),
    C("i16_mul", _p(g16.binary16, "mul", (2, 3, 4, 5), (2, 3, 4, 5), scales=(0.0005, 0.0002, 0.003))),
    C("i16_convert_from_i8", _p(g16.convert, (3, 50), in_dtype="i8", out_dtype="i16", ratio=251.37, zp_in=-7)),
    C("i16_convert_to_i8", _p(g16.convert, (3, 50), in_dtype="i16", out_dtype="i8", ratio=1 / 255.3, zp_out=9)),
    C("i16_convert_rescale", _p(g16.convert, (3, 50), in_dtype="i16", out_dtype="i16", ratio=0.7131)),
    C("i16_lut_sigmoid", _p(g16.lut16, (4, 40), _sigmoid, s_in=8 / 32768, s_out=1 / 32768)),
    C("i16_lut_tanh_to_i8", _p(g16.lut16, (4, 40), np.tanh, s_in=3 / 32768, s_out=1 / 128, out_dtype="i8")),
    C("i16_avgpool3x3_s2_pad", _p(g16.avg_pool16, (1, 6, 7, 5), (3, 3), (2, 2), (1, 1, 1, 1))),
    C("i16_avgpool3x2_counted_pad", _p(g16.avg_pool16, (1, 6, 7, 5), (3, 2), (1, 2), (1, 1, 0, 1),
                                       count_include_pad=True)),
    C("i16_mean_hw", _p(g16.mean16, (1, 5, 6, 7), (1, 2)), min_distinct=7),
    C("i16_movement", g16.movement16),
]


def main_kind(case: Case) -> str:
    """The A16W8 op a case exists for (the word a backend without it names in its refusal)."""
    from .cases import materialize
    graph, _ = materialize(case)
    return next((n.kind for n in graph.nodes if n.kind.endswith("16") or n.kind == "QConvert"), graph.nodes[0].kind)

# ---- from float graphs through calibrate -> quantize -> lower_integer with int16 marks ----
from . import float_cases16 as fc16  # noqa: E402

CASES16 += [
    C("i16f_conv_chain_relu", fc16.conv_chain),
    C("i16f_depthwise_from_int16_input", fc16.depthwise),
    C("i16f_dense_int16_output", fc16.dense),
    C("i16f_residual_mixed_int8_int16", fc16.residual),
    C("i16f_luts_sigmoid_hardswish_gelu_tanh", fc16.luts),
    C("i16f_avgpool_and_mean", fc16.pools),
    C("i16f_concat_int8_and_int16", fc16.concat),
    C("i16f_softmax_of_int16", fc16.softmax),
    C("i16f_matmul_two_int16", fc16.matmul),
]

# ---- integer LayerNorm on int16 (cases_norm16.py) ----
from .cases_norm16 import CASES_NORM16  # noqa: E402

CASES16 += CASES_NORM16
# ---- int16 Softmax (QSoftmax16): graphs16_softmax.py, and from float graphs ----
from . import graphs16_softmax as gs16  # noqa: E402

CASES16 += [
    C("i16_softmax_last_axis", _p(gs16.softmax16, (3, 4, 37), 2, 0.0004)),
    C("i16_softmax_axis1_masked", _p(gs16.softmax16, (2, 70, 3), 1, 0.003, masked=0.4)),
    C("i16_softmax_long_rows", _p(gs16.softmax16, (2, 1500), 1, 0.0002)),
    C("i16_softmax_capped_ties", _p(gs16.softmax16, (4, 9), 1, 2.0, lo=-2, hi=1), min_distinct=3),
    C("i16f_attention_softmax16", fc16.attention),
    C("i16f_softmax16_of_int8", fc16.softmax_of_int8),
]

# ---- shapes of the vector kernels (llvm: kernels16_matmul.py, kernels16_elem.py): K > 511 over
# heads with row and channel tails; a bias block on rows of vector steps and a tail ----
CASES16 += [
    C("i16_matmul_heads_k520_tails", _p(g16.matmul16, (2, 5, 520), (2, 520, 19))),
    C("i16_add_bias_rows_tail", _p(g16.binary16, "add", (3, 7, 37), (37,))),
]
