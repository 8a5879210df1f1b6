"""Op cases of the integer forms that standalone QLinear ops on integer model I/O import to
(qcomp/frontend/qlinear_ops.py): a QMatMul whose B is a constant with an asymmetric zero point, the
uint8 codes of an ONNX QLinearMatMul's B (q - 128, zero point 114 - 128 = -14) with both ends of the
code range present, so q - zp spans [-114, 141] (no symmetric int8 weight holds it)."""
from __future__ import annotations

import math

import numpy as np

from qcomp import fixedpoint
from qcomp.ir import QuantParams, qops

from .graphs import ACT_SCALE, SPREAD, Builder


def matmul_constant_b(name: str, rng: np.random.Generator, a_shape=(3, 7, 13), n: int = 11, zp_a: int = -15,
                      zp_b: int = -14, zp_out: int = -10):
    b = Builder(name, rng)
    a = b.input("a", a_shape, zp_a)
    k = a_shape[-1]
    codes = rng.integers(-128, 128, size=(k, n))
    codes[0, 0], codes[1, 1] = 127, -128
    bb = b.const("b", codes.astype(np.int8), QuantParams(ACT_SCALE, zp_b))
    rms = math.sqrt(k * np.mean((b.feeds[a].astype(np.float64) - zp_a) ** 2)
                    * np.mean((codes.astype(np.float64) - zp_b) ** 2))
    m, s = fixedpoint.quantize_multiplier(SPREAD / rms)
    return b.done(b.node(qops.QMatMul(zp_a, zp_b, m, s, zp_out, -128, 127), [a, bb], "matmul", zp_out))
