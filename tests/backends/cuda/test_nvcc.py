"""Every kernel the cuda backend generates compiles with nvcc for every architecture of
targets/cuda.toml, in ONE nvcc call (all gencodes), and the PTX uses the instructions it should:
every GEMM kernel (conv, dense) uses `mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32` (tensor
cores) in its sm_80+ PTX and `dp4a.s32.s32` in its sm_75 PTX.

The kernels are those of the whole op-case table (tests/opcases) and of cuda_harness.extra_graphs
(float ops, Gather, Cast, Resize, Softmax, LayerNorm), renamed per graph and put after one prelude
into a single translation unit.
"""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from qcomp.codegen.cuda import generate
from qcomp.codegen.cuda.nvcc import gencode_flags
from qcomp.errors import UnsupportedModelError
from qcomp.target import get_target

TESTS = Path(__file__).resolve().parents[2]


def _all_kernels():
    sys.path.insert(0, str(TESTS))
    try:
        from opcases.cases import CASES, materialize
    finally:
        sys.path.remove(str(TESTS))
    from cuda_harness import extra_graphs
    target = get_target("cuda")
    prelude, kernels = None, {}
    graphs = [materialize(case)[0] for case in CASES] + [g for g, _ in extra_graphs().values()]
    for i, graph in enumerate(graphs):
        try:
            ctx = generate(graph, target)
        except UnsupportedModelError:
            continue
        prelude = ctx.sources[0]
        for launch, source in zip(ctx.launches, ctx.sources[1:]):
            name = f"c{i}_{launch.kernel}"
            kernels[name] = source.replace(f" {launch.kernel}(", f" {name}(")
    return prelude, kernels


@pytest.mark.skipif(shutil.which("nvcc") is None, reason="target cuda: nvcc is missing (pip install nvidia-cuda-nvcc)")
def test_every_kernel_compiles_for_every_architecture(tmp_path):
    target = get_target("cuda")
    prelude, kernels = _all_kernels()
    assert len(kernels) > 80
    source = tmp_path / "all.cu"
    source.write_text(prelude + "".join(kernels.values()))
    keep = tmp_path / "keep"
    keep.mkdir()
    cmd = ["nvcc", "-fatbin", "-O3", "-std=c++17", *gencode_flags(target), "--keep", "--keep-dir", str(keep),
           "-o", str(tmp_path / "all.fatbin"), str(source)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-4000:]
    assert (tmp_path / "all.fatbin").stat().st_size > 0
    ptx_files = sorted(keep.glob("*.ptx"))
    archs = {re.search(r"compute_(\d+)", p.name).group(1) for p in ptx_files if "compute_" in p.name}
    assert archs >= {a.removeprefix("sm_") for a in target.architectures}, [p.name for p in ptx_files]
    for ptx_file in ptx_files:
        ptx = ptx_file.read_text()
        bodies = dict(re.findall(r"\.entry (\w+)\((.*?)\n}", ptx, re.S))
        assert set(bodies) == set(kernels), ptx_file.name
        arch = int(re.search(r"\.target sm_(\d+)", ptx).group(1))
        gemms = [name for name, src in kernels.items() if "mma_m16n8k32_s8(" in src]
        assert len(gemms) > 20
        for name in gemms:   # sm_80+: tensor cores; sm_75: __dp4a
            if arch >= 80:
                assert "mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32" in bodies[name], f"{name} ({ptx_file.name})"
                assert "dp4a" not in bodies[name], f"{name} ({ptx_file.name})"
            else:
                assert "dp4a.s32.s32" in bodies[name], f"{name} ({ptx_file.name}) lacks dp4a"
                assert "mma.sync" not in bodies[name], f"{name} ({ptx_file.name})"
