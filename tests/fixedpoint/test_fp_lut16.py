"""int16 lookup tables (qcomp/fixedpoint/lut16.py): exhaustive over all 65536 int16 inputs."""
from __future__ import annotations

import numpy as np
import pytest

from qcomp import fixedpoint as fp

from . import bigint_ref

ALL_INT16 = np.arange(-32768, 32768)
SMOOTH = {  # name: (fn, s_in, s_out, zp_out, qmin, qmax)
    "tanh": (np.tanh, 4 / 32767, 1 / 32767, 0, -32768, 32767),
    "logistic": (lambda v: 1 / (1 + np.exp(-v)), 8 / 32767, 1 / 32767, 0, -32768, 32767),
    "logistic_to_int8": (lambda v: 1 / (1 + np.exp(-v)), 6 / 32767, 1 / 256, -128, -128, 127),
    "gelu_sigmoid": (lambda v: v / (1 + np.exp(-1.702 * v)), 6 / 32767, 6 / 32767, 0, -32768, 32767),
}


@pytest.mark.parametrize("name", sorted(SMOOTH))
def test_smooth_functions_are_within_one_lsb_everywhere(name):
    fn, s_in, s_out, zp, qmin, qmax = SMOOTH[name]
    s_in, s_out = float(np.float32(s_in)), float(np.float32(s_out))
    table = fp.build_lut16(fn, s_in, s_out, zp, qmin, qmax)
    got = fp.lut16_lookup(ALL_INT16, table).astype(np.int64)
    want = np.clip(np.rint(fn(ALL_INT16 * s_in) / s_out) + zp, qmin, qmax)
    assert np.abs(got - want).max() <= 1
    assert len(np.unique(got)) >= min(1000, qmax - qmin)         # the table is not degenerate
    assert got.min() >= qmin and got.max() <= qmax


def test_grid_points_read_the_table_and_monotone_tables_give_monotone_outputs():
    table = fp.build_lut16(np.tanh, 3 / 32767, 1 / 32767)
    got = fp.lut16_lookup(ALL_INT16, table)
    np.testing.assert_array_equal(got[::128], table[:512])
    assert np.all(np.diff(got.astype(np.int64)) >= 0)


def test_interpolation_stays_between_neighbours_with_any_table(rng):
    """Even a table whose neighbours are 65535 apart (the slope needs int32, not int16)."""
    table = rng.choice([-32768, 32767], size=513).astype(np.int16)
    table[::7] = rng.integers(-32768, 32768, size=len(table[::7]))
    got = fp.lut16_lookup(ALL_INT16, table).astype(np.int64)
    index = 256 + (ALL_INT16 >> 7)
    lo = np.minimum(table[index], table[index + 1])
    hi = np.maximum(table[index], table[index + 1])
    assert np.all((lo <= got) & (got <= hi))
    want = [bigint_ref.lut16_lookup(int(x), table.astype(int).tolist()) for x in ALL_INT16[::97]]
    np.testing.assert_array_equal(got[::97], want)


def test_the_identity_is_exact_but_for_the_last_interval():
    table = fp.build_lut16(lambda v: v, 1 / 1024, 1 / 1024)
    got = fp.lut16_lookup(ALL_INT16, table).astype(np.int64)
    last = ALL_INT16 >= 32640                     # lut[512] = 32768 clamps to 32767: slope 127
    np.testing.assert_array_equal(got[~last], ALL_INT16[~last])
    assert np.abs(got[last] - ALL_INT16[last]).max() == 1


def test_zero_output_scale_and_infinities():
    assert set(fp.build_lut16(np.tanh, 0.001, 0.0).tolist()) == {0}
    table = fp.build_lut16(lambda v: np.where(v > 0, np.inf, -np.inf), 0.001, 0.01)
    assert table[0] == -32768 and table[-1] == 32767


@pytest.mark.parametrize("call, match", [
    (lambda: fp.build_lut16(np.tanh, 0.001, 0.001, zp_out=5), "zp_out must be 0"),
    (lambda: fp.build_lut16(np.tanh, 0.001, 0.001, 0, -40000, 0), "qmin <= qmax"),
    (lambda: fp.build_lut16(lambda v: v * np.nan, 0.001, 0.001), "NaN"),
    (lambda: fp.build_lut16(lambda v: v[:3], 0.001, 0.001), "n inputs to n outputs"),
    (lambda: fp.build_lut16(np.tanh, -0.001, 0.001), "s_in"),
    (lambda: fp.lut16_lookup(0, np.zeros(512, np.int16)), "int16\\[513\\]"),
    (lambda: fp.lut16_lookup(0, np.zeros(513, np.int32)), "int16\\[513\\]"),
    (lambda: fp.lut16_lookup(32768, np.zeros(513, np.int16)), "x \\(int16\\)"),
])
def test_bad_arguments_raise_one_clear_error(call, match):
    with pytest.raises(fp.FixedPointError, match=match):
        call()
