"""Every kernel the cuda backend generates compiles with nvcc for every architecture of
targets/cuda.toml, in ONE nvcc call (all gencodes), and the PTX uses the instructions it should:
every GEMM kernel (conv, dense) uses `mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32` (tensor
cores) in its sm_80+ PTX and `dp4a.s32.s32` in its sm_75 PTX. When nvdisasm is there (pip package
nvidia-cuda-nvdisasm, in the test extra), the SASS of every cubin says the same: `IMMA.16832.S8.S8`
on sm_80+ and `IDP.4A.S8.S8` on sm_75, per GEMM kernel.

The kernels are those of the whole op-case table (tests/opcases) and of cuda_harness.extra_graphs
(float ops, Gather, Cast, Resize, Softmax, LayerNorm), renamed per graph and put after one prelude
into a single translation unit.
"""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from qcomp.codegen.cuda import generate
from qcomp.codegen.cuda.nvcc import find_cuda_tool, gencode_flags
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


GEMM_MARK = "mma_m16n8k32_s8("   # in the source of every conv_gemm kernel (both paths)


@pytest.fixture(scope="module")
def compiled(tmp_path_factory):
    """(kernels, keep dir with the .ptx and .cubin of every architecture) of one nvcc -fatbin call."""
    nvcc = find_cuda_tool("nvcc")   # PATH, or the pip wheel nvidia-cuda-nvcc (scripts/setup.sh --test)
    if nvcc is None:
        pytest.skip("target cuda: nvcc is missing (pip install nvidia-cuda-nvcc)")
    tmp = tmp_path_factory.mktemp("nvcc")
    target = get_target("cuda")
    prelude, kernels = _all_kernels()
    assert len(kernels) > 80
    source = tmp / "all.cu"
    source.write_text(prelude + "".join(kernels.values()))
    keep = tmp / "keep"
    keep.mkdir()
    cmd = [nvcc, "-fatbin", "-O3", "-std=c++17", *gencode_flags(target), "--keep", "--keep-dir", str(keep),
           "-o", str(tmp / "all.fatbin"), str(source)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-4000:]
    assert (tmp / "all.fatbin").stat().st_size > 0
    return kernels, keep


def test_every_kernel_compiles_for_every_architecture(compiled):
    target = get_target("cuda")
    kernels, keep = compiled
    ptx_files = sorted(keep.glob("*.ptx"))
    archs = {re.search(r"compute_(\d+)", p.name).group(1) for p in ptx_files if "compute_" in p.name}
    assert archs >= {a.removeprefix("sm_") for a in target.architectures}, [p.name for p in ptx_files]
    for ptx_file in ptx_files:
        ptx = ptx_file.read_text()
        bodies = dict(re.findall(r"\.entry (\w+)\((.*?)\n}", ptx, re.S))
        assert set(bodies) == set(kernels), ptx_file.name
        arch = int(re.search(r"\.target sm_(\d+)", ptx).group(1))
        gemms = [name for name, src in kernels.items() if GEMM_MARK in src]
        assert len(gemms) > 20
        for name in gemms:   # sm_80+: tensor cores; sm_75: __dp4a
            if arch >= 80:
                assert "mma.sync.aligned.m16n8k32.row.col.s32.s8.s8.s32" in bodies[name], f"{name} ({ptx_file.name})"
                assert "dp4a" not in bodies[name], f"{name} ({ptx_file.name})"
            else:
                assert "dp4a.s32.s32" in bodies[name], f"{name} ({ptx_file.name}) lacks dp4a"
                assert "mma.sync" not in bodies[name], f"{name} ({ptx_file.name})"


def test_sass_uses_imma_and_idp4a(compiled):
    nvdisasm = find_cuda_tool("nvdisasm")
    if nvdisasm is None:
        pytest.skip("nvdisasm is missing (pip install nvidia-cuda-nvdisasm, part of the test extra): "
                    "the SASS is not checked, the PTX is")
    target = get_target("cuda")
    kernels, keep = compiled
    gemms = [name for name, src in kernels.items() if GEMM_MARK in src]
    checked = set()
    for arch in target.architectures:
        num = int(arch.removeprefix("sm_"))
        cubins = list(keep.glob(f"*.compute_{num}.cubin")) + list(keep.glob(f"*.sm_{num}.cubin"))
        assert len(cubins) == 1, (arch, sorted(p.name for p in keep.iterdir()))
        r = subprocess.run([nvdisasm, str(cubins[0])], capture_output=True, text=True)
        assert r.returncode == 0, r.stderr[-2000:]
        parts = re.split(r"^\.text\.(\w+):$", r.stdout, flags=re.M)
        sass = dict(zip(parts[1::2], parts[2::2]))
        assert set(sass) == set(kernels), arch
        for name in gemms:
            if num >= 80:
                assert re.search(r"\bIMMA\.16832\.S8\.S8\b", sass[name]), f"{name} ({arch}) has no IMMA.16832.S8.S8"
                assert "IDP.4A" not in sass[name], f"{name} ({arch})"
            else:
                assert "IDP.4A.S8.S8" in sass[name], f"{name} ({arch}) has no IDP.4A.S8.S8"
                assert "IMMA" not in sass[name], f"{name} ({arch})"
        checked.add(arch)
    assert checked == set(target.architectures)
