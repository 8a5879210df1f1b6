"""Every row of vectors/requantize.csv (an independent exact-integer implementation; see vectors/README.md)."""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from qcomp import fixedpoint as fp


CSV = Path(__file__).resolve().parent / "vectors" / "requantize.csv"


@pytest.fixture(scope="module")
def rows() -> dict[str, np.ndarray]:
    with open(CSV, newline="") as f:
        table = list(csv.DictReader(f))
    cols = {k: np.array([int(r[k]) for r in table], dtype=np.int64)
            for k in ("acc", "multiplier", "shift", "zero_point", "qmin", "qmax", "out")}
    cols["real_multiplier"] = np.array([float(r["real_multiplier"]) for r in table])
    cols["kind"] = np.array([r["kind"] for r in table])
    return cols


def test_the_file_covers_ties_and_edges(rows):
    kinds = set(rows["kind"])
    assert {"edge", "random", "tie"} <= kinds and len(rows["acc"]) > 3000
    tie = rows["kind"] == "tie"
    total = 31 - rows["shift"][tie]
    prod = rows["acc"][tie] * rows["multiplier"][tie]
    # tie rows discard exactly one half: the low `total` bits are 100...0
    assert np.all(prod % (np.int64(1) << total) == np.int64(1) << (total - 1))


def test_quantize_multiplier_reproduces_every_row(rows):
    m, s = fp.quantize_multipliers(rows["real_multiplier"])
    np.testing.assert_array_equal(m, rows["multiplier"])
    np.testing.assert_array_equal(s, rows["shift"])
    for real, mult, shift in zip(rows["real_multiplier"], rows["multiplier"], rows["shift"]):
        assert fp.quantize_multiplier(float(real)) == (int(mult), int(shift)), real


def test_requantize_reproduces_every_row(rows):
    n = len(rows["acc"])
    got = [int(fp.requantize(*(int(rows[k][i]) for k in ("acc", "multiplier", "shift", "zero_point",
                                                          "qmin", "qmax")))) for i in range(n)]
    np.testing.assert_array_equal(got, rows["out"])


def test_requantize_vectorized_reproduces_every_row(rows):
    for qmin, qmax in {(int(a), int(b)) for a, b in zip(rows["qmin"], rows["qmax"])}:
        sel = (rows["qmin"] == qmin) & (rows["qmax"] == qmax)
        got = fp.requantize(rows["acc"][sel], rows["multiplier"][sel], rows["shift"][sel],
                            rows["zero_point"][sel], qmin, qmax)
        np.testing.assert_array_equal(got, rows["out"][sel])
