"""Op cases of the TARGET-stage fusions (qcomp/passes/fuse_residual.py): QConv2D + QAdd residual pairs,
built unfused with the spec's parameters, then fused by the pass (which must fuse them: a case
that tests no QConv2DAdd fails here). naive.py computes the fused node as the pair, from the formulas."""
from __future__ import annotations

import numpy as np

from qcomp import fixedpoint
from qcomp.ir import qops, verify
from qcomp.passes.fuse_residual import fuse_residual

from . import graphs as gb
from .graphs import Builder


def _add(b: Builder, c: str, r: str, s_out: float, zp_out: int, act: str | None, name: str = "add") -> str:
    """QAdd(c, r) with add_params of the operands' bookkeeping params."""
    tc, tr = b.g.types[c].quant, b.g.types[r].quant
    qmin, qmax = gb.clamp_bounds(zp_out, act, s_out)
    p = fixedpoint.add_params(float(tc.scale[0]), int(tc.zero_point[0]), float(tr.scale[0]), int(tr.zero_point[0]),
                              s_out, zp_out, qmin, qmax)
    return b.node(qops.QAdd(**vars(p)), [c, r], name, zp_out, s_out)


def _fused(b: Builder, out: str, expect: int = 1):
    g, feeds = b.done(out)
    fused = verify(fuse_residual(g))
    n = sum(isinstance(node.op, qops.QConv2DAdd) for node in fused.nodes)
    assert n == expect and not any(isinstance(node.op, qops.QAdd) for node in fused.nodes), fused.nodes
    return fused, feeds


def conv_add(name, rng, x_shape, out_ch, kernel, *, residual_first=False, act="relu", conv_act=None,
             s_out=0.08, zp_r=-20, zp_add=-40, **conv_kw):
    """QAdd(conv(x), r) (or QAdd(r, conv(x))) with r an input of the conv output's shape."""
    b = Builder.extending(*gb.conv(name, rng, x_shape, out_ch, kernel, act=conv_act, **conv_kw), rng)
    b.g.outputs = []
    r = b.input("r", b.g.types["conv"].shape, zp_r)
    pair = ("r", "conv") if residual_first else ("conv", "r")
    return _fused(b, _add(b, *pair, s_out, zp_add, act))


def two_convs_add(name, rng):
    """conv_b(x) + conv_a(x): both operands are conv outputs (a ResNet downsample block); the later
    conv fuses and reads the earlier one's output as its residual."""
    b = Builder.extending(*gb.conv(name, rng, (1, 9, 7, 13), 17, (3, 3), strides=(2, 2), pads=(1, 1, 1, 1)), rng)
    x = "x"
    w = b.weights("w_short", (17, 1, 1, 13))
    g = b.g
    zp_in = int(g.types[x].quant.zero_point[0])
    raw_bias = rng.integers(-400, 401, size=17)   # K = 13: |acc| <= 13 * 127 * 255 + 400, far inside int32
    bias = raw_bias - zp_in * g.constants[w].reshape(17, -1).astype(np.int64).sum(axis=1)
    m, s = gb.multipliers(gb.SPREAD / gb.acc_rms(13, b.feeds[x], zp_in, g.constants[w], raw_bias)
                          * rng.uniform(0.6, 1.6, 17))
    consts = [b.const("bias_short", bias.astype(np.int32)), b.const("mult_short", m), b.const("shift_short", s)]
    short = b.node(qops.QConv2D((2, 2), (0, 0, 0, 0), (1, 1), 1, zp_in, 9), [x, w, *consts], "shortcut", 9)
    return _fused(b, _add(b, "conv", short, 0.07, -60, "relu"))

