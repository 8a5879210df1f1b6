"""Integer LayerNorm on int16 activations (qcomp/fixedpoint/layernorm16.py): bit-exact against the
independent Fraction formulation (bigint_layernorm16.py) on random and edge rows with int16 and
int8 outputs, the build-time integers, within 1 LSB of the float LayerNorm, the refusals, and the
largest row at the int16 extremes."""
from __future__ import annotations

import math

import numpy as np
import pytest

from qcomp import fixedpoint as fp
from qcomp.fixedpoint import layernorm16 as ln16

from . import bigint_layernorm16 as big

OUTPUTS = {"i16": (0, -32768, 32767), "i8": (-7, -128, 127)}


def _case(rng, n, out: str):
    """Scales as a calibration gives them: s_in = range / 32767, s_out so that |gamma z| fills the
    output type (int16: |gamma / s_out| ~ 2^11; int8: ~ 30)."""
    s_in = float(np.float32(2.0 ** rng.uniform(-16, -6)))
    gamma = rng.normal(1.0, 0.5, n).astype(np.float32)
    gamma[: max(1, n // 7)] *= -1
    beta = rng.normal(0.0, 0.5, n).astype(np.float32)
    s_out = float(np.float32(rng.uniform(4e-4, 6e-4) if out == "i16" else rng.uniform(0.03, 0.1)))
    return s_in, gamma, beta, s_out


EDGE_ROWS = {
    "constant (variance 0)": lambda n: [-1234] * n,
    "all -32768": lambda n: [-32768] * n,
    "all 32767": lambda n: [32767] * n,
    "alternating extremes": lambda n: [(-32768, 32767)[i % 2] for i in range(n)],
    "one outlier at 32767": lambda n: [-32768] * (n - 1) + [32767],
    "one outlier at -32768": lambda n: [32767] * (n - 1) + [-32768],
    "ramp": lambda n: [-32768 + (65535 * i) // max(1, n - 1) for i in range(n)],
    "small values": lambda n: [(i * 7) % 5 - 2 for i in range(n)],
}


@pytest.mark.parametrize("out", sorted(OUTPUTS))
@pytest.mark.parametrize("n", [1, 2, 3, 768])
def test_bit_exact_to_the_fraction_formulation_on_random_and_edge_rows(rng, n, out):
    zp_out, qmin, qmax = OUTPUTS[out]
    checked, distinct = 0, set()
    for trial in range(4 if n < 768 else 2):
        s_in, gamma, beta, s_out = _case(rng, n, out)
        eps = float(np.float32((1e-5, 1e-12, 0.0, 3.0)[trial]))
        p = fp.layernorm16_params(n, eps, s_in, gamma, beta, s_out)
        assert p.eps_q == big.eps_q(n, eps, s_in)
        rows = [list(rng.integers(-32768, 32768, n)), list(rng.integers(-300, 301, n))]
        rows += [make(n) for make in EDGE_ROWS.values()]
        got = fp.layer_norm_int16(np.array(rows, np.int64), p, zp_out, qmin, qmax)
        for r, row in enumerate(rows):
            want = big.layer_norm_row([int(v) for v in row], p.eps_q, p.gamma_q.tolist(), p.beta_q.tolist(),
                                      zp_out, qmin, qmax)
            assert got[r].tolist() == want, (n, out, trial, r)
            distinct.update(want)
            checked += 1
    assert checked >= 20 and (n == 1 or len(distinct) > 10)


def test_build_time_integers_against_exact_rationals(rng):
    n = 64
    for out in OUTPUTS:
        s_in, gamma, beta, s_out = _case(rng, n, out)
        p = fp.layernorm16_params(n, 1e-5, s_in, gamma, beta, s_out)
        assert p.gamma_q.dtype == np.int32 and p.beta_q.dtype == np.int64
        want = [big.affine(float(g), float(b), s_out) for g, b in zip(gamma, beta)]
        assert p.gamma_q.tolist() == [g for g, _ in want] and p.beta_q.tolist() == [b for _, b in want]
    p = fp.layernorm16_params(3, 1e-5, 1e-4, np.array([1.0, -2.0, 0.5]), np.array([1e9, -1e9, 0.25]), 0.25)
    assert p.gamma_q.tolist() == [4 * 2**16, -8 * 2**16, 2 * 2**16]
    assert p.beta_q.tolist() == [2**23 * 2**38, -(2**23) * 2**38, 2**38]
    zero = fp.layernorm16_params(4, 1e-5, 0.0, np.ones(4), np.ones(4), 0.0)   # all-zero input and output
    assert zero.eps_q == 1 and not zero.gamma_q.any() and not zero.beta_q.any()


def test_a_constant_row_gives_beta_whatever_epsilon(rng):
    n = 17
    gamma, beta = rng.normal(1, 1, n).astype(np.float32), rng.normal(0, 1, n).astype(np.float32)
    for eps in (0.0, 1e-5, 3.0):
        p = fp.layernorm16_params(n, eps, 1e-3, gamma, beta, 1e-3)
        got = fp.layer_norm_int16(np.full((2, n), -3700), p)
        want = np.clip(np.floor(p.beta_q / 2.0**38 + 0.5), -32768, 32767)
        np.testing.assert_array_equal(got, np.broadcast_to(want, (2, n)))


def _float_layer_norm(q, s_in, eps, gamma, beta, s_out, zp_out, qmin, qmax):
    r = q.astype(np.float64) * s_in
    m = r.mean(-1, keepdims=True)
    v = ((r - m) ** 2).mean(-1, keepdims=True)
    y = (r - m) / np.sqrt(v + eps) * gamma.astype(np.float64) + beta.astype(np.float64)
    return np.clip(np.rint(y / s_out) + zp_out, qmin, qmax)


@pytest.mark.parametrize("out", sorted(OUTPUTS))
def test_within_one_lsb_of_the_float_layer_norm(rng, out):
    zp_out, qmin, qmax = OUTPUTS[out]
    worst, distinct = 0, set()
    for _ in range(24):
        n = int(rng.choice([3, 8, 32, 100, 768, 4096]))
        s_in, gamma, beta, s_out = _case(rng, n, out)
        x = np.clip(rng.integers(-20000, 20000) + rng.integers(-9000, 9001, size=(3, n)), -32768, 32767)
        p = fp.layernorm16_params(n, 1e-5, s_in, gamma, beta, s_out)
        got = fp.layer_norm_int16(x, p, zp_out, qmin, qmax)
        eps_eff = p.eps_q * s_in * s_in / (n * n)            # the epsilon the spec rounds up to
        want = _float_layer_norm(x, s_in, eps_eff, gamma, beta, s_out, zp_out, qmin, qmax)
        worst = max(worst, int(np.abs(got - want).max()))
        distinct.update(got.ravel().tolist())
    assert worst <= 1 and len(distinct) > (2000 if out == "i16" else 200)


@pytest.mark.parametrize("n, eps, s_in, gamma_max, s_out, match", [
    (32769, 1e-5, 0.1, 1.0, 0.1, "row of 32769"),
    (0, 1e-5, 0.1, 1.0, 0.1, "row of 0"),
    (768, 1e-5, 1e-12, 1.0, 0.1, "input scale"),
    (768, 1e-5, 0.1, 100.0, 0.003, "output scale"),
    (8, float("nan"), 0.1, 1.0, 0.1, "epsilon"),
])
def test_refusals_name_the_limit(n, eps, s_in, gamma_max, s_out, match):
    gamma = np.full(max(n, 0), gamma_max, np.float32)
    assert match in fp.layernorm16_refusal(n, eps, s_in, gamma, s_out)
    if n > 0:
        with pytest.raises(fp.FixedPointError, match=match):
            fp.layernorm16_params(n, eps, s_in, gamma, np.zeros(n, np.float32), s_out)


def test_the_int8_limits_do_not_apply():
    """A calibrated int16 output (|gamma / s_out| ~ 2^11 at N = 768) is beyond the int8 LayerNorm's
    gamma bound but inside the int16 one; a row of 40000 the reverse."""
    gamma = np.full(768, 1.0, np.float32)
    assert fp.layernorm_refusal(768, 1e-5, 1e-3, gamma, 1 / 2048) is not None
    assert fp.layernorm16_refusal(768, 1e-5, 1e-3, gamma, 1 / 2048) is None
    assert fp.layernorm_refusal(40000, 1e-5, 1e-3, np.full(40000, 0.01, np.float32), 1.0) is None
    assert "40000" in fp.layernorm16_refusal(40000, 1e-5, 1e-3, np.full(40000, 0.01, np.float32), 1.0)


def test_the_largest_row_at_the_extremes_stays_in_range():
    n = ln16.MAX_ROW16
    x = np.array([[-32768] * (n - 1) + [32767], [(-32768, 32767)[i % 2] for i in range(n)]])
    gamma = np.full(n, ln16.GAMMA_MAX16 * 0.999, np.float32)
    gamma[1::2] *= -1
    p = fp.layernorm16_params(n, 0.0, 1.0, gamma, np.full(n, 3e6, np.float32), 1.0)
    got = fp.layer_norm_int16(x, p, 0, -(2**31), 2**31 - 1)       # no clamp: the raw values
    columns = [0, 1, 2, n // 2, n - 2, n - 1]
    for r in range(2):
        want = big.layer_norm_row(x[r].tolist(), p.eps_q, p.gamma_q.tolist(), p.beta_q.tolist(), 0,
                                  -(2**31), 2**31 - 1, columns=columns)
        assert got[r, columns].tolist() == want
    z_outlier = (n - 1) / math.sqrt(n - 1)                        # Samuelson's bound, reached
    assert abs(got[0, -1] - (3e6 + gamma[-1] * z_outlier)) <= 1
