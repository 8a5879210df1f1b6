"""The Helium depthwise convolution's vector requantization (dw_store in qcomp_dw_mve.h) against the
scalar requantize of qcomp_kernels.c, value for value, on Cortex-M55 under QEMU: seeded random
accumulators (int32 extremes included, where the saturating left shift of the general form clips),
Q31 multipliers, every shift from -30 to 31 (the fast form for shifts <= -2, the general one up to 29,
the scalar fallback above) and block sizes 1 to 8 (the VCTP-predicated tail: lanes past n stay
untouched). The op-case table and the MLPerf Tiny models check whole convolutions; random weights
rarely reach the shifts >= -1 that the general form serves, so this pins it directly."""
from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from qcomp.codegen.c import write_kernels
from qcomp.target import get_target, host_support

HARNESS = r"""
#include <stdio.h>
#include "qcomp_kernels_conv.c"

static uint32_t state = 0x2545f491u;   /* the seed */
static uint32_t next(void) {
  state ^= state << 13;
  state ^= state >> 17;
  state ^= state << 5;
  return state;
}

int main(void) {
  long checked = 0, bad = 0;
  int it, j;
  for (it = 0; it < 40000; ++it) {
    int32_t acc[8], m[8], s[8], e[4], o[4], c, n = 1 + (int32_t)(next() % 8), mode = 0;
    int8_t out[8];
    qcomp_conv_params p;
    memset(&p, 0, sizeof p);
    p.output_zero_point = (int32_t)(next() % 256) - 128;
    p.qmin = -128;
    p.qmax = 127;
    for (j = 0; j < 8; ++j) {
      acc[j] = (int32_t)next() >> (next() % 32);
      if (next() % 16 == 0) acc[j] = next() % 2 ? INT32_MAX : INT32_MIN;
      m[j] = (int32_t)((1u << 30) + (next() & 0x3fffffffu));
      s[j] = next() % 4 ? (int32_t)(next() % 8) - 4 : (int32_t)(next() % 62) - 30;
      if (it % 3 == 0) s[j] = -2 - (int32_t)(next() % 29);   /* blocks of the fast form only */
    }
    for (c = 0; c < 8; ++c) mode = s[c] > 29 ? 2 : s[c] > -2 && mode == 0 ? 1 : mode;
    for (j = 0; j < 4; ++j) {
      e[j] = acc[2 * j];
      o[j] = acc[2 * j + 1];
    }
    memset(out, 0x55, sizeof out);
    dw_store(vld1q_s32(e), vld1q_s32(o), m, s, out, n, mode, &p);
    for (j = 0; j < 8; ++j, ++checked) {
      const int32_t want = j < n ? requantize(acc[j], m[j], s[j], p.output_zero_point, p.qmin, p.qmax) : 0x55;
      if (out[j] != (int8_t)want) {
        if (bad < 5) printf("acc %ld multiplier %ld shift %ld: %d, requantize %ld\n", (long)acc[j], (long)m[j],
                            (long)s[j], out[j], (long)want);
        ++bad;
      }
    }
  }
  printf("checked %ld bad %ld\n", checked, bad);
  return 0;
}
"""


def test_helium_depthwise_requantize_is_requantize(tmp_path):
    target = get_target("cortex-m55")
    support = host_support(target)
    if not support.can_run:
        pytest.skip(f"target cortex-m55: {support.why}")
    root = Path(__file__).resolve().parents[3]
    write_kernels(tmp_path)
    (tmp_path / "harness.c").write_text(HARNESS)
    support_files = [root / "runtime" / f for f in target.toolchain["support_files"]]
    cmd = [target.toolchain["compiler"], *target.toolchain["cflags"], "-Wall", "-Wextra", "-Wno-unused-function",
           "-o", "harness.elf", "harness.c", "qcomp_kernels.c", *(str(f) for f in support_files if f.suffix == ".c"),
           *(f"-T{f}" for f in support_files if f.suffix == ".ld"), *target.toolchain["ldflags"]]
    subprocess.run(cmd, cwd=tmp_path, check=True, capture_output=True, timeout=120)
    proc = subprocess.run([*target.runner["command"], "-kernel", "harness.elf"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120, check=True)
    found = re.search(r"checked (\d+) bad (\d+)", proc.stdout)
    assert found is not None, proc.stdout
    assert int(found.group(1)) == 320000 and int(found.group(2)) == 0, proc.stdout
