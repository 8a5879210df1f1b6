"""The integer Softmax of qcomp_kernels_rows.c against the golden vectors of qcomp/fixedpoint/softmax.py
(tests/fixedpoint/vectors/softmax_primitives.csv and softmax.csv, made by an independent bigint
formulation): every gemmlowp primitive value for value, and every row of the whole kernel, on the host."""
from __future__ import annotations

import csv
import shutil
import subprocess
from pathlib import Path

import pytest

from qcomp.codegen.c import write_kernels

VECTORS = Path(__file__).resolve().parents[2] / "fixedpoint" / "vectors"

HARNESS = r"""
#include <stdio.h>
#include <string.h>
#include "qcomp_kernels.h"

static int8_t x[4096], y[4096];

int main(void) {
  char fn[64];
  long long a, b, m, shift, diff_min, n, i, v;
  while (scanf("%63s", fn) == 1) {
    if (strcmp(fn, "softmax") == 0) {
      if (scanf("%lld %lld %lld %lld", &m, &shift, &diff_min, &n) != 4 || n > 4096) return 2;
      for (i = 0; i < n; ++i) {
        if (scanf("%lld", &v) != 1) return 3;
        x[i] = (int8_t)v;
      }
      /* one row of n elements, as 1 x n (inner 1) */
      qcomp_softmax_int8(x, y, 1, (int32_t)n, 1, (int32_t)m, (int32_t)shift, (int32_t)diff_min);
      for (i = 0; i < n; ++i) printf(i ? " %d" : "%d", (int)y[i]);
      printf("\n");
      continue;
    }
    if (scanf("%lld %lld", &a, &b) != 2) return 4;
    if (strcmp(fn, "exp_on_negative_values") == 0) {
      printf("%ld\n", (long)exp_on_negative_values((int32_t)a));
    } else if (strcmp(fn, "one_over_one_plus_x_for_x_in_0_1") == 0) {
      printf("%ld\n", (long)one_over_one_plus_x_for_x_in_0_1((int32_t)a));
    } else if (strcmp(fn, "get_reciprocal") == 0) {
      int32_t bits;
      const int32_t recip = get_reciprocal((int32_t)a, (int32_t)b, &bits);
      printf("%ld %ld\n", (long)recip, (long)bits);
    } else if (strcmp(fn, "saturating_rounding_doubling_high_mul") == 0) {
      printf("%ld\n", (long)saturating_rounding_doubling_high_mul((int32_t)a, (int32_t)b));
    } else if (strcmp(fn, "rounding_divide_by_pot") == 0) {
      printf("%lld\n", (long long)rounding_divide_by_pot((int64_t)a, (int32_t)b));
    } else {
      return 5;
    }
  }
  return 0;
}
"""


def _rows(name: str) -> list[dict[str, str]]:
    with open(VECTORS / name, newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture(scope="module")
def harness(tmp_path_factory):
    if shutil.which("gcc") is None:
        pytest.skip("gcc is not installed")
    work = tmp_path_factory.mktemp("softmax_fixedpoint")
    write_kernels(work)
    (work / "harness.c").write_text(HARNESS)
    cmd = ["gcc", "-std=c99", "-O2", "-Wall", "-Wextra", "-Wpedantic", "-Werror", "-fsanitize=undefined",
           "-fno-sanitize-recover=all", "-o", "harness", "harness.c", "qcomp_kernels.c", "qcomp_kernels_elem.c", "qcomp_kernels_rows.c", "-lm"]
    proc = subprocess.run(cmd, cwd=work, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return work / "harness"


def _run(harness: Path, lines: list[str]) -> list[str]:
    proc = subprocess.run([str(harness)], input="\n".join(lines) + "\n", capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.splitlines()


def test_every_primitive_row(harness):
    rows = _rows("softmax_primitives.csv")
    lines = [f"{r['function']} {r['a']} {r['b'] or 0}" for r in rows]
    want = [f"{r['out']} {r['out2']}".strip() for r in rows]
    got = _run(harness, lines)
    assert len(rows) > 1500 and len(got) == len(rows)
    bad = [(line, g, w) for line, g, w in zip(lines, got, want) if g != w]
    assert not bad, f"{len(bad)} rows differ; first: {bad[:3]} (input, C, vector)"


def test_every_softmax_row(harness):
    rows = _rows("softmax.csv")
    lines = [f"softmax {r['input_multiplier']} {r['input_left_shift']} {r['diff_min']} {len(r['x'].split())} {r['x']}"
             for r in rows]
    got = _run(harness, lines)
    assert len(rows) > 300 and len(got) == len(rows)
    for r, g in zip(rows, got):
        assert g == r["out"], f"{r['kind']} row, multiplier {r['input_multiplier']}: C {g[:80]}, vector {r['out'][:80]}"
