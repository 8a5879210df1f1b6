"""Conv2D, ConvTranspose2D, Dense and MatMul against naive loops (tests/ref/naive.py)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from qcomp.ir import ops

from . import naive
from .util import close, run1


@dataclass(frozen=True)
class ConvCase:
    name: str
    x: tuple[int, int, int, int]          # N, H, W, C
    out: int                              # O
    kernel: tuple[int, int]
    strides: tuple[int, int] = (1, 1)
    pads: tuple[int, int, int, int] = (0, 0, 0, 0)
    dilations: tuple[int, int] = (1, 1)
    group: int = 1
    output_padding: tuple[int, int] = (0, 0)  # ConvTranspose2D only


CONV_CASES = [
    ConvCase("1x1_c13_o17", (1, 5, 7, 13), 17, (1, 1)),
    ConvCase("3x3_pad1_c3_o5", (1, 9, 11, 3), 5, (3, 3), pads=(1, 1, 1, 1)),
    ConvCase("3x3_stride2_odd_batch2", (2, 13, 9, 5), 13, (3, 3), strides=(2, 2), pads=(1, 1, 1, 1)),
    ConvCase("asymmetric_pads", (1, 8, 7, 3), 5, (3, 2), pads=(0, 1, 2, 0)),
    ConvCase("dilated", (1, 11, 13, 5), 7, (3, 3), pads=(2, 3, 2, 3), dilations=(2, 3)),
    ConvCase("strided_dilated_asym", (1, 12, 10, 3), 4, (2, 3), strides=(2, 3), pads=(1, 0, 0, 2),
             dilations=(2, 1)),
    ConvCase("stem_7x7_s2", (1, 17, 17, 3), 5, (7, 7), strides=(2, 2), pads=(3, 3, 3, 3)),
    ConvCase("kernel_covers_input", (1, 5, 5, 3), 17, (5, 5)),
    ConvCase("grouped_g3_c33_o15", (1, 7, 9, 33), 15, (3, 3), pads=(1, 1, 1, 1), group=3),
    ConvCase("grouped_g2_strided", (1, 9, 8, 6), 4, (3, 3), strides=(2, 1), pads=(0, 1, 1, 0), group=2),
    ConvCase("depthwise_c17", (1, 9, 8, 17), 17, (3, 3), pads=(1, 1, 1, 1), group=17),
    ConvCase("depthwise_c33_s2", (1, 15, 13, 33), 33, (3, 3), strides=(2, 2), pads=(1, 1, 1, 1), group=33),
    ConvCase("depthwise_multiplier2_c5", (1, 7, 7, 5), 10, (3, 3), pads=(1, 1, 1, 1), group=5),
    ConvCase("depthwise_dilated_c13", (1, 11, 9, 13), 13, (3, 3), pads=(2, 2, 2, 2), dilations=(2, 2),
             group=13),
    ConvCase("depthwise_5x5_asym_c3", (1, 10, 7, 3), 3, (5, 5), strides=(2, 2), pads=(1, 2, 2, 1), group=3),
    ConvCase("one_input_channel", (1, 9, 9, 1), 8, (3, 3), pads=(1, 1, 1, 1)),
]


def _conv_data(case: ConvCase, rng):
    c = case.x[3]
    # ConvTranspose2D weights are w[O, KH, KW, C/group] too (qcomp/ir/ops.py)
    w_shape = (case.out, *case.kernel, c // case.group)
    x = rng.normal(size=case.x).astype(np.float32)
    w = rng.normal(size=w_shape).astype(np.float32)
    b = rng.normal(size=case.out).astype(np.float32)
    return x, w, b


@pytest.mark.parametrize("case", CONV_CASES, ids=lambda c: c.name)
def test_conv2d_matches_naive_loops(case: ConvCase, rng):
    x, w, b = _conv_data(case, rng)
    op = ops.Conv2D(strides=case.strides, pads=case.pads, dilations=case.dilations, group=case.group)
    got = run1(op, x, w, b, const=(1, 2))
    want = naive.conv2d(x, w, b, case.strides, case.pads, case.dilations, case.group)
    close(got, want)


CONV_TRANSPOSE_CASES = [
    ConvCase("s2_k3_pad1_outpad1", (1, 5, 7, 3), 5, (3, 3), strides=(2, 2), pads=(1, 1, 1, 1),
             output_padding=(1, 1)),
    ConvCase("s1_k3_nopad_c13_o17", (1, 4, 6, 13), 17, (3, 3)),
    ConvCase("upsample_k2_s2_batch2", (2, 3, 5, 5), 3, (2, 2), strides=(2, 2)),
    ConvCase("grouped_g2", (1, 5, 4, 6), 4, (3, 3), strides=(2, 2), pads=(1, 0, 0, 1), group=2),
    ConvCase("depthwise_c5_k4_s2", (1, 6, 5, 5), 5, (4, 4), strides=(2, 2), pads=(1, 1, 1, 1), group=5),
    ConvCase("dilated_asym_outpad", (1, 4, 5, 3), 2, (3, 2), strides=(2, 3), pads=(0, 1, 2, 0),
             dilations=(2, 2), output_padding=(1, 2)),
    ConvCase("one_input_channel_o3", (1, 5, 5, 1), 3, (3, 3), strides=(2, 2), pads=(1, 1, 1, 1)),
    ConvCase("multiplier2_c3_g3", (1, 4, 4, 3), 6, (3, 3), strides=(1, 2), group=3),
]


@pytest.mark.parametrize("case", CONV_TRANSPOSE_CASES, ids=lambda c: c.name)
def test_conv_transpose2d_matches_naive_loops(case: ConvCase, rng):
    x, w, b = _conv_data(case, rng)
    op = ops.ConvTranspose2D(strides=case.strides, pads=case.pads, dilations=case.dilations,
                             group=case.group, output_padding=case.output_padding)
    got = run1(op, x, w, b, const=(1, 2))
    want = naive.conv_transpose2d(x, w, b, case.strides, case.pads, case.dilations, case.group,
                                  case.output_padding)
    close(got, want)


def test_conv_transpose_is_the_adjoint_of_conv(rng):
    """<conv(x), y> == <x, conv_transpose(y)> with the same weight (zero bias): the defining identity."""
    x = rng.normal(size=(1, 9, 8, 6)).astype(np.float32)
    w = rng.normal(size=(4, 3, 3, 3)).astype(np.float32)
    attrs = dict(strides=(2, 2), pads=(1, 1, 1, 1), dilations=(1, 2), group=2)
    y = run1(ops.Conv2D(**attrs), x, w, np.zeros(4, np.float32))
    # conv maps C=6 -> O=4; its transpose maps 4 -> 6, with weight wt[c, kh, kw, o] per group
    wt = w.reshape(2, 2, 3, 3, 3).transpose(0, 4, 2, 3, 1).reshape(6, 3, 3, 2)
    # output_padding recovers the column the strided conv dropped, so conv_transpose(y) has x's shape
    y2 = rng.normal(size=y.shape).astype(np.float32)
    z2 = run1(ops.ConvTranspose2D(output_padding=(0, 1), **attrs), y2, wt, np.zeros(6, np.float32))
    assert z2.shape == x.shape
    lhs = float(np.sum(y.astype(np.float64) * y2))
    rhs = float(np.sum(x.astype(np.float64) * z2))
    assert abs(lhs - rhs) <= 1e-4 * max(abs(lhs), 1.0)


def test_conv2d_float16_keeps_dtype(rng):
    x = rng.normal(size=(1, 6, 6, 3)).astype(np.float16)
    w = rng.normal(size=(5, 3, 3, 3)).astype(np.float16)
    b = rng.normal(size=5).astype(np.float16)
    got = run1(ops.Conv2D(pads=(1, 1, 1, 1)), x, w, b, const=(1, 2))
    assert got.dtype == np.float16
    close(got, naive.conv2d(x, w, b, pads=(1, 1, 1, 1)), rtol=5e-3)


def test_dense_over_last_axis(rng):
    x = rng.normal(size=(2, 3, 13)).astype(np.float32)
    w = rng.normal(size=(17, 13)).astype(np.float32)
    b = rng.normal(size=17).astype(np.float32)
    got = run1(ops.Dense(), x, w, b, const=(1, 2))
    want = np.zeros((2, 3, 17))
    for i in range(2):
        for j in range(3):
            for n in range(17):
                want[i, j, n] = b[n] + sum(float(x[i, j, k]) * float(w[n, k]) for k in range(13))
    close(got, want)


def test_matmul_broadcasts_batch_dims(rng):
    a = rng.normal(size=(2, 1, 3, 5)).astype(np.float32)
    b = rng.normal(size=(4, 5, 6)).astype(np.float32)
    got = run1(ops.MatMul(), a, b)
    assert got.shape == (2, 4, 3, 6)
    for i in range(2):
        for j in range(4):
            close(got[i, j], a[i, 0].astype(np.float64) @ b[j].astype(np.float64))


def test_matmul_integers_are_exact():
    a = np.array([[2**20, 3], [-5, 7]], np.int64)
    b = np.array([[2**20, 1], [1, -1]], np.int64)
    np.testing.assert_array_equal(run1(ops.MatMul(), a, b), [[2**40 + 3, 2**20 - 3], [-5 * 2**20 + 7, -12]])


@pytest.mark.parametrize("act_min,act_max", [(0.0, None), (0.0, 6.0), (None, 0.5), (-1.0, 1.0)])
def test_fused_activation_clamps_after_the_bias(act_min, act_max, rng):
    lo = -np.inf if act_min is None else act_min
    hi = np.inf if act_max is None else act_max
    act = dict(act_min=act_min, act_max=act_max)
    x = (rng.normal(size=(1, 6, 5, 3)) * 3).astype(np.float32)
    w = rng.normal(size=(4, 3, 3, 3)).astype(np.float32)
    b = rng.normal(size=4).astype(np.float32)
    got = run1(ops.Conv2D(pads=(1, 1, 1, 1), **act), x, w, b, const=(1, 2))
    close(got, np.clip(naive.conv2d(x, w, b, pads=(1, 1, 1, 1)), lo, hi))
    got = run1(ops.ConvTranspose2D(strides=(2, 2), **act), x, w, b, const=(1, 2))
    close(got, np.clip(naive.conv_transpose2d(x, w, b, strides=(2, 2)), lo, hi))
    wd = rng.normal(size=(7, 3)).astype(np.float32)
    bd = rng.normal(size=7).astype(np.float32)
    got = run1(ops.Dense(**act), x, wd, bd, const=(1, 2))
    close(got, np.clip(x.astype(np.float64) @ wd.T.astype(np.float64) + bd, lo, hi))
    got = run1(ops.MatMul(**act), x, np.ascontiguousarray(wd.T))
    close(got, np.clip(x.astype(np.float64) @ wd.T.astype(np.float64), lo, hi))
    got = run1(ops.Add(**act), x, b[:3])
    np.testing.assert_array_equal(got, np.clip(x + b[:3], lo, hi))
