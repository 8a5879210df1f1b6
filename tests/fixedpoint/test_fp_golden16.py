"""qcomp.fixedpoint reproduces every int16, int16-LUT and Softmax golden vector (vectors/README.md),
and the committed vectors are exactly what gen_vectors16.py (bigint_ref, independent of qcomp) makes."""
from __future__ import annotations

import ast
import csv
from pathlib import Path

import numpy as np
import pytest

from qcomp import fixedpoint as fp

from . import gen_vectors16

HERE = Path(__file__).resolve().parent
NP_FUNCTIONS = {"tanh": np.tanh, "logistic": lambda x: 1.0 / (1.0 + np.exp(-x)), "identity": lambda x: x}


def _rows(name: str) -> list[dict[str, str]]:
    with open(HERE / "vectors" / name, newline="") as f:
        return list(csv.DictReader(f))


def _col(rows, key) -> np.ndarray:
    return np.array([int(r[key]) for r in rows], dtype=np.int64)


def test_committed_vectors_are_the_generator_output():
    generated = gen_vectors16.generate()
    for name, text in generated.items():
        assert (HERE / "vectors" / name).read_text() == text, \
            f"vectors/{name} differs from gen_vectors16.py's output; regenerate (vectors/README.md)"


def test_bigint_reference_is_independent_of_qcomp():
    for module in ("bigint_ref.py", "gen_vectors16.py"):
        tree = ast.parse((HERE / module).read_text())
        names = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
        names += [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
        assert not [m for m in names if m.startswith("qcomp") or m == "numpy"], (module, names)


def test_requantize16_rows():
    rows = _rows("requantize16.csv")
    assert {"edge", "random", "tie"} == {r["kind"] for r in rows} and len(rows) > 3000
    m, s = fp.quantize_multipliers(np.array([float(r["real_multiplier"]) for r in rows]))
    np.testing.assert_array_equal(m, _col(rows, "multiplier"))
    np.testing.assert_array_equal(s, _col(rows, "shift"))
    for bits, mbqm in ((32, fp.multiply_by_quantized_multiplier), (64, fp.multiply_by_quantized_multiplier_64)):
        sel = [r for r in rows if int(r["acc_bits"]) == bits]
        assert len({r["kind"] for r in sel}) == 3
        got = mbqm(_col(sel, "acc"), _col(sel, "multiplier"), _col(sel, "shift"))
        np.testing.assert_array_equal(got, _col(sel, "scaled"))
        for qmin, qmax in {(int(r["qmin"]), int(r["qmax"])) for r in sel}:
            part = [r for r in sel if (int(r["qmin"]), int(r["qmax"])) == (qmin, qmax)]
            got = fp.requantize_acc(_col(part, "acc"), _col(part, "multiplier"), _col(part, "shift"), bits,
                                    _col(part, "zero_point"), qmin, qmax)
            np.testing.assert_array_equal(got, _col(part, "out"))


def test_elementwise16_rows():
    for r in _rows("elementwise16.csv"):
        s_a, s_b, s_out = float(r["s_a"]), float(r["s_b"]), float(r["s_out"])
        qmin, qmax, a, b = int(r["qmin"]), int(r["qmax"]), int(r["a"]), int(r["b"])
        want = [int(v) for v in r["params"].split()]
        if r["op"] == "mul":
            p = fp.mul_params16(s_a, s_b, s_out, qmin, qmax)
            assert [p.multiplier, p.shift] == want, r
            got = fp.mul_int16(a, b, p)
        else:
            p = fp.add_params16(s_a, s_b, s_out, qmin, qmax)
            assert [p.left_shift, p.a_multiplier, p.a_shift, p.b_multiplier, p.b_shift, p.out_multiplier,
                    p.out_shift] == want, r
            got = (fp.add_int16 if r["op"] == "add" else fp.sub_int16)(a, b, p)
        assert int(got) == int(r["out"]), r


def test_convert16_rows():
    rows = _rows("convert16.csv")
    assert {r["direction"] for r in rows} == {"int8->int16", "int16->int8", "int16->int16"}
    for r in rows:
        in_dt, out_dt = (np.dtype(t) for t in r["direction"].split("->"))
        p = fp.convert_params(float(r["s_in"]), int(r["zp_in"]), in_dt, float(r["s_out"]), int(r["zp_out"]),
                              out_dt, int(r["qmin"]), int(r["qmax"]))
        assert (p.multiplier, p.shift) == (int(r["multiplier"]), int(r["shift"])), r
        got = fp.convert(int(r["x"]), p)
        assert int(got) == int(r["out"]) and np.asarray(got).dtype == out_dt, r


def test_lut16_tables_are_built_by_the_spec():
    for r in _rows("lut16_tables.csv"):
        if r["function"] == "random":
            continue
        table = fp.build_lut16(NP_FUNCTIONS[r["function"]], float(r["s_in"]), float(r["s_out"]), int(r["zp_out"]),
                               int(r["qmin"]), int(r["qmax"]))
        np.testing.assert_array_equal(table, [int(v) for v in r["entries"].split()], err_msg=r["name"])


def test_lut16_lookup_rows():
    tables = {r["name"]: np.array([int(v) for v in r["entries"].split()], dtype=np.int16)
              for r in _rows("lut16_tables.csv")}
    rows = _rows("lut16.csv")
    for name, table in tables.items():
        sel = [r for r in rows if r["table"] == name]
        np.testing.assert_array_equal(fp.lut16_lookup(_col(sel, "x"), table), _col(sel, "out"), err_msg=name)


def test_softmax_rows():
    rows = _rows("softmax.csv")
    assert {"edge", "diff_min", "random"} == {r["kind"] for r in rows}
    for r in rows:
        p = fp.softmax_params(float(r["beta"]), float(r["s_in"]))
        assert (p.input_multiplier, p.input_left_shift, p.diff_min) == \
            (int(r["input_multiplier"]), int(r["input_left_shift"]), int(r["diff_min"])), r["kind"]
        x = np.array([int(v) for v in r["x"].split()])
        np.testing.assert_array_equal(fp.softmax_int8(x, p), [int(v) for v in r["out"].split()])


@pytest.mark.parametrize("function", ["exp_on_negative_values", "one_over_one_plus_x_for_x_in_0_1",
                                      "get_reciprocal", "saturating_rounding_doubling_high_mul",
                                      "rounding_divide_by_pot"])
def test_softmax_primitive_rows(function):
    rows = [r for r in _rows("softmax_primitives.csv") if r["function"] == function]
    assert len(rows) > 150
    a, b, out = _col(rows, "a"), _col(rows, "b"), _col(rows, "out")
    if function == "get_reciprocal":
        recip, bits = fp.get_reciprocal(a, 12)
        np.testing.assert_array_equal(recip, out)
        np.testing.assert_array_equal(bits, _col(rows, "out2"))
    elif function in ("saturating_rounding_doubling_high_mul", "rounding_divide_by_pot"):
        np.testing.assert_array_equal(getattr(fp, function)(a, b), out)
    else:
        np.testing.assert_array_equal(getattr(fp, function)(a), out)
