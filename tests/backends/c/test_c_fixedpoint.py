"""The scalar primitives of qcomp_kernels.c against qcomp/fixedpoint.py, value for value, on the
host: multiply_by_quantized_multiplier and requantize over the whole documented range (every
shift from -31 to 30, accumulators and multipliers at their extremes, rounding ties), and quantize /
dequantize (float I/O) on ties, huge values, infinities, subnormals and scale 0. The op-case table
checks the kernels built on them; this pins the transcription itself, edge by edge."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from qcomp import fixedpoint
from qcomp.codegen.c import write_kernels

HARNESS = r"""
#include <stdio.h>
#include "qcomp_kernels.h"

int main(void) {
  char kind;
  long long acc, mult, shift, zp, qmin, qmax;
  float x, scale;
  while (scanf(" %c", &kind) == 1) {
    if (kind == 'm') {
      if (scanf("%lld %lld %lld %lld %lld %lld", &acc, &mult, &shift, &zp, &qmin, &qmax) != 6) return 2;
      printf("%lld %ld\n", (long long)multiply_by_quantized_multiplier((int32_t)acc, (int32_t)mult, (int32_t)shift),
             (long)requantize((int32_t)acc, (int32_t)mult, (int32_t)shift, (int32_t)zp, (int32_t)qmin,
                              (int32_t)qmax));
    } else {
      if (scanf("%a %a %lld", &x, &scale, &zp) != 3) return 3;
      const int32_t q = quantize(x, scale, (int32_t)zp, -128, 127);
      printf("%ld %a\n", (long)q, (double)dequantize(q, scale, (int32_t)zp));
    }
  }
  return 0;
}
"""


@pytest.fixture(scope="module")
def harness(tmp_path_factory):
    if shutil.which("gcc") is None:
        pytest.skip("gcc is not installed")
    work = tmp_path_factory.mktemp("fixedpoint")
    write_kernels(work)
    (work / "harness.c").write_text(HARNESS)
    cmd = ["gcc", "-std=c99", "-O2", "-Wall", "-Wextra", "-Wpedantic", "-Werror", "-o", "harness", "harness.c",
           "qcomp_kernels.c", "-lm"]
    proc = subprocess.run(cmd, cwd=work, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return work / "harness"


def _run(harness: Path, lines: list[str]) -> list[str]:
    proc = subprocess.run([str(harness)], input="\n".join(lines) + "\n", capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.splitlines()


def test_multiply_by_quantized_multiplier_and_requantize(harness):
    rng = np.random.default_rng(0)
    i32 = np.iinfo(np.int32)
    rows = []
    for shift in range(fixedpoint.MIN_SHIFT, fixedpoint.MAX_SHIFT + 1):
        for acc in (i32.min, i32.min + 1, -1, 0, 1, i32.max, *rng.integers(i32.min, i32.max, 6, endpoint=True)):
            for mult in (0, 1, 1 << 30, i32.max, *rng.integers(1 << 30, i32.max, 3, endpoint=True)):
                rows.append((int(acc), int(mult), shift))
    # exact ties: acc * mult = (2k + 1) * 2^(total - 1), which round half up sends toward +inf
    for total in range(1, 63):
        m = min(total - 1, 30)
        for k in (-3, -2, -1, 0, 1, 2):
            acc = (2 * k + 1) * (1 << (total - 1 - m))
            if i32.min <= acc <= i32.max:
                rows.append((acc, 1 << m, 31 - total))
    zps = rng.integers(-128, 128, len(rows))
    bounds = [(-128, 127), (0, 127), (-128, -1), (i32.min, i32.max)]
    lines, want = [], []
    for (acc, mult, shift), zp, k in zip(rows, zps, range(len(rows))):
        qmin, qmax = bounds[k % len(bounds)]
        lines.append(f"m {acc} {mult} {shift} {zp} {qmin} {qmax}")
        want.append(f"{int(fixedpoint.multiply_by_quantized_multiplier(acc, mult, shift))} "
                    f"{int(fixedpoint.requantize(acc, mult, shift, int(zp), qmin, qmax))}")
    got = _run(harness, lines)
    assert len(rows) > 2000
    for line, g, w in zip(lines, got, want):
        assert g == w, f"{line}: C {g}, fixedpoint.py {w}"


def test_quantize_and_dequantize_float_io(harness):
    rng = np.random.default_rng(1)
    f32 = np.finfo(np.float32)
    scales = [np.float32(s) for s in (0.1, 1 / 255, 0.0078125, 3.0, 1e-30, f32.tiny)]
    cases = []
    for scale in scales:
        xs = [np.float32(v) * scale for v in (-129.5, -128.5, -0.5, 0.5, 1.5, 2.5, 126.5, 127.5, 1e3)]
        xs += [np.float32(v) for v in (0.0, -0.0, np.inf, -np.inf, f32.max, -f32.max, f32.tiny / 8)]
        xs += list(rng.normal(0, 50, 8).astype(np.float32) * scale)
        cases += [(np.float32(x), scale, int(zp)) for x in xs for zp in (-128, -3, 0, 127)]
    cases += [(np.float32(v), np.float32(0.0), zp) for v in (-1.0, 0.0, 5.0) for zp in (-128, 7)]
    lines = [f"q {float(x).hex()} {float(s).hex()} {zp}" for x, s, zp in cases]
    got = _run(harness, lines)
    for line, (x, s, zp), g in zip(lines, cases, got):
        q = int(fixedpoint.quantize(x, s, zp))
        deq = np.float32(fixedpoint.dequantize(q, s, zp))
        gq, gd = g.split()
        assert int(gq) == q and np.float32(float.fromhex(gd)) == deq, f"{line}: C {g}, fixedpoint.py {q} {deq}"
