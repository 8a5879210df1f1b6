"""Test helpers of the x86 targets without AVX-512 (x86-avx2, x86-avxvnni).

avxvnni_proxy(): this machine's CPU (AMD EPYC, Zen 4) has AVX-512 VNNI but not AVX-VNNI, and QEMU's
TCG does not implement AVX-VNNI, so x86-avxvnni's model.so cannot run here (it refuses: the CPU
check). The proxy is x86-avxvnni with its features swapped for the 256-bit AVX-512VL + VNNI set:
the backend emits the SAME LLVM IR (the same [dot] table: VPDPBUSD ymm, 8 lanes, 16-register
tiles; test_x86_targets asserts the model.ll files are identical), and LLVM encodes the same
intrinsic as EVEX VPDPBUSD, which this CPU runs. So the proxy checks the kernels' logic (tiles,
packing, requantization, depthwise VPDPWSSD at 256 bits) bit-exact; it does NOT check the VEX
encoding, and with AVX-512 enabled LLVM may choose other instructions (masks, zmm) outside the dot
steps. The VEX encoding is checked in the disassembly of x86-avxvnni artifacts instead.

avx512_instructions(objdump text): the AVX-512 instructions in a disassembly (zmm or k registers,
xmm16-31/ymm16-31, or an EVEX prefix, byte 0x62, which in 64-bit mode is nothing else).
"""
from __future__ import annotations

import dataclasses
import re
import subprocess
from pathlib import Path

from qcomp.target import Target, get_target

PROXY_FEATURES = ("+avx2", "+avx512f", "+avx512vl", "+avx512bw", "+avx512vnni")
PROXY_HOST_FEATURES = ("avx2", "avx512f", "avx512vl", "avx512bw", "avx512_vnni")

_AVX512_REGISTER = re.compile(r"%(zmm\d+|k[0-7]|[xy]mm(1[6-9]|2\d|3[01]))\b")
_PREFIXES = {"26", "2e", "36", "3e", "64", "65", "67"}   # segment and address-size prefixes (EVEX allows them)


def avxvnni_proxy() -> Target:
    real = get_target("x86-avxvnni")
    return dataclasses.replace(real, name="x86-avxvnni-proxy", features=PROXY_FEATURES,
                               host_features=PROXY_HOST_FEATURES,
                               description="x86-avxvnni's kernels encoded with AVX-512VL (a test proxy)")


def disassemble(library: Path) -> str:
    return subprocess.run(["objdump", "-d", str(library)],
                          capture_output=True, text=True, check=True).stdout


def avx512_instructions(text: str) -> list[str]:
    """Disassembly lines (objdump -d) of instructions that need AVX-512."""
    found = []
    for line in text.splitlines():
        parts = line.split("\t")
        if len(parts) < 3 or not parts[0].strip().endswith(":"):
            continue   # labels, headers, continuation lines of long encodings
        raw, asm = parts[1].split(), parts[2]
        while raw and raw[0] in _PREFIXES:
            raw = raw[1:]
        if (raw and raw[0] == "62") or _AVX512_REGISTER.search(asm):
            found.append(line.strip())
    return found
