"""Integer LayerNorm (qcomp/fixedpoint/layernorm.py): bit-exact against the independent Fraction
formulation (bigint_layernorm.py) on random and edge rows, within 1 LSB of the float LayerNorm,
the exact square root, the build-time integers and the refusals."""
from __future__ import annotations

import math

import numpy as np
import pytest

from qcomp import fixedpoint as fp

from . import bigint_layernorm as big


def _float_layer_norm_int8(q, zp_in, s_in, eps, gamma, beta, s_out, zp_out):
    r = (q.astype(np.float64) - zp_in) * s_in
    m = r.mean(-1, keepdims=True)
    v = ((r - m) ** 2).mean(-1, keepdims=True)
    y = (r - m) / np.sqrt(v + eps) * gamma.astype(np.float64) + beta.astype(np.float64)
    return np.clip(np.rint(y / s_out) + zp_out, -128, 127)


def _case(rng, n, rows):
    s_in = float(np.float32(2.0 ** rng.uniform(-9, 0)))
    zp_in = int(rng.integers(-128, 128))
    gamma = rng.normal(1.0, 0.5, n).astype(np.float32)
    beta = rng.normal(0.0, 0.5, n).astype(np.float32)
    s_out = float(np.float32(rng.uniform(0.03, 0.1)))   # a calibrated range: |gamma / s_out| ~ 30
    return s_in, zp_in, gamma, beta, s_out, int(rng.integers(-20, 21))


EDGE_ROWS = {
    "constant (variance 0)": lambda n: [7] * n,
    "all -128": lambda n: [-128] * n,
    "all 127": lambda n: [127] * n,
    "alternating extremes": lambda n: [(-128, 127)[i % 2] for i in range(n)],
    "one outlier at 127": lambda n: [-128] * (n - 1) + [127],
    "one outlier at -128": lambda n: [127] * (n - 1) + [-128],
    "ramp": lambda n: [-128 + (255 * i) // max(1, n - 1) for i in range(n)],
}


@pytest.mark.parametrize("n", [1, 2, 3, 768])
def test_bit_exact_to_the_fraction_formulation_on_random_and_edge_rows(rng, n):
    rows_checked = 0
    for trial in range(6 if n < 768 else 2):
        s_in, zp_in, gamma, beta, s_out, zp_out = _case(rng, n, 3)
        eps = float(np.float32((1e-5, 1e-12, 0.0, 0.5, 1e-5, 1e-3)[trial]))
        p = fp.layernorm_params(n, eps, s_in, gamma, beta, s_out)
        assert p.eps_q == big.eps_q(n, eps, s_in)
        rows = [list(rng.integers(-128, 128, n))] + [make(n) for make in EDGE_ROWS.values()]
        x = np.array(rows, dtype=np.int64)
        got = fp.layer_norm_int8(x, zp_in, p, zp_out)
        for r, row in enumerate(rows):
            want = big.layer_norm_row([int(v) for v in row], zp_in, p.eps_q, [int(g) for g in p.gamma_q],
                                      [int(b) for b in p.beta_q], zp_out)
            assert got[r].tolist() == want, (n, trial, r)
            rows_checked += 1
    assert rows_checked >= 16


def test_a_constant_row_gives_beta_whatever_epsilon(rng):
    n = 17
    gamma, beta = rng.normal(1, 1, n).astype(np.float32), rng.normal(0, 1, n).astype(np.float32)
    for eps in (0.0, 1e-5, 3.0):
        p = fp.layernorm_params(n, eps, 0.02, gamma, beta, 0.05)
        got = fp.layer_norm_int8(np.full((2, n), -37), -5, p, 4)
        want = np.clip(np.floor(p.beta_q / 2.0**16 + 0.5) + 4, -128, 127)
        np.testing.assert_array_equal(got, np.broadcast_to(want, (2, n)))


def test_within_one_lsb_of_the_float_layer_norm(rng):
    worst, distinct = 0, set()
    for _ in range(40):
        n = int(rng.choice([3, 8, 32, 100, 768, 4096]))
        s_in, zp_in, gamma, beta, s_out, zp_out = _case(rng, n, 4)
        x = np.clip(rng.integers(-128, 128) + rng.integers(-90, 91, size=(4, n)), -128, 127)
        p = fp.layernorm_params(n, 1e-5, s_in, gamma, beta, s_out)
        got = fp.layer_norm_int8(x, zp_in, p, zp_out).astype(np.int64)
        eps_eff = p.eps_q * s_in * s_in / (n * n)            # the epsilon the spec rounds up to
        want = _float_layer_norm_int8(x, zp_in, s_in, eps_eff, gamma, beta, s_out, zp_out)
        worst = max(worst, int(np.abs(got - want).max()))
        distinct.update(got.ravel().tolist())
    assert worst <= 1 and len(distinct) > 200


def test_isqrt_is_the_exact_floor_square_root(rng):
    cases = [0, 1, 2, 3, 4, 2**60, 2**62 - 1, (2**31 - 1) ** 2, (2**31 - 1) ** 2 - 1, 2**60 - 1]
    cases += [int(v) for v in rng.integers(0, 2**62, 300)]
    cases += [k * k + d for k in rng.integers(1, 2**31 - 1, 100).tolist() for d in (-1, 0, 1)]
    for w in cases:
        assert fp.isqrt_u62(w) == math.isqrt(w), w


def test_row_inverse_std_at_its_range_ends():
    for v in (1, 2, 3, 2**48, 2**60 - 1, 2**60, 2**62 - 1):
        inv, s = fp.row_inverse_std(v)
        assert 2**30 <= inv <= 2**31 and 0 <= s <= 30
        assert abs(inv * 2.0 ** (s - 61) * math.sqrt(v) - 1) < 2**-28
    with pytest.raises(fp.FixedPointError, match="outside"):
        fp.row_inverse_std(2**62)


def test_build_time_integers_and_their_clip(rng):
    n = 4
    p = fp.layernorm_params(n, 1e-5, 0.1, np.array([1.0, -2.0, 0.0, 0.5]), np.array([0.1, 1e9, -1e9, 0.0]), 0.25)
    assert p.gamma_q.tolist() == [4 * 2**16, -8 * 2**16, 0, 2 * 2**16]
    assert p.beta_q.tolist() == [round(0.4 * 2**16), fp.layernorm.BETA_CLIP * 2**16,
                                 -fp.layernorm.BETA_CLIP * 2**16, 0]
    zero = fp.layernorm_params(n, 1e-5, 0.0, np.ones(n), np.ones(n), 0.0)   # all-zero input and output
    assert zero.eps_q == 1 and not zero.gamma_q.any() and not zero.beta_q.any()


@pytest.mark.parametrize("n, eps, s_in, gamma_max, s_out, match", [
    (65537, 1e-5, 0.1, 1.0, 0.1, "row of 65537"),
    (0, 1e-5, 0.1, 1.0, 0.1, "row of 0"),
    (768, 1e-5, 1e-12, 1.0, 0.1, "input scale"),
    (768, 1e-5, 0.1, 100.0, 0.01, "output scale"),
    (8, -1.0, 0.1, 1.0, 0.1, "epsilon"),
])
def test_refusals_name_the_limit(n, eps, s_in, gamma_max, s_out, match):
    gamma = np.full(n, gamma_max, np.float32)
    assert match in fp.layernorm_refusal(n, eps, s_in, gamma, s_out)
    with pytest.raises(fp.FixedPointError, match=match):
        fp.layernorm_params(n, eps, s_in, gamma, np.zeros(n, np.float32), s_out)


def test_the_largest_row_stays_in_range():
    n = fp.layernorm.MAX_ROW
    x = np.array([[-128] * (n - 1) + [127]])
    p = fp.layernorm_params(n, 0.0, 1.0, np.full(n, fp.layernorm.GAMMA_BOUND / math.sqrt(n - 1) * 0.999 * 0.01, np.float32),
                            np.zeros(n), 0.01)
    got = fp.layer_norm_int8(x, 0, p, 0)
    columns = [0, 1, 2, n // 2, n - 2, n - 1]
    want = big.layer_norm_row(x[0].tolist(), 0, p.eps_q, p.gamma_q.tolist(), p.beta_q.tolist(), 0, columns=columns)
    assert got[0, columns].tolist() == want and want[-1] == 127 and want[0] == 0
