"""Generate the int16, int16-LUT and Softmax golden vectors from bigint_ref (never from qcomp).

    PYTHONPATH=. python tests/fixedpoint/gen_vectors16.py   # rewrites vectors/*16*.csv and vectors/softmax*.csv

Deterministic (random.Random seeded per file); tests/fixedpoint/test_fp_golden16.py checks that
generate() reproduces the committed files byte for byte, and that qcomp.fixedpoint reproduces
every row. See vectors/README.md for the columns.
"""
from __future__ import annotations

import math
import random
import struct
import sys
from pathlib import Path

if __package__ in (None, ""):                       # run as a script
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import bigint_ref as ref
else:
    from . import bigint_ref as ref

VECTORS = Path(__file__).resolve().parent / "vectors"
I16, I8, RELU16 = (ref.INT16_MIN, ref.INT16_MAX), (-128, 127), (0, ref.INT16_MAX)
FUNCTIONS = {"tanh": math.tanh, "logistic": lambda x: 1.0 / (1.0 + math.exp(-x)), "identity": lambda x: x}


def f32(x: float) -> float:
    """x rounded to float32 (what the IR stores as a scale), returned as a Python float."""
    return struct.unpack("f", struct.pack("f", x))[0]


def _scale(rng: random.Random, lo: int, hi: int) -> float:
    return f32(rng.uniform(1.0, 2.0) * 2.0 ** rng.randint(lo, hi - 1))


def _csv(header: list[str], rows: list[list]) -> str:
    return "\n".join([",".join(header)] + [",".join(str(v) for v in r) for r in rows]) + "\n"


# ---- requantize16.csv -----------------------------------------------------------------------------

def _requantize_row(kind, bits, acc, m, e, zp, qmin, qmax) -> list:
    real = m * 2.0 ** (e - 31)                       # exact: quantize_multiplier(real) == (m, e)
    assert ref.quantize_multiplier(real) == (m, e)
    scaled = ref.mbqm32(acc, m, e) if bits == 32 else ref.mbqm64(acc, m, e)
    out = ref.requantize(acc, m, e, bits, zp, qmin, qmax)
    return [kind, bits, acc, repr(real), m, e, scaled, zp, qmin, qmax, out]


def _bounds(rng: random.Random) -> tuple[int, int, int]:
    choice = rng.randrange(3)
    if choice == 0:
        return 0, *I16
    if choice == 1:
        return 0, *RELU16
    return rng.randint(-128, 127), *I8               # requantized to int8, asymmetric


def requantize16(rng: random.Random) -> str:
    rows = []
    lim64 = 2**47 - 1
    for bits, accs, shifts in ((32, [0, 1, -1, ref.INT32_MAX, ref.INT32_MIN, 2**30, -(2**30)], range(-31, 31)),
                               (64, [0, 1, -1, lim64, -lim64, 2**31, -(2**31) - 1, 2**46, -(2**46)],
                                range(-31, 15))):
        for m in (2**30, 2**31 - 1, 0x7FFF0000 - 1, 0x7FFF0000, 0x7FFF8000, 2**30 + 2**15 - 1, 2**30 + 2**15):
            for e in (shifts[0], -15, 0, shifts[-1]):
                for acc in accs:
                    zp, qmin, qmax = _bounds(rng)
                    rows.append(_requantize_row("edge", bits, acc, m, e, zp, qmin, qmax))
    for _ in range(1200):                            # random, int32 accumulators
        real = rng.uniform(1.0, 2.0) * 2.0 ** rng.randint(-30, 6)
        m, e = ref.quantize_multiplier(real)
        acc = rng.randint(ref.INT32_MIN, ref.INT32_MAX) >> rng.randint(0, 30)
        rows.append(_requantize_row("random", 32, acc, m, e, *_bounds(rng)))
    for _ in range(1200):                            # random, int64 accumulators (also near the bound)
        real = rng.uniform(1.0, 2.0) * 2.0 ** rng.randint(-32, 13)
        m, e = ref.quantize_multiplier(real)
        acc = rng.randint(-lim64, lim64) >> rng.choice([0, 0, 8, 16, 24])
        rows.append(_requantize_row("random", 64, acc, m, e, *_bounds(rng)))
    for _ in range(600):                             # exact ties: the discarded bits are 100...0
        bits = rng.choice([32, 64])
        e = rng.randint(1, 30) if bits == 32 else rng.randint(-31, 14)
        m = rng.randrange(2**30 + 1, 2**31, 2)      # odd: invertible modulo 2^total
        factor, total = (m, 31 - e) if bits == 32 else (ref.reduced_multiplier(m), 15 - e)
        if factor % 2 == 0:
            continue
        limit = 2**31 if bits == 32 else 2**47
        base = (2 ** (total - 1) * pow(factor, -1, 2**total)) % 2**total
        acc = base + 2**total * rng.randint(-(limit >> total), (limit >> total) - 1)
        rows.append(_requantize_row("tie", bits, acc, m, e, *_bounds(rng)))
    return _csv(["kind", "acc_bits", "acc", "real_multiplier", "multiplier", "shift", "scaled", "zero_point",
                 "qmin", "qmax", "out"], rows)


# ---- elementwise16.csv and convert16.csv -----------------------------------------------------------

def elementwise16(rng: random.Random) -> str:
    rows = []
    edges = [ref.INT16_MIN, ref.INT16_MAX, -1, 0, 1]
    for _ in range(700):
        op = rng.choice(["add", "sub", "mul"])
        s_a, s_b = _scale(rng, -16, -4), _scale(rng, -16, -4)
        if op == "mul":
            s_out = f32(s_a * s_b * 2.0 ** rng.randint(12, 16) * rng.uniform(1, 2))
        else:
            s_out = _scale(rng, -16, -2)
        a = rng.choice(edges) if rng.random() < 0.2 else rng.randint(ref.INT16_MIN, ref.INT16_MAX)
        b = rng.choice(edges) if rng.random() < 0.2 else rng.randint(ref.INT16_MIN, ref.INT16_MAX)
        qmin, qmax = I16 if rng.random() < 0.7 else RELU16
        if op == "mul":
            params = ref.mul16_params(s_a, s_b, s_out)
            out = ref.mul16(a, b, params, qmin, qmax)
        else:
            params = ref.add16_params(s_a, s_b, s_out)
            out = ref.add16(a, b, params, qmin, qmax, 1 if op == "add" else -1)
        rows.append([op, a, b, repr(s_a), repr(s_b), repr(s_out), " ".join(map(str, params)), qmin, qmax, out])
    return _csv(["op", "a", "b", "s_a", "s_b", "s_out", "params", "qmin", "qmax", "out"], rows)


def convert16(rng: random.Random) -> str:
    rows = []
    for _ in range(600):
        direction = rng.choice(["int8->int16", "int16->int8", "int16->int16"])
        if direction == "int8->int16":
            zp_in, zp_out, (lo, hi), (qmin, qmax) = rng.randint(-128, 127), 0, I8, I16
            s_in = _scale(rng, -10, 0)
            s_out = f32(s_in * 2.0 ** -rng.randint(0, 8) * (1.0 if rng.random() < 0.3 else rng.uniform(0.5, 1)))
        elif direction == "int16->int8":
            zp_in, zp_out, (lo, hi), (qmin, qmax) = 0, rng.randint(-128, 127), I16, I8
            s_in = _scale(rng, -16, -6)
            s_out = f32(s_in * 2.0 ** rng.randint(6, 9) * (1.0 if rng.random() < 0.3 else rng.uniform(0.5, 2)))
        else:
            zp_in, zp_out, (lo, hi), (qmin, qmax) = 0, 0, I16, I16
            s_in, s_out = _scale(rng, -16, -6), _scale(rng, -16, -6)
        x = rng.choice([lo, hi, 0, zp_in]) if rng.random() < 0.2 else rng.randint(lo, hi)
        m, e, out = ref.convert(x, s_in, zp_in, s_out, zp_out, qmin, qmax)
        rows.append([direction, x, repr(s_in), zp_in, repr(s_out), zp_out, qmin, qmax, m, e, out])
    return _csv(["direction", "x", "s_in", "zp_in", "s_out", "zp_out", "qmin", "qmax", "multiplier", "shift",
                 "out"], rows)


# ---- lut16_tables.csv and lut16.csv ----------------------------------------------------------------

LUT_TABLES = (  # name, function, s_in, s_out, zp_out, qmin, qmax
    ("tanh16", "tanh", f32(4.0 / 32767), f32(1.0 / 32767), 0, *I16),
    ("logistic16", "logistic", f32(8.0 / 32767), f32(1.0 / 32767), 0, *I16),
    ("logistic8", "logistic", f32(6.0 / 32767), 1.0 / 256, -128, *I8),
    ("identity16", "identity", f32(1.0 / 1024), f32(1.0 / 1024), 0, *I16),
)


def lut16_tables(rng: random.Random) -> tuple[str, dict[str, list[int]]]:
    tables = {name: ref.build_lut16(FUNCTIONS[fn], s_in, s_out, zp, qmin, qmax)
              for name, fn, s_in, s_out, zp, qmin, qmax in LUT_TABLES}
    wild = [rng.choice([ref.INT16_MIN, ref.INT16_MAX]) if rng.random() < 0.5
            else rng.randint(ref.INT16_MIN, ref.INT16_MAX) for _ in range(513)]                   # neighbours up to 65535 apart: slope needs int32
    rows = [[name, fn, repr(s_in), repr(s_out), zp, qmin, qmax, " ".join(map(str, tables[name]))]
            for name, fn, s_in, s_out, zp, qmin, qmax in LUT_TABLES]
    rows.append(["wild", "random", "", "", "", "", "", " ".join(map(str, wild))])
    tables["wild"] = wild
    return _csv(["name", "function", "s_in", "s_out", "zp_out", "qmin", "qmax", "entries"], rows), tables


def lut16(rng: random.Random, tables: dict[str, list[int]]) -> str:
    xs = sorted({ref.INT16_MIN, ref.INT16_MAX, -1, 0, 1, -64, 64, -65, 63, ref.INT16_MAX - 64, ref.INT16_MIN + 64}
                | {128 * rng.randint(-256, 255) + d for d in (0, 1, 63, 64, 65, 127) for _ in range(8)})
    rows = []
    for name, table in tables.items():
        for x in xs + [rng.randint(ref.INT16_MIN, ref.INT16_MAX) for _ in range(250)]:
            rows.append([name, x, ref.lut16_lookup(x, table)])
    return _csv(["table", "x", "out"], rows)


# ---- softmax.csv and softmax_primitives.csv --------------------------------------------------------

def _softmax_row(kind: str, beta: float, s_in: float, x: list[int]) -> list:
    m, shift, diff_min = ref.softmax_params(beta, s_in)
    out = ref.softmax_row(x, m, shift, diff_min)
    return [kind, repr(beta), repr(s_in), m, shift, diff_min, " ".join(map(str, x)), " ".join(map(str, out))]


def softmax(rng: random.Random) -> str:
    rows = [_softmax_row("edge", 1.0, f32(0.1), [0, 0, 0, 0]),
            _softmax_row("edge", 1.0, f32(0.1), [5]),
            _softmax_row("edge", 1.0, f32(0.1), [127, -128]),
            _softmax_row("edge", 1.0, f32(1 / 16), [-128] * 4095),                      # the largest row
            _softmax_row("edge", 1.0, f32(1 / 16), [127] + [-128] * 4094),
            _softmax_row("edge", 1e6, f32(0.5), [3, 2, 3, -128]),                      # multiplier saturated
            _softmax_row("edge", 1.0, f32(1.5 * 2.0**-26), [127, -128, 0, 100]),      # real just above 1
            _softmax_row("edge", 1.0, f32(2.0**-26 * 1.0000002), [127, -128, 0]),
            _softmax_row("edge", 1.0, f32(255 / 32 * 2), [10, 9, 10])]
    for s_in in (f32(0.05), f32(0.25), f32(1.0), f32(3.0)):                       # rows at diff_min and below
        m, shift, diff_min = ref.softmax_params(1.0, s_in)
        top = 127
        row = [top, top + diff_min, top + diff_min - 1, top - 1] if top + diff_min - 1 >= -128 else [top, -128]
        rows.append(_softmax_row("diff_min", 1.0, s_in, row))
    for _ in range(300):
        beta = rng.choice([1.0, 1.0, 0.5, 2.0, f32(rng.uniform(0.1, 4.0))])
        s_in = _scale(rng, -9, 2)
        n = rng.choice([1, 2, 3, 10, 17, 64, 100, 257])
        center, spread = rng.randint(-128, 127), rng.choice([2, 16, 60, 255])
        x = [max(-128, min(127, center + rng.randint(-spread, spread))) for _ in range(n)]
        rows.append(_softmax_row("random", beta, s_in, x))
    return _csv(["kind", "beta", "s_in", "input_multiplier", "input_left_shift", "diff_min", "x", "out"], rows)


def softmax_primitives(rng: random.Random) -> str:
    rows = []
    for a in sorted({0, -1, ref.INT32_MIN, -(2**24), -(2**24) - 1, -(2**26), -(2**29), -(2**30) + 1}
                    | {-rng.randint(1, 2**31) for _ in range(400)} | {-rng.randint(1, 2**26) for _ in range(200)}):
        rows.append(["exp_on_negative_values", a, 0, ref.exp_on_negative_values(a), ""])
    for a in sorted({0, 1, 2**30, ref.INT32_MAX} | {rng.randint(0, ref.INT32_MAX) for _ in range(300)}):
        rows.append(["one_over_one_plus_x_for_x_in_0_1", a, 0, ref.one_over_one_plus_x(a), ""])
    sums = {1, 2**19, 2**19 + 1, 2**30, ref.INT32_MAX} | {rng.randint(2**19, ref.INT32_MAX) for _ in range(200)}
    for x in sorted(sums):
        recip, bits = ref.get_reciprocal(x, 12)
        rows.append(["get_reciprocal", x, 12, recip, bits])
    pairs = [(ref.INT32_MIN, ref.INT32_MIN), (ref.INT32_MIN, ref.INT32_MAX), (ref.INT32_MAX, ref.INT32_MAX),
             (-(2**30), 1), (2**30, 1), (-3 * 2**29, 1), (3 * 2**29, 1), (-1, 2**30), (1, -(2**30))]
    pairs += [(rng.randint(ref.INT32_MIN, ref.INT32_MAX), rng.randint(ref.INT32_MIN, ref.INT32_MAX))
              for _ in range(200)]
    for a, b in pairs:
        rows.append(["saturating_rounding_doubling_high_mul", a, b, ref.srdhm(a, b), ""])
    for e in range(0, 63):
        for x in (2 ** max(e - 1, 0), -(2 ** max(e - 1, 0)), 3 * 2 ** max(e - 1, 0), -3 * 2 ** max(e - 1, 0),
                  rng.randint(-(2**62), 2**62), rng.randint(ref.INT32_MIN, ref.INT32_MAX)):
            rows.append(["rounding_divide_by_pot", x, e, ref.rdbp(x, e), ""])
    return _csv(["function", "a", "b", "out", "out2"], rows)


def generate() -> dict[str, str]:
    """file name -> contents, each from its own seeded generator."""
    tables_csv, tables = lut16_tables(random.Random(4))
    return {"requantize16.csv": requantize16(random.Random(1)),
            "elementwise16.csv": elementwise16(random.Random(2)),
            "convert16.csv": convert16(random.Random(3)),
            "lut16_tables.csv": tables_csv,
            "lut16.csv": lut16(random.Random(5), tables),
            "softmax.csv": softmax(random.Random(6)),
            "softmax_primitives.csv": softmax_primitives(random.Random(7))}


if __name__ == "__main__":
    for name, text in generate().items():
        (VECTORS / name).write_text(text)
        print(f"wrote {VECTORS / name} ({text.count(chr(10)) - 1} rows)")
