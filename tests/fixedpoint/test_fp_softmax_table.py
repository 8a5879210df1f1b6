"""The int8 Softmax through its 256-entry exp table (fixedpoint/softmax_table.py) equals the spec
(softmax_int8) exhaustively: for every input scale tried, rows holding every (row max, element) pair
of int8, rows of ties, and long rows whose final exponent n + 23 reaches 32 and more (the kernels'
recip = 0 case)."""
import numpy as np
import pytest

from qcomp import fixedpoint as fp
from qcomp.fixedpoint.softmax_table import exp_table, final_shift, softmax_int8_by_table

# beta * s_in from just above the spec's floor 2^-26 (one kept difference scale) to far past the
# point where diff_min cuts the row to a handful of kept differences
SCALES = [2.0 ** -25.5, 1e-6, 3e-4, 0.002, 0.0117, 0.03, 0.0625, 0.1, 0.125, 0.37, 0.5, 1.0, 2.7, 8.0, 40.0]


def _every_pair() -> np.ndarray:
    """256 rows of 257: row m holds its max m - 128 and every int8 value at or below it (the rest -128),
    so every difference in [-255, 0] meets every max."""
    rows = np.full((256, 257), -128, np.int64)
    for m in range(256):
        rows[m, 0] = m - 128
        rows[m, 1:m + 2] = np.arange(-128, m - 127)
    return rows


@pytest.mark.parametrize("s_in", SCALES)
def test_every_difference_every_max(s_in):
    params = fp.softmax_params(1.0, s_in)
    x = _every_pair()
    np.testing.assert_array_equal(softmax_int8_by_table(x, params), fp.softmax_int8(x, params))


def test_ties_and_long_rows():
    rng = np.random.default_rng(1919)
    for s_in in (0.002, 0.03, 0.5):
        params = fp.softmax_params(1.0, s_in)
        ties = np.full((3, 40), 17)
        long_rows = rng.integers(100, 128, (4, 4095))               # sums near 4095 * 2^19
        mixed = rng.integers(-128, 128, (5, 700))
        for x in (ties, long_rows, mixed):
            np.testing.assert_array_equal(softmax_int8_by_table(x, params), fp.softmax_int8(x, params))


def test_exponent_of_32_and_more_is_covered():
    """A long row of near-equal values drives n + 23 past 31: the case the kernels fold into recip = 0."""
    params = fp.softmax_params(1.0, 0.002)
    e = exp_table(params)[np.zeros((1, 4000), np.int64)]
    recip, exponent = final_shift(((e + 2048) >> 12).sum(axis=-1, keepdims=True))
    assert recip[0, 0] == 0 and exponent[0, 0] == 31


def test_table_entries():
    params = fp.softmax_params(1.0, 0.5)
    table = exp_table(params)
    assert table.shape == (256,) and table[0] == 2 ** 31 - 1
    kept = -np.arange(256) >= params.diff_min
    assert np.all(table[~kept] == 0) and np.all(np.diff(table[kept]) <= 0)
