"""Cost figures of the bundled example on Cortex-M4 (QEMU -icount instruction counts, flash, RAM),
printed (run with -s), and the DSP path (SXTB16 + SMLAD under __ARM_FEATURE_DSP) against the
portable path (-DQCOMP_PORTABLE): same int8 outputs, fewer instructions. Instruction counts under
-icount are deterministic, so the comparison is not a timing assertion."""
from __future__ import annotations

import dataclasses
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest

from qcomp.builder import BuildOptions, quantize_model
from qcomp.api import load_model
from qcomp.codegen.c import emit
from qcomp.ir import verify
from qcomp.passes.lower_integer import lower_integer
from qcomp.ref import run_integer
from qcomp.runtime.c import load
from qcomp.target import get_target, host_support

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "fashion_mnist"


@pytest.fixture(scope="module")
def example_graph():
    g = load_model(EXAMPLE / "model.onnx", {})
    q, _ = quantize_model(g, BuildOptions(calib=str(EXAMPLE / "calib.npz")))
    return verify(lower_integer(q))


def test_dsp_path_uses_sxtb16_smlad_and_costs_fewer_instructions(example_graph, tmp_path, capsys):
    target = get_target("cortex-m4")
    support = host_support(target)
    if not support.can_run:
        pytest.skip(f"target cortex-m4: {support.why}")
    portable = dataclasses.replace(target, toolchain={**target.toolchain,
                                                      "cflags": [*target.toolchain["cflags"], "-DQCOMP_PORTABLE"]})
    x = {"input": np.load(EXAMPLE / "samples.npz")["input"][:1].astype(np.float32)}
    want = run_integer(example_graph, x, raw=True)["logits"]
    figures = {}
    for name, t in (("dsp", target), ("portable", portable)):
        out = tmp_path / name
        manifest = emit(example_graph, t, out)
        runner = load(out, manifest, t)
        np.testing.assert_array_equal(runner.run(x, raw=True)["logits"], want)
        disasm = subprocess.run(["arm-none-eabi-objdump", "-d", str(out / "model.elf")], capture_output=True,
                                text=True, check=True).stdout
        figures[name] = (runner.last_instructions, manifest["flash_bytes"], manifest["ram_bytes"],
                         re.search(r"\tsxtb16\s", disasm) is not None)
    with capsys.disabled():
        macs = 28 * 28 * 16 * 9 + 14 * 14 * 32 * 16 * 9 + 1568 * 64 + 64 * 10
        for name, (insns, flash, ram, smlad) in figures.items():
            print(f"\nfashion_mnist on cortex-m4 ({name}): {insns:,} instructions ({insns / macs:.2f} per MAC), "
                  f"flash {flash:,} B, RAM {ram:,} B, SXTB16+SMLAD path: {smlad}")
    assert figures["dsp"][3] and not figures["portable"][3]   # SXTB16 only comes from the DSP intrinsics
    assert figures["dsp"][0] < figures["portable"][0]


LOOP = r"""
#include <stdio.h>
#include <stdint.h>
#define SYST_CSR (*(volatile uint32_t *)0xE000E010u)
#define SYST_RVR (*(volatile uint32_t *)0xE000E014u)
#define SYST_CVR (*(volatile uint32_t *)0xE000E018u)
extern volatile uint32_t qcomp_systick_wraps;
int main(void) {
  uint32_t start, end, n = ITERATIONS;
  SYST_RVR = 0xFFFFFFu;
  SYST_CVR = 0;
  qcomp_systick_wraps = 0;
  SYST_CSR = 7u;
  start = SYST_CVR;
  if (start == 0) start = 0x1000000u;
  __asm__ volatile("1: subs %0, %0, #1\n bne 1b" : "+r"(n) : : "cc");   /* 2 instructions per pass */
  end = SYST_CVR;
  SYST_CSR = 0;
  printf("qcomp_cost_ticks %lu\n", (unsigned long)qcomp_systick_wraps * 0x1000000ul + start - end);
  return 0;
}
"""


@pytest.mark.parametrize("name", ["cortex-m4", "cortex-m7", "cortex-m55"])
@pytest.mark.parametrize("iterations", [1_000_000, 2_500_000])
def test_systick_count_is_the_instruction_count(tmp_path, iterations, name):
    """The runner's cost method on a loop of 2 * iterations instructions, with the startup file, linker
    script, flags and QEMU command of targets/<name>.toml: exact to one tick (40 instructions on the
    25 MHz mps2 boards, 31.25 on the 32 MHz mps3-an547)."""
    target = get_target(name)
    support = host_support(target)
    if not support.can_run:
        pytest.skip(f"target {name}: {support.why}")
    root = Path(__file__).resolve().parents[3]
    (tmp_path / "loop.c").write_text(LOOP.replace("ITERATIONS", f"{iterations}u"))
    support_files = [root / "runtime" / f for f in target.toolchain["support_files"]]
    cmd = [target.toolchain["compiler"], *target.toolchain["cflags"], "-o", "loop.elf", "loop.c",
           *(str(f) for f in support_files if f.suffix == ".c"),
           *(f"-T{f}" for f in support_files if f.suffix == ".ld"), *target.toolchain["ldflags"]]
    subprocess.run(cmd, cwd=tmp_path, check=True, capture_output=True, timeout=120)
    proc = subprocess.run([*target.runner["command"], "-kernel", "loop.elf"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120, check=True)
    ticks = int(re.search(r"qcomp_cost_ticks (\d+)", proc.stdout).group(1))
    per_tick = target.runner["instructions_per_tick"]
    assert abs(ticks * per_tick - 2 * iterations) <= per_tick, (ticks, per_tick)


def test_cortex_m55_runs_helium_kernels_and_m7_the_dsp_ones(example_graph, tmp_path):
    """cortex-m55's default build has VMLAVA (VMLADAVA of 8-bit lanes) / VCTP (Helium) in its code and runs fewer instructions than
    the same target with -DQCOMP_NO_MVE (the Cortex-M4 kernels: SMLAD, no MVE); cortex-m7 builds the
    SMLAD kernels. All three give run_integer's int8 logits."""
    x = {"input": np.load(EXAMPLE / "samples.npz")["input"][:1].astype(np.float32)}
    want = run_integer(example_graph, x, raw=True)["logits"]
    builds = {}
    for label, name, extra in (("m55", "cortex-m55", ()), ("m55 no-MVE", "cortex-m55", ("-DQCOMP_NO_MVE",)),
                               ("m7", "cortex-m7", ())):
        target = get_target(name)
        support = host_support(target)
        if not support.can_run:
            pytest.skip(f"target {name}: {support.why}")
        target = dataclasses.replace(target, toolchain={**target.toolchain,
                                                        "cflags": [*target.toolchain["cflags"], *extra]})
        out = tmp_path / label.replace(" ", "_")
        runner = load(out, emit(example_graph, target, out), target)
        np.testing.assert_array_equal(runner.run(x, raw=True)["logits"], want, err_msg=label)
        # objdump decodes MVE only when told the architecture (M-profile code decodes the same under it)
        disasm = subprocess.run(["arm-none-eabi-objdump", "-d", "-m", "armv8.1-m.main", str(out / "model.elf")],
                                capture_output=True, text=True, check=True).stdout
        builds[label] = (runner.last_instructions, set(re.findall(r"\t(vmlava|vctp|smlad)[.\w]*\s", disasm)))
    assert {"vmlava", "vctp"} <= builds["m55"][1], builds["m55"][1]
    assert "smlad" in builds["m55 no-MVE"][1] and "vmlava" not in builds["m55 no-MVE"][1]
    assert "smlad" in builds["m7"][1] and "vmlava" not in builds["m7"][1]
    assert builds["m55"][0] < builds["m55 no-MVE"][0]
