"""int16 Softmax (qcomp/fixedpoint/softmax16.py): bit-exact to the bigint formulation, float accuracy,
masked entries, the tables and the parameters' edges."""
from __future__ import annotations

import numpy as np
import pytest

from qcomp import fixedpoint as fp
from qcomp.fixedpoint import softmax16 as sm16

from . import bigint_softmax16 as big


@pytest.fixture(scope="module")
def tables():
    return big.exp_table(), big.recip_table()


def test_tables_match_the_independent_construction(tables):
    exp_t, recip_t = tables
    assert sm16.softmax16_exp_lut().tolist() == exp_t
    assert sm16.softmax16_recip_lut().tolist() == recip_t
    assert exp_t[0] == 0 and exp_t[-1] == 32767 and recip_t[0] == 32767 and recip_t[-1] == 16384
    assert sm16.EXP_AT_ZERO >= 2**14


def _rows(rng):
    yield 1.0, 0.003, rng.integers(-32768, 32768, size=(6, 37))
    yield 1.0, 0.0004, rng.integers(-32768, 32768, size=(3, 200))
    yield 0.7, 0.02, rng.integers(-3000, 3000, size=(4, 9))
    yield 1.0, 1.5, rng.integers(-4, 4, size=(5, 6))                         # real capped at 2^16
    yield 1.0, 1e-9, rng.integers(-32768, 32768, size=(2, 11))               # tiny scale: uniform
    yield 1.0, 0.01, np.array([[7] * 13, [-32768] * 13, [32767] + [-32768] * 12, [-32768, 32767] * 6 + [0]])
    yield 1.0, 0.05, np.array([[5]])
    yield 1.0, 3e-5, rng.integers(-32768, 32768, size=(1, 65536))           # the longest row


def test_bit_exact_to_the_bigint_formulation(rng, tables):
    exp_t, recip_t = tables
    for beta, s_in, x in _rows(rng):
        p = fp.softmax16_params(beta, s_in)
        assert (p.input_multiplier, p.input_shift) == big.params(beta, s_in)
        got = fp.softmax_int16(x, p)
        want = [big.softmax_row(r, p.input_multiplier, p.input_shift, exp_t, recip_t) for r in x.tolist()]
        np.testing.assert_array_equal(got, np.array(want))


def test_within_three_lsb_of_the_float_softmax(rng):
    worst = 0
    for _ in range(60):
        s_in = float(np.float32(2.0 ** rng.uniform(-14, -4)))
        n = int(rng.choice([1, 2, 5, 40, 128, 1000]))
        x = rng.integers(-32768, 32768, size=(4, n))
        got = fp.softmax_int16(x, fp.softmax16_params(1.0, s_in)).astype(np.int64)
        z = s_in * (x - x.max(axis=-1, keepdims=True))
        want = np.rint(32768 * np.exp(z) / np.exp(z).sum(axis=-1, keepdims=True))
        worst = max(worst, int(np.abs(got - want).max()))
    assert worst <= 3


def test_entries_far_below_the_maximum_weigh_exactly_zero():
    """A masked attention row: entries saturated at -32768 (more than 12 below in real terms) get 0
    and leave the other probabilities as if they were absent."""
    s_in = 0.002                                     # 65535 * 0.002 = 131 below the max: saturated
    valid = np.array([1000, 200, -300, 900, 0])
    masked = np.concatenate([valid, np.full(123, -32768)])
    p = fp.softmax16_params(1.0, s_in)
    with_mask = fp.softmax_int16(masked[None], p)[0]
    alone = fp.softmax_int16(valid[None], p)[0]
    assert np.all(with_mask[5:] == 0)
    np.testing.assert_array_equal(with_mask[:5], alone)


def test_axis_and_shape():
    x = np.random.default_rng(3).integers(-32768, 32768, size=(2, 7, 3))
    p = fp.softmax16_params(1.0, 0.001)
    np.testing.assert_array_equal(fp.softmax_int16(x, p, axis=1),
                                  np.moveaxis(fp.softmax_int16(np.moveaxis(x, 1, -1), p), -1, 1))


def test_parameters_and_refusals():
    assert fp.softmax16_params(1.0, 20.0) == fp.softmax16_params(1.0, 1e6) == fp.Softmax16Params(2**30, 17)
    assert fp.softmax16_params(1.0, 0.0) == fp.Softmax16Params(0, 0)               # all-zero input
    assert fp.softmax16_refusal(65536) is None and fp.softmax16_refusal(1) is None
    assert "65537 elements" in fp.softmax16_refusal(65537)
    with pytest.raises(fp.FixedPointError, match="beta"):
        fp.softmax16_params(0.0, 0.1)
    with pytest.raises(fp.FixedPointError, match="int16"):
        fp.softmax_int16(np.array([[40000]]), fp.softmax16_params(1.0, 0.1))
    uniform = fp.softmax_int16(np.array([[-5, 0, 5, 9]]), fp.softmax16_params(1.0, 1e-12))
    assert len(set(uniform[0].tolist())) == 1
