"""The GEMM kernels' two inner products, each bit-exact to the integer reference through --emulate:
tensor cores (mma.sync m16n8k32, emulated compute capability 8.0: also what the op-case table runs)
and __dp4a (compute capability 7.5). Cases: the op-case table's convolutions and dense layers."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from cuda_harness import emulation_skip, run_cuda_emulated
from qcomp.ref import run_integer

TESTS = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(TESTS))
try:
    from opcases.cases import CASES, materialize
    from opcases.targets import FUSED_CASES
finally:
    sys.path.remove(str(TESTS))

GEMM_CASES = [c for c in CASES if c.name.startswith(("conv", "dense", "float_conv", "float_dense"))
              and "transpose" not in c.name and "depthwise" not in c.name
              and c.name not in FUSED_CASES]   # QConv2DAdd: llvm only (builder.BACKEND_FUSIONS)


@pytest.mark.skipif(emulation_skip() is not None, reason=str(emulation_skip()))
@pytest.mark.parametrize("arch", [75, 80])
@pytest.mark.parametrize("case", GEMM_CASES[::2] if len(GEMM_CASES) > 12 else GEMM_CASES, ids=lambda c: c.name)
def test_gemm_path_bit_exact(case, arch):
    graph, feeds = materialize(case)
    want = run_integer(graph, feeds)
    got = run_cuda_emulated(graph, {k: v.copy() for k, v in feeds.items()}, arch=arch)
    for name, value in want.items():
        np.testing.assert_array_equal(got[name], value, err_msg=f"{case.name} sm_{arch}: {name}")
