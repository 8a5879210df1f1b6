"""The shared op-case table: named TARGET-stage graphs that every target must run bit-exactly.

Each case builds a small graph of the integer ops (qcomp/ir/qops.py) and the type-generic ops on
int8, with int8 feeds (graphs.py), or goes the compiler's way from a float graph through
quantize + lower_integer (float_cases.py). test_opcases.py crosses every case with every target
of targets.py and compares with naive.py using exact equality.

Coverage (the issue's list): conv 1x1 / 3x3 / 5x5, stride 2, dilation 2, asymmetric pads,
depthwise, grouped, transposed; channel counts 1, 3, 5, 13, 17, 33 and odd spatial sizes; Dense
and MatMul (and the float-in ops of --quant dynamic); max / average pooling (pads, ceil_mode,
count_include_pad), means, Add / Sub / Mul with broadcasting, Concat (with a requantized input),
lookup tables (the math ops' tables from float graphs), Min / Max of operands requantized from
different scales, integer Softmax; zero points -128 and 127, multipliers 2^31 - 1 and 2^30, shifts from -31 to +30
with accumulators that keep results in range (or saturate on purpose), accumulators placed on
exact rounding ties, fused Relu / Relu6 clamps.

`min_distinct` guards against a case that tests nothing: its expected output must take at least
that many distinct values (a case whose result is all clamped would pass against any target).
"""
from __future__ import annotations

import functools
import zlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from qcomp import fixedpoint
from qcomp.ir import Graph, ops, qops

from . import dynamic_fused_cases as dfc
from . import float_cases as fc
from . import logic_cases as lc
from . import graphs as gb
from . import graphs_fused as gf
from .graphs import M_HALF, M_MAX, Builder


@dataclass(frozen=True)
class Case:
    name: str
    build: Callable[[str, np.random.Generator], tuple[Graph, dict[str, np.ndarray]]]
    min_distinct: int = 8


@functools.cache
def materialize(case: Case) -> tuple[Graph, dict[str, np.ndarray]]:
    """The case's graph and feeds, built once per session with a seed derived from its name.
    Targets must not modify them."""
    return case.build(case.name, np.random.default_rng(zlib.crc32(case.name.encode())))


def _p(fn, *args, **kwargs):
    """A builder taking (name, rng) from one taking (name, rng, *args, **kwargs)."""
    return functools.partial(_call, fn, args, tuple(sorted(kwargs.items())))


def _call(fn, args, kwargs, name, rng):
    return fn(name, rng, *args, **dict(kwargs))


# ---- graphs of several type-generic ops on int8 -------------------------------------------------

def _maxpool(name, rng, x_shape, kernel, strides, pads=(0, 0, 0, 0), ceil_mode=False):
    b = Builder(name, rng)
    x = b.input("x", x_shape, 3)
    return b.done(b.node(ops.MaxPool2D(kernel, strides, pads, (1, 1), ceil_mode), [x], "maxpool"))


def _concat_requantized(name, rng):
    """Concat(a, QRequantize(b)) along channels: b is brought to a's params first, as quantize does."""
    b = Builder(name, rng)
    a = b.input("a", (1, 5, 3, 13), -7)
    x = b.input("b", (1, 5, 3, 5), 120)
    rq = b.node(qops.QRequantize(120, 1518500250, -1, -7), [x], "requantize", -7)
    return b.done(b.node(ops.Concat(axis=3), [a, rq], "concat"))


def _movement(name, rng):
    """Pad (with the int8 zero point), Transpose, Reshape, Slice, Split on int8 values."""
    b = Builder(name, rng)
    x = b.input("x", (1, 5, 7, 3), -128)
    p = b.node(ops.Pad(pads=(0, 1, 2, 0, 0, 2, 1, 0), value=-128.0), [x], "pad")
    t = b.node(ops.Transpose(perm=(0, 3, 1, 2)), [p], "transpose")
    r = b.node(ops.Reshape(shape=(3, 8, 10)), [t], "reshape")
    s = b.node(ops.Slice(starts=(0, 1, 9), ends=(3, None, 0), steps=(1, 2, -3)), [r], "slice")
    parts = b.node(ops.Split(axis=0, sizes=(1, 2)), [s], "split")
    return b.done(*parts)


def _head_moves(name, rng):
    """Moves that copy whole runs on llvm (codegen/llvm/kernels_runs.py): attention's head split
    (runs of the head size 5), a move of a unit axis (one run), a slice of rows (runs of 4 * 5), and
    K^T (perm (0, 2, 3, 1): the loop nest of a 2-D transpose [7, 15] without a table)."""
    b = Builder(name, rng)
    x = b.input("x", (1, 7, 3, 5), 17)
    heads = b.node(ops.Transpose(perm=(0, 2, 1, 3)), [x], "head_split")              # (1, 3, 7, 5)
    swap = b.node(ops.Transpose(perm=(1, 0, 2, 3)), [heads], "batch_swap")           # (3, 1, 7, 5)
    rows = b.node(ops.Slice(starts=(0, 0, 2, 0), ends=(3, 1, 6, 5), steps=(1, 1, 1, 1)), [swap], "rows")
    k_t = b.node(ops.Transpose(perm=(0, 2, 3, 1)), [x], "k_t")                       # (1, 3, 5, 7)
    return b.done(heads, rows, k_t)


def _conv_chain(name, rng):
    """QConv2D -> MaxPool2D -> Lut -> QAvgPool2D: values flowing between integer ops."""
    b = Builder.extending(*gb.conv(name, rng, (1, 11, 9, 3), 5, (3, 3), pads=(1, 1, 1, 1), zp_in=-128,
                                   act="relu"), rng)
    m = b.node(ops.MaxPool2D((2, 2), (2, 2)), ["conv"], "maxpool")
    quant = b.g.types["conv"].quant
    table = b.const("table", rng.integers(-128, 128, size=256).astype(np.int8), quant)
    lut = b.node(qops.Lut(), [m, table], "lut")                      # keeps the conv's params
    zp = int(quant.zero_point[0])
    p = fixedpoint.avgpool_params(float(quant.scale[0]), zp, 0.05, -1, 4)
    avg = b.node(qops.QAvgPool2D((2, 2), (1, 1), (0, 0, 1, 1), False, False, (1, 1), zp, p.multipliers,
                                 p.shifts, -1), [lut], "avgpool", -1)
    return b.done(avg)


def _minmax_requantized(name, rng, is_max: bool):
    """Max (or Min) of a and b with different scales and zero points, broadcast: each is first
    requantized to the output's params (s 0.04, zp 3), as quantize does for Min / Max."""
    b = Builder(name, rng)
    a = b.input("a", (1, 5, 7, 13), -7)           # scale 0.05
    x = b.input("b", (1, 1, 7, 13), 120)          # bookkeeping scale 0.05; requantized as if 0.1
    ma, sa = fixedpoint.quantize_multiplier(0.05 / 0.04)
    mb, sb = fixedpoint.quantize_multiplier(0.1 / 0.04)
    ra = b.node(qops.QRequantize(-7, ma, sa, 3), [a], "requantize_a", 3, 0.04)
    rb = b.node(qops.QRequantize(120, mb, sb, 3), [x], "requantize_b", 3, 0.04)
    op = ops.Max() if is_max else ops.Min()
    return b.done(b.node(op, [ra, rb], op.kind.lower()))


C = Case
CASES: list[Case] = [
    # ---- convolution geometry, odd channel counts and spatial sizes ----
    C("conv1x1_c13_o17", _p(gb.conv, (1, 7, 5, 13), 17, (1, 1))),
    C("conv3x3_pad1_c3_o5", _p(gb.conv, (1, 9, 7, 3), 5, (3, 3), pads=(1, 1, 1, 1))),
    C("conv5x5_pad2_c5_o3", _p(gb.conv, (1, 11, 9, 5), 3, (5, 5), pads=(2, 2, 2, 2))),
    C("conv3x3_s2_c17_o13", _p(gb.conv, (1, 9, 9, 17), 13, (3, 3), strides=(2, 2), pads=(1, 1, 1, 1))),
    C("conv3x3_s2_pad_asym", _p(gb.conv, (1, 10, 9, 5), 13, (3, 3), strides=(2, 2), pads=(0, 1, 1, 0))),
    C("conv3x3_pad_asym_t2_r1", _p(gb.conv, (1, 7, 7, 3), 5, (3, 3), pads=(2, 0, 0, 1))),
    C("conv3x3_dil2", _p(gb.conv, (1, 11, 9, 5), 3, (3, 3), dilations=(2, 2), pads=(2, 2, 2, 2))),
    C("conv3x3_dil2_s2_nopad", _p(gb.conv, (1, 13, 11, 3), 5, (3, 3), strides=(2, 2), dilations=(2, 2))),
    C("conv3x1_s2x1", _p(gb.conv, (1, 9, 5, 5), 3, (3, 1), strides=(2, 1), pads=(1, 0, 1, 0))),
    C("conv1x5_pad_w", _p(gb.conv, (1, 3, 11, 3), 5, (1, 5), pads=(0, 2, 0, 2))),
    C("conv_depthwise3x3_c13", _p(gb.conv, (1, 9, 7, 13), 13, (3, 3), pads=(1, 1, 1, 1), group=13)),
    C("conv_depthwise3x3_s2_mult2", _p(gb.conv, (1, 9, 9, 5), 10, (3, 3), strides=(2, 2), pads=(1, 1, 1, 1),
                                       group=5)),
    C("conv_depthwise5x5_c33", _p(gb.conv, (1, 7, 7, 33), 33, (5, 5), pads=(2, 2, 2, 2), group=33)),
    C("conv_depthwise3x3_s2_dil2_b2_c20", _p(gb.conv, (2, 11, 13, 20), 20, (3, 3), strides=(2, 2), dilations=(2, 2),
                                             pads=(2, 1, 1, 2), group=20)),
    C("conv_grouped3_c15_o33", _p(gb.conv, (1, 7, 5, 15), 33, (3, 3), pads=(1, 1, 1, 1), group=3)),
    C("conv_c1_o3_13x9", _p(gb.conv, (1, 13, 9, 1), 3, (3, 3))),
    C("conv_c33_o1", _p(gb.conv, (1, 5, 5, 33), 1, (3, 3), pads=(1, 1, 1, 1))),
    C("conv_spatial1x1_c33_o5", _p(gb.conv, (1, 1, 1, 33), 5, (1, 1))),
    C("conv_batch2_c3_o17", _p(gb.conv, (2, 5, 7, 3), 17, (3, 3), pads=(0, 1, 0, 1))),
    C("conv_transpose3x3_s2", _p(gb.conv, (1, 4, 5, 5), 3, (3, 3), strides=(2, 2), pads=(1, 1, 0, 1),
                                 output_padding=(1, 0), transpose=True)),
    C("conv_transpose2x2_s2_grouped", _p(gb.conv, (1, 3, 3, 6), 4, (2, 2), strides=(2, 2), group=2,
                                         transpose=True)),
    # ---- zero points, multipliers and clamps at their extremes ----
    C("conv3x3_zp_in_m128_zp_out_127", _p(gb.conv, (1, 7, 7, 5), 3, (3, 3), pads=(1, 1, 1, 1),
                                          zp_in=-128, zp_out=127)),
    C("conv3x3_zp_in_127_zp_out_m128", _p(gb.conv, (1, 7, 7, 5), 3, (3, 3), pads=(1, 1, 1, 1),
                                          zp_in=127, zp_out=-128)),
    C("conv3x3_relu", _p(gb.conv, (1, 7, 5, 5), 13, (3, 3), pads=(1, 1, 1, 1), zp_out=-30, act="relu")),
    C("conv3x3_relu6", _p(gb.conv, (1, 7, 5, 5), 13, (3, 3), pads=(1, 1, 1, 1), zp_out=-100, act="relu6",
                          out_scale=0.1)),
    C("conv3x3_relu_zp_m128", _p(gb.conv, (1, 7, 5, 3), 5, (3, 3), zp_out=-128, act="relu")),
    C("conv3x3_multipliers_2p31m1_and_2p30", _p(gb.conv, (1, 7, 7, 5), 13, (3, 3), pads=(1, 1, 1, 1),
                                                mult="extremes")),
    C("conv3x3_pow2_multipliers_ties", _p(gb.conv, (1, 7, 7, 5), 13, (3, 3), pads=(1, 1, 1, 1), zp_in=0,
                                          zp_out=0, mult="pow2", w_max=3)),
    C("dense_k17_n5", _p(gb.dense, (3, 17), 5)),
    C("dense_rank3_k13_n33", _p(gb.dense, (2, 3, 13), 33)),
    C("dense_k1_n3_zp127", _p(gb.dense, (5, 1), 3, zp_in=127, zp_out=-128)),
    C("dense_relu6", _p(gb.dense, (4, 33), 17, zp_out=-128, act="relu6")),
    C("dense_multipliers_2p31m1_and_2p30", _p(gb.dense, (3, 33), 13, mult="extremes")),
    C("dense_shift_m25_bias_at_ties", _p(gb.dense_shift, -25)),
    C("dense_shift_m31_bias_at_ties", _p(gb.dense_shift, -31), min_distinct=2),
    C("requantize_shift_p6_m2p30", _p(gb.requantize, (4, 33), zp_in=-120, zp_out=0, multiplier=M_HALF,
                                      shift=6, x_range=(-124, -116)), min_distinct=5),
    C("requantize_shift_p30_saturates", _p(gb.requantize, (3, 17), zp_in=0, zp_out=-1, multiplier=M_MAX,
                                           shift=30, x_range=(-5, 5)), min_distinct=3),
    C("requantize_ties_half", _p(gb.requantize, (4, 33), zp_in=0, zp_out=0, multiplier=M_HALF, shift=0)),
    C("requantize_shift_m31_flushes", _p(gb.requantize, (3, 17), zp_in=127, zp_out=-128, multiplier=M_MAX,
                                         shift=-31), min_distinct=1),
    C("requantize_zero_multiplier", _p(gb.requantize, (2, 5), zp_in=3, zp_out=77, multiplier=0, shift=0),
      min_distinct=1),
    C("requantize_zp_127_to_127_x0p6", _p(gb.requantize, (5, 13), zp_in=127, zp_out=127,
                                          multiplier=1288490189, shift=0)),
    C("requantize_zp_m128_to_m128_x1p5", _p(gb.requantize, (5, 13), zp_in=-128, zp_out=-128,
                                            multiplier=1610612736, shift=1)),
    C("requantize_clamped_relu6", _p(gb.requantize, (5, 13), zp_in=0, zp_out=-60, multiplier=1717986918,
                                     shift=1, qmin=-60, qmax=20)),
    # ---- matrix products ----
    C("matmul_5x13_13x7", _p(gb.matmul, (5, 13), (13, 7))),
    C("matmul_batched_2x3x17_17x5", _p(gb.matmul, (2, 3, 17), (2, 17, 5))),
    C("matmul_broadcast_batch", _p(gb.matmul, (2, 1, 3, 5), (3, 5, 33), zp_a=-128, zp_b=127)),
    C("matmul_relu", _p(gb.matmul, (4, 13), (13, 3), zp_out=-50, act="relu")),
    # attention-shaped products on the GEMM micro-kernels (kernels_qmatmul.py): heads, broadcast batch,
    # K and N tails of every instruction's depth and lanes, zero points at the ends, K at the bound
    C("matmul_heads_12x128x64_64x128", _p(gb.matmul, (1, 12, 128, 64), (1, 12, 64, 128))),
    C("matmul_heads_4x7x5_5x3", _p(gb.matmul, (1, 4, 7, 5), (1, 4, 5, 3), zp_a=-3, zp_b=5)),
    C("matmul_heads_broadcast_b_tails", _p(gb.matmul_levels, (2, 3, 13, 37), (1, 3, 37, 19), zp_a=127, zp_b=-128)),
    C("matmul_heads_broadcast_a_zp_m128", _p(gb.matmul_levels, (1, 9, 70), (3, 1, 70, 33), zp_a=-128, zp_b=-128)),
    C("matmul_zp_127_127_n1", _p(gb.matmul_levels, (2, 17, 12), (2, 12, 1), zp_a=127, zp_b=127), min_distinct=4),
    C("matmul_k_33025_at_the_bound", _p(gb.matmul_levels, (4, 33025), (33025, 5), zp_a=127, zp_b=-128, noise=0,
                                       extreme=True)),
    # ---- elementwise ----
    C("add_same_shape", _p(gb.binary, "add", (1, 5, 7, 13), (1, 5, 7, 13))),
    C("add_broadcast_channel", _p(gb.binary, "add", (1, 5, 7, 13), (1, 1, 1, 13))),
    C("add_broadcast_hw", _p(gb.binary, "add", (1, 5, 7, 3), (1, 5, 1, 1), scales=(0.1, 0.01, 0.05))),
    C("add_relu_zp_extremes", _p(gb.binary, "add", (2, 3, 17), (3, 17), zps=(-128, 127, -128), act="relu")),
    C("add_scale_ratio_large", _p(gb.binary, "add", (3, 33), (3, 33), scales=(2.0, 0.001, 0.5))),
    # >= 1024 equal-shape elements: the C backend's table form of the two input rescales
    C("add_flat_1232_zp_extremes", _p(gb.binary, "add", (1, 7, 11, 16), (1, 7, 11, 16), zps=(-128, 127, 3))),
    C("sub_flat_1232_relu", _p(gb.binary, "sub", (1, 7, 11, 16), (1, 7, 11, 16), scales=(0.02, 0.07, 0.05),
                                act="relu")),
    C("sub_broadcast", _p(gb.binary, "sub", (1, 3, 5, 5), (5,), zps=(1, -2, 3))),
    C("mul_broadcast", _p(gb.binary, "mul", (1, 3, 5, 17), (1, 3, 1, 17), scales=(0.05, 0.05, 0.1))),
    C("lut_random_table", _p(gb.lut, (2, 5, 7, 13), "random")),
    C("lut_sigmoid_zp_127", _p(gb.lut, (1, 9, 17), "sigmoid", zp_in=127)),
    C("max_requantized_broadcast", _p(_minmax_requantized, True)),
    C("min_requantized_broadcast", _p(_minmax_requantized, False)),
    # ---- integer Softmax (rows of 1 to 300; ties; differences below diff_min) ----
    C("softmax_classifier_10", _p(gb.softmax, (3, 10), 1, s_in=0.1)),
    C("softmax_channels_nhwc_13", _p(gb.softmax, (1, 5, 3, 13), 3, s_in=0.05, zp_in=-128)),
    C("softmax_middle_axis", _p(gb.softmax, (2, 7, 5), 1, s_in=0.2, zp_in=127)),
    C("softmax_axis0", _p(gb.softmax, (17, 3), 0, s_in=0.03)),
    C("softmax_row_of_one", _p(gb.softmax, (4, 3, 1), 2, s_in=0.1), min_distinct=1),
    C("softmax_ties", _p(gb.softmax, (6, 8), 1, s_in=0.5, x_range=(0, 2)), min_distinct=4),
    C("softmax_below_diff_min", _p(gb.softmax, (5, 24), 1, s_in=0.5)),   # diff_min -31: most values skip
    C("softmax_long_row_300", _p(gb.softmax, (2, 300), 1, s_in=0.02), min_distinct=6),
    # ---- pooling and means ----
    C("maxpool2x2_s2", _p(_maxpool, (1, 8, 6, 5), (2, 2), (2, 2))),
    C("maxpool3x3_s2_pad1", _p(_maxpool, (1, 9, 7, 13), (3, 3), (2, 2), (1, 1, 1, 1))),
    C("maxpool3x3_s2_ceil", _p(_maxpool, (1, 8, 8, 3), (3, 3), (2, 2), ceil_mode=True)),
    C("avgpool2x2_s2", _p(gb.avg_pool, (1, 8, 6, 5), (2, 2), (2, 2))),
    C("avgpool2x2_s1_equal_scales_ties", _p(gb.avg_pool, (1, 6, 7, 5), (2, 2), (1, 1), s_out=0.05)),
    C("avgpool3x3_s1_pad1", _p(gb.avg_pool, (1, 7, 5, 13), (3, 3), (1, 1), (1, 1, 1, 1))),
    C("avgpool3x3_s1_pad1_count_pad", _p(gb.avg_pool, (1, 7, 5, 3), (3, 3), (1, 1), (1, 1, 1, 1),
                                         count_include_pad=True)),
    C("avgpool3x3_s2_ceil_pad_asym", _p(gb.avg_pool, (1, 8, 9, 5), (3, 3), (2, 2), (0, 1, 1, 0),
                                        ceil_mode=True, count_include_pad=True, zp_in=127, zp_out=127,
                                        s_out=0.05)),
    C("global_mean_hw_c17", _p(gb.mean, (1, 7, 5, 17), (1, 2))),
    C("mean_channels_no_keepdims", _p(gb.mean, (2, 3, 5, 13), (3,), False, zp_in=-128, zp_out=-128,
                                      s_out=0.05)),
    # ---- data movement on int8 ----
    C("concat_requantized_input", _concat_requantized),
    C("pad_transpose_reshape_slice_split", _movement),
    C("transpose_head_split_slice_runs", _head_moves),
    C("conv_maxpool_lut_avgpool_chain", _conv_chain),
    # ---- residual fusion (passes/fuse_residual.py: QConv2DAdd, the conv's epilogue on llvm) ----
    C("conv1x1_add_relu_c13_o40", _p(gf.conv_add, (1, 9, 7, 13), 40, (1, 1))),
    C("conv3x3_add_residual_first_o17", _p(gf.conv_add, (1, 7, 5, 5), 17, (3, 3), pads=(1, 1, 1, 1),
                                           residual_first=True, act=None, zp_r=100, zp_add=7)),
    C("conv3x3_relu_add_s2_zp_extremes", _p(gf.conv_add, (1, 9, 9, 3), 5, (3, 3), strides=(2, 2),
                                            pads=(0, 1, 1, 0), conv_act="relu", zp_in=-128, zp_out=-128,
                                            zp_r=-128, zp_add=-128, s_out=0.06, act=None)),
    C("conv_depthwise_add_c33", _p(gf.conv_add, (1, 5, 7, 33), 33, (3, 3), pads=(1, 1, 1, 1), group=33)),
    C("two_convs_add_relu_downsample", gf.two_convs_add),
    # ---- the compiler's way: float graph -> quantize -> lower_integer ----
    C("float_conv3x3_relu", fc.conv_relu),
    C("float_depthwise3x3_relu6", functools.partial(fc.conv_relu, depthwise=True)),
    C("float_add_broadcast_relu", fc.add_broadcast),
    C("float_concat_differing_scales", fc.concat_scales),
    C("float_sigmoid_lut", fc.sigmoid),
    C("float_math_luts", fc.math_luts),
    C("float_min_max_differing_scales", fc.min_max),
    C("float_avgpool3x3_s2_pad1", fc.avg_pool),
    C("float_global_average_pool", fc.global_average),
    C("float_dense", fc.dense),
    C("float_matmul_two_activations", fc.matmul),
    C("dynamic_dense_relu6", fc.dynamic_dense),
    C("dynamic_matmul", fc.dynamic_matmul),
    C("dynamic_dense_tokens_tails", _p(fc.dynamic_dense_shaped, (1, 37, 96), 70)),
    C("dynamic_dense_wide_k_clamped", _p(fc.dynamic_dense_shaped, (2, 13, 203), 150, act_min=-0.5, act_max=1.5)),
    C("dynamic_matmul_heads_broadcast_tails", _p(fc.dynamic_matmul_heads, (2, 4, 33, 20), (1, 4, 20, 17))),
    C("dynamic_matmul_heads_clamped", _p(fc.dynamic_matmul_heads, (1, 3, 16, 64), (1, 3, 64, 40), act_min=-1.0,
                                         act_max=2.5)),
]
# the dynamic quantize fused into the pack and threaded (codegen/llvm/kernels_dynamic_pack.py): inputs of
# over 2 * MIN_JOB_ELEMS floats (two jobs of min/max and of quantize + pack), K and N tails
CASES += [
    C("dynamic_dense_threaded_pack", _p(fc.dynamic_dense_shaped, (1, 77, 450), 24)),
    C("dynamic_matmul_threaded_pack", _p(fc.dynamic_matmul_heads, (1, 2, 70, 250), (1, 2, 250, 70))),
]
# --quant dynamic --dynamic-granularity row (DynamicDenseRows): the per-row quantize in the pack (threaded
# at 2 * MIN_JOB_ELEMS floats and more), zp[r] in the epilogue
CASES += [
    C("dynamic_dense_rows_tails", _p(fc.dynamic_dense_rows, (1, 37, 96), 70)),
    C("dynamic_dense_rows_threaded_clamped", _p(fc.dynamic_dense_rows, (2, 45, 403), 20, act_min=-2.0, act_max=3.0)),
]
# the --quant dynamic fusions (passes/fuse_dynamic.py, dynamic_fused_cases.py): llvm builds only
CASES += [
    C("dynamic_dense_add_norm_tails", _p(dfc.dense_add_norm, (2, 19, 96), 70, residual_first=True)),
]
# DynamicDense of one activation merged, one quantize of x (passes/share_dynamic_input.py): llvm builds only;
# three parts, a K tail (450 = 4 * 112 + 2) and a row tail, two jobs of min/max and quantize + pack, clamped
CASES += [
    C("dynamic_dense_split_threaded_tails", _p(dfc.dense_split, (1, 77, 450), 32, 3, act_min=-0.5, act_max=1.0)),
]
# attention's head transposes as runs of rows (codegen/llvm/kernels_runs.py): the last axis kept
# (contiguous rows: [B, S, H, D] -> [B, H, S, D]) and moved (strided rows: -> [B, H, D, S])
def _transpose_heads(name, rng):
    b = Builder(name, rng)
    x = b.input("x", (1, 9, 5, 20), 3)
    kept = b.node(ops.Transpose(perm=(0, 2, 1, 3)), [x], "heads")
    moved = b.node(ops.Transpose(perm=(0, 2, 3, 1)), [x], "heads_t")
    return b.done(kept, moved)


CASES += [C("transpose_heads_kept_and_moved", _transpose_heads)]
# attention's scores fused into DynamicMatMul (passes/fuse_dynamic_attention.py): K and N tails, two heads
CASES += [
    C("dynamic_matmul_scale_add_tails", _p(dfc.matmul_scale_add, (1, 2, 37, 20), (1, 2, 20, 37), 0.2236068,
                                           mask_first=True)),
]
# comparison, selection and index ops (logic_cases.py): bool and int64 results have few values
CASES += [
    C("float_reduce_min_argmax_argmin", lc.reduce_min_arg, min_distinct=5),
    C("float_compare_where", lc.compare_where, min_distinct=2),
]
# depthwise convolutions of 8k channels (Cortex-M55's Helium kernel, qcomp_dw_mve.h: two interior pixels
# per pass, full blocks of eight channels without a predicate, border pixels through tap pointers)
CASES += [
    C("conv_depthwise3x3_c16_b2", _p(gb.conv, (2, 8, 9, 16), 16, (3, 3), pads=(1, 1, 1, 1), group=16)),
    C("conv_depthwise5x3_s2_c24", _p(gb.conv, (1, 11, 12, 24), 24, (5, 3), strides=(2, 1), pads=(2, 1, 2, 1),
                                     group=24)),
]



# ---- Gather with constant indices on int8 (GatherElements / GatherND / ScatterND / ScatterElements
# import as one: frontend/ops_gather.py) ----

def _gather_scatter(name, rng):
    """Gather along axis 2 with 2-D negative and repeated indices; then a scatter's form: a flat
    Gather from Concat(data, updates) (updates requantized to the data's params first)."""
    b = Builder(name, rng)
    x = b.input("x", (1, 5, 7, 3), -128)
    u = b.input("u", (4, 3), -128)
    idx = b.const("idx", np.array([[6, -1, 0], [-7, 3, 3]], np.int64))
    g = b.node(ops.Gather(axis=2), [x, idx], "gather")                   # (1, 5, 2, 3, 3)
    xf = b.node(ops.Reshape((105,)), [x], "flatten")
    m, sh = fixedpoint.quantize_multiplier(0.75)
    uq = b.node(qops.QRequantize(-128, m, sh, -128), [b.node(ops.Reshape((12,)), [u], "flatten_u")],
                "requantize_u", -128)
    src = b.node(ops.Concat(axis=0), [xf, uq], "sources")
    where = np.arange(105).reshape(5, 7, 3)
    where[[0, 4, 2, 1], 3] = 105 + np.arange(12).reshape(4, 3)            # (h, w=3) for h = 0, 4, 2, 1
    flat = b.const("map", where.reshape(1, 5, 7, 3).astype(np.int32))
    return b.done(g, b.node(ops.Gather(axis=0), [src, flat], "scatter"))


CASES += [C("gather_scatter_const_indices", _gather_scatter)]


# ---- TopK on int8 (qcomp/ir/ops_select.py) ----

def _topk(name, rng, with_indices: bool):
    """The 3 largest along H and the 4 smallest along C of values in [-4, 4] (many ties: the lower
    index first), -128 and 127 included."""
    b = Builder(name, rng)
    x = b.input("x", (2, 7, 5, 9), -3, lo=-4, hi=4)
    b.feeds["x"][0, 0, 0, :2] = (-128, 127)
    top = b.node(ops.TopK(axis=1, k=3, largest=True), [x], "top_h")
    low = b.node(ops.TopK(axis=3, k=4, largest=False), [x], "low_c")
    return b.done(top[0], low[0], *((top[1], low[1]) if with_indices else ()))


CASES += [C("topk_int8_values", _p(_topk, False), min_distinct=5),
          C("topk_int8_with_indices", _p(_topk, True), min_distinct=5)]

# ---- A16W8: int16 activations (qcomp/ir/qops16.py) ----
from .cases16 import CASES16  # noqa: E402

CASES += CASES16

# ---- integer LayerNorm (graphs_norm.py): rows of 1, 3, 20, 32, 768; constant rows, extremes ----
from . import graphs_norm as gn  # noqa: E402

CASES += [
    C("layer_norm_tokens_8x32", _p(gn.layer_norm, (1, 8, 32), 2, s_in=0.08, zp_in=-5, s_out=0.05, zp_out=3)),
    C("layer_norm_row_of_one", _p(gn.layer_norm, (5, 1), 1, zp_in=9, zp_out=-7), min_distinct=1),
    C("layer_norm_row_3_zp_extremes", _p(gn.layer_norm, (9, 3), 1, zp_in=127, zp_out=-128, s_out=0.02)),
    C("layer_norm_edge_rows_17", _p(gn.layer_norm, (6, 17), 1, zp_in=-128, eps=0.0, rows=gn.edge_rows(17))),
    C("layer_norm_two_axes_nhwc", _p(gn.layer_norm, (1, 3, 4, 5), 2, s_in=1e-3, eps=1e-3, zp_out=20)),
    C("layer_norm_row_768", _p(gn.layer_norm, (5, 768), 1, s_in=0.02, zp_in=40, s_out=0.03, rows=gn.edge_rows(768))),
    C("layer_norm_300_rows_of_24_jobs", _p(gn.layer_norm, (1, 300, 24), 2, zp_in=3, s_out=0.03)),   # llvm: 3 jobs
    C("float_layer_norm_tokens", gn.float_layer_norm),
]

assert len({c.name for c in CASES}) == len(CASES), "op case names must be unique"
# ---- run-time integer tensors of token models (index_cases.py): Gather by token ids, IntLut ----
from . import index_cases as ic  # noqa: E402

CASES += [
    C("gather_run_time_ids", ic.gather_run_time),
    C("int_lut_mask_ints_bool", ic.int_lut, min_distinct=2),
    C("gather_elements_nd_run_time", ic.gather_index_ops),
    C("scatter_elements_nd_run_time", ic.scatter_index_ops),
]

# ---- standalone QLinearMatMul on integer model I/O (int_ops_cases.py): a constant asymmetric B ----
from . import int_ops_cases as ioc  # noqa: E402

CASES += [C("matmul_constant_b_asymmetric_zp", ioc.matmul_constant_b)]
