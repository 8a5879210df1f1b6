"""nvcc: the fatbin of model.cu for every architecture of the target, in one call.

    nvcc -fatbin -O3 -gencode arch=compute_XX,code=sm_XX ... -gencode arch=compute_YY,code=compute_YY
(one SASS per listed sm_XX, plus PTX for `target.ptx` so newer GPUs JIT it). Without nvcc the
build keeps model.cu and says how to get nvcc (pip package nvidia-cuda-nvcc).

The CUDA tools (nvcc, and nvdisasm for the SASS tests) are looked up on PATH first, then inside the
installed NVIDIA pip wheels, which put their binaries in site-packages rather than on PATH:
nvidia/cu13/bin/nvcc (CUDA 13 wheels: nvidia-cuda-nvcc, nvidia-cuda-nvdisasm), nvidia/cuda_nvcc/bin/nvcc
(CUDA 12 wheels), and the same under every other nvidia/<component>/ directory.
"""
from __future__ import annotations

import importlib.util
import os
import re
import shutil
import site
import subprocess
import sys
import sysconfig
from pathlib import Path

from ...errors import QcompError
from ...target import Target


def _namespace_dirs() -> list[Path]:
    """Directories of the `nvidia` namespace package (every installed NVIDIA wheel adds to it)."""
    spec = importlib.util.find_spec("nvidia")
    return [Path(p) for p in spec.submodule_search_locations] if spec and spec.submodule_search_locations else []


def _site_dirs() -> list[Path]:
    """This interpreter's site-packages directories (venv, system, user)."""
    paths = sysconfig.get_paths()
    dirs = [paths["purelib"], paths["platlib"], *site.getsitepackages()]
    if site.ENABLE_USER_SITE:
        dirs.append(site.getusersitepackages())
    return [Path(d) for d in dirs]


def _pip_tool_dirs() -> list[Path]:
    """bin/ directories of the NVIDIA pip wheels installed for this interpreter, in a stable order."""
    dirs, seen = [], set()
    for root in [*_namespace_dirs(), *(d / "nvidia" for d in _site_dirs())]:
        if not root.is_dir() or root.resolve() in seen:
            continue
        seen.add(root.resolve())
        dirs += sorted(p for p in root.glob("*/bin") if p.is_dir())
    return dirs


def find_cuda_tool(name: str) -> str | None:
    """Path of the CUDA tool `name` (nvcc, nvdisasm, ...): PATH, this interpreter's bin/ (a venv),
    then the NVIDIA pip wheels' bin/ directories; None when absent."""
    found = shutil.which(name)
    if found:
        return found
    if os.sep in name:
        return None
    for d in [Path(sys.executable).parent, *_pip_tool_dirs()]:
        candidate = d / name
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    return None


def find_nvcc(target: Target) -> str | None:
    return find_cuda_tool(target.toolchain.get("nvcc", "nvcc"))


def gencode_flags(target: Target) -> list[str]:
    flags = []
    for arch in target.architectures:
        num = arch.removeprefix("sm_")
        flags += ["-gencode", f"arch=compute_{num},code=sm_{num}"]
    if target.ptx:
        flags += ["-gencode", f"arch={target.ptx},code={target.ptx}"]
    return flags


def compile_fatbin(nvcc: str, target: Target, source: Path, out: Path) -> None:
    cmd = [nvcc, "-fatbin", "-O3", "-std=c++17", *gencode_flags(target), "-o", str(out), str(source)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    if r.returncode != 0:
        raise QcompError(f"nvcc failed to compile {source.name} for {', '.join(target.architectures)}:\n"
                         f"{r.stderr.strip()[-3000:]}")


def compile_ptx(nvcc: str, arch: str, source: Path, out: Path) -> str:
    """PTX of model.cu for one virtual architecture (compute_XX), for inspection and tests."""
    r = subprocess.run([nvcc, "-ptx", "-O3", "-std=c++17", f"-arch={arch}", "-o", str(out), str(source)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise QcompError(f"nvcc -ptx failed for {arch}:\n{r.stderr.strip()[-3000:]}")
    return out.read_text()


def compile_cubin(nvcc: str, arch: str, source: Path, out: Path) -> str:
    """The cubin (SASS) of model.cu for one real architecture (sm_XX) with ptxas' resource report
    (-Xptxas -v); returns that report (ptxas prints it on stderr)."""
    r = subprocess.run([nvcc, "-cubin", "-O3", "-std=c++17", f"-arch={arch}", "-Xptxas", "-v", "-o", str(out),
                        str(source)], capture_output=True, text=True)
    if r.returncode != 0:
        raise QcompError(f"nvcc -cubin failed for {arch}:\n{r.stderr.strip()[-3000:]}")
    return r.stderr


_FUNCTION = re.compile(r"Compiling entry function '(\w+)' for '(sm_\d+)'")
_REGS = re.compile(r"Used (\d+) registers")
_SMEM = re.compile(r"(\d+) bytes smem")


def parse_ptxas_usage(report: str) -> dict[str, dict[str, int]]:
    """ptxas -v output -> {kernel: {"registers": r, "shared_bytes": s}} (static shared memory)."""
    usage: dict[str, dict[str, int]] = {}
    current = None
    for line in report.splitlines():
        m = _FUNCTION.search(line)
        if m:
            current = m.group(1)
            usage[current] = {"registers": 0, "shared_bytes": 0}
            continue
        if current is None:
            continue
        regs = _REGS.search(line)
        if regs:
            usage[current]["registers"] = int(regs.group(1))
            smem = _SMEM.search(line)
            if smem:
                usage[current]["shared_bytes"] = int(smem.group(1))
    return usage
