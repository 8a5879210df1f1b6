"""nvcc: the fatbin of model.cu for every architecture of the target, in one call.

    nvcc -fatbin -O3 -gencode arch=compute_XX,code=sm_XX ... -gencode arch=compute_YY,code=compute_YY
(one SASS per listed sm_XX, plus PTX for `target.ptx` so newer GPUs JIT it). Without nvcc the
build keeps model.cu and says how to get nvcc (pip package nvidia-cuda-nvcc).
"""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from ...errors import QcompError
from ...target import Target


def find_nvcc(target: Target) -> str | None:
    return shutil.which(target.toolchain.get("nvcc", "nvcc"))


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
