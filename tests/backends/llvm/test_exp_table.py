"""vecmath_exp.exp_table (x86-vnni's Softmax exp): its table against 2^(j/16), its error over an evenly
strided sample of every float32 bit pattern in [EXP_LO, EXP_HI], its special values, and its scalar
tail equal to its vector lanes bit for bit."""
import math

import numpy as np

from qcomp.codegen.llvm import vecmath
from qcomp.codegen.llvm import vecmath_exp as ve
from tests.backends.llvm.test_float_vec import poly, pytestmark, ulps  # noqa: F401  (the exp library fixture)


def test_table_holds_two_to_the_j_over_16():
    """U[j] + (j << 19) are the bits of 2^(j/16) rounded; T[j] (1 + L[j]) is 2^(j/16) to float64 precision;
    C1 + C2 is ln 2 / 16 and K its inverse, rounded."""
    j = np.arange(ve.ENTRIES)
    t = (ve.EXP_U.astype(np.int64) + (j << ve.SHIFT)).astype(np.int32).view(np.float32)
    exact = 2.0 ** (j / ve.ENTRIES)
    assert t.tolist() == exact.astype(np.float32).tolist()
    assert np.abs(ve.EXP_L).max() <= 2.0 ** -24 and np.count_nonzero(ve.EXP_L) == ve.ENTRIES - 1
    np.testing.assert_allclose(t.astype(np.float64) * (1 + ve.EXP_L.astype(np.float64)), exact, rtol=2e-15)
    assert abs(ve.EXP_TAB_C1 + ve.EXP_TAB_C2 - math.log(2) / 16) < 1e-17 and abs(ve.EXP_TAB_C2) < 2e-10
    assert ve.EXP_K == float(np.float32(16 / math.log(2)))


def test_within_0_65_ulp_over_a_strided_sweep_of_every_float32(poly):  # noqa: F811
    """Every 509th float32 in [EXP_LO, -0.0] and in [+0.0, EXP_HI] (4.4 million; all 2,237,578,118 of them
    measured 0.628 ulp, the module docstring's figure): below 0.65 ulp of float64 exp."""
    lo_bits = int(np.float32(vecmath.EXP_LO).view(np.uint32))
    hi_bits = int(np.float32(vecmath.EXP_HI).view(np.uint32))
    bits = np.concatenate([np.arange(0x80000000, lo_bits + 1, 509, dtype=np.uint32),
                           np.arange(0, hi_bits + 1, 509, dtype=np.uint32), np.uint32([lo_bits, hi_bits])])
    x = bits.view(np.float32)
    err = ulps(poly("exp_table", x), np.exp(x.astype(np.float64)))
    assert err.max() < 0.65, (err.max(), x[err.argmax()])


def test_special_values(poly):  # noqa: F811
    """exp(+-0) = 1 exactly; exp(EXP_LO) subnormal within an ulp; below EXP_LO and -inf +0.0; +inf and
    anything above EXP_HI exp(EXP_HI); NaN NaN; vector lanes and the scalar tail alike (17 of each)."""
    below = np.nextafter(np.float32(vecmath.EXP_LO), np.float32(-np.inf))
    x = np.float32([0.0, -0.0, vecmath.EXP_LO, below, -88.0, -1e4, -np.inf, np.inf, 1e4, vecmath.EXP_HI,
                    np.nan, -1e-30, 1e-30, 1e-45, -1e-45, 0.5, -0.5])
    for y in (poly("exp_table", np.tile(x, 2))[:17], poly("exp_table", x)):   # 2 vectors + 2 tails; 1 + 1
        assert y[0] == 1.0 and y[1] == 1.0
        assert 0 < y[2] < np.finfo(np.float32).tiny and ulps(y[2:3], np.exp(np.float64([vecmath.EXP_LO]))) < 1
        assert y[3:7].view(np.uint32).tolist() == [0] * 4
        assert y[7] == y[8] == y[9] and ulps(y[9:10], np.exp(np.float64([np.float32(vecmath.EXP_HI)]))) < 1
        assert np.isnan(y[10]) and (y[11:15] == 1.0).all()
    v = np.random.default_rng(7).uniform(-87.3, 88.0, 16 * 8).astype(np.float32)
    lanes = poly("exp_table", v)                      # 8 vectors
    tails = np.concatenate([poly("exp_table", v[i:i + 15]) for i in range(0, 128, 15)])   # scalar tails
    assert tails.view(np.uint32).tolist() == lanes[:tails.size].view(np.uint32).tolist()
