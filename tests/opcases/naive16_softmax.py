"""Naive QSoftmax16 (qcomp/ir/qops16_softmax.py), from the op's docstring on Python ints.

Independent of qcomp.ref and qcomp.fixedpoint: per row, diff = x - max; the difference rescaled by
round_half_up(diff * m / 2^(31 - s)); the exp table read at clamp(scaled + 32767) with the 513-entry
interpolation; the sum's leading zeros from int.bit_length; the reciprocal table read at the
normalized sum minus 98304; each output round_half_up(e * r / 2^(31 - h)) clamped to [0, 32767].
"""
from __future__ import annotations

import numpy as np

from qcomp.ir import Graph, Node

from .naive import mbqm


def _lookup(t: list[int], v: int) -> int:
    i, off = 256 + (v >> 7), v & 127
    return t[i] + (((t[i + 1] - t[i]) * off + 64) >> 7)


def _row(row: list[int], m: int, s: int, exp_t: list[int], recip_t: list[int]) -> list[int]:
    top = max(row)
    exps = [_lookup(exp_t, min(max(mbqm(v - top, m, s) + 32767, -32768), 32767)) for v in row]
    total = sum(exps)
    assert 0 < total < 2**31, "the Q16.15 sum leaves int32"
    h = 32 - total.bit_length()
    shifted = ((total << (h - 1)) + (1 << 13)) >> 14
    r = _lookup(recip_t, min(max(shifted - 98304, -32768), 32767))
    return [min(max((e * r + (1 << (30 - h))) >> (31 - h), 0), 32767) for e in exps]


def q_softmax16(g: Graph, node: Node, x, exp_lut, recip_lut):
    op = node.op
    exp_t, recip_t = [int(v) for v in exp_lut.tolist()], [int(v) for v in recip_lut.tolist()]
    rows = np.moveaxis(x.astype(np.int64), op.axis, -1)
    out = np.array([_row(r, op.input_multiplier, op.input_shift, exp_t, recip_t)
                    for r in rows.reshape(-1, rows.shape[-1]).tolist()], np.int64).reshape(rows.shape)
    return np.moveaxis(out, -1, op.axis).astype(np.int16)
