"""Builders of QSoftmax16 op cases (qcomp/ir/qops16_softmax.py): int16 rows, the spec's two tables.

The feeds cover the whole int16 range; `masked` sets a share of the elements to -32768 (an
attention mask saturated at its range's low end), `lo`/`hi` narrow the values (ties of the row
maximum, a real multiplier capped at 2^16 when the scale is large)."""
from __future__ import annotations

import numpy as np

from qcomp import fixedpoint
from qcomp.ir import QuantParams, TensorType, qops16

from .graphs16 import Builder16


def softmax16(name: str, rng, shape, axis: int, s_in: float, *, lo: int = -32768, hi: int = 32767,
              masked: float = 0.0):
    b = Builder16(name, rng)
    x = b.input16("x", shape, lo, hi)
    if masked:
        b.feeds[x][rng.random(shape) < masked] = -32768
    b.g.types[x] = TensorType(tuple(shape), b.g.types[x].dtype, QuantParams(s_in, 0))
    p = fixedpoint.softmax16_params(1.0, s_in)
    tables = [b.const("exp_lut", fixedpoint.softmax16_exp_lut()), b.const("recip_lut", fixedpoint.softmax16_recip_lut())]
    op = qops16.QSoftmax16(axis, p.input_multiplier, p.input_shift)
    return b.done(b.node16(op, [x, *tables], "y", scale=1 / 32768))
