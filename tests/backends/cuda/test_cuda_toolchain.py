"""Finding the CUDA tools, and `qcomp build --target cuda` without nvcc.

- find_cuda_tool / find_nvcc look on PATH, then inside NVIDIA pip wheels (site-packages/nvidia/cu13/bin
  for CUDA 13 wheels, nvidia/cuda_nvcc/bin for CUDA 12 wheels), which do not put nvcc on PATH.
- With no nvcc anywhere, `qcomp build MODEL --target cuda` (the CLI, in-process) writes model.cu, model.h,
  weights.bin and the launch plan, no model.fatbin, exits 0 and says the fatbin needs nvcc and how to
  get it; the artifact still runs with --emulate, bit-exact to --target ref.
"""
from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

from qcomp.codegen.cuda import nvcc as nvcc_module

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "fashion_mnist"


def _fake_tool(path: Path) -> Path:
    path.parent.mkdir(parents=True)
    path.write_text("#!/bin/sh\nexit 0\n")
    path.chmod(0o755)
    return path


def _no_cuda_on_path(monkeypatch, tmp_path: Path, sites: list[str]) -> None:
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.setattr(sys, "executable", str(tmp_path / "no-venv" / "python"))
    monkeypatch.setattr(nvcc_module, "_site_dirs", lambda: [Path(d) for d in sites])
    monkeypatch.setattr(nvcc_module, "_namespace_dirs", lambda: [])

@pytest.mark.parametrize("layout", ["nvidia/cu13/bin", "nvidia/cuda_nvcc/bin"])
def test_nvcc_is_found_inside_pip_wheels(tmp_path, monkeypatch, layout):
    from qcomp.target import get_target
    sp = tmp_path / "site-packages"
    tool = _fake_tool(sp / layout / "nvcc")
    _fake_tool(sp / "nvidia" / "cuda_nvdisasm" / "bin" / "nvdisasm")
    _no_cuda_on_path(monkeypatch, tmp_path, [str(sp)])
    assert shutil.which("nvcc") is None
    assert nvcc_module.find_nvcc(get_target("cuda")) == str(tool)
    assert nvcc_module.find_cuda_tool("nvdisasm") == str(sp / "nvidia" / "cuda_nvdisasm" / "bin" / "nvdisasm")
    assert nvcc_module.find_cuda_tool("cuobjdump") is None


def test_path_comes_first(tmp_path, monkeypatch):
    on_path = _fake_tool(tmp_path / "bin" / "nvcc")
    sp = tmp_path / "site-packages"
    _fake_tool(sp / "nvidia" / "cu13" / "bin" / "nvcc")
    _no_cuda_on_path(monkeypatch, tmp_path, [str(sp)])
    monkeypatch.setenv("PATH", str(on_path.parent))
    assert nvcc_module.find_cuda_tool("nvcc") == str(on_path)


@pytest.mark.skipif(shutil.which("g++") is None, reason="target cuda --emulate: g++ is missing")
def test_build_without_nvcc_writes_the_source_and_explains(tmp_path, monkeypatch, capsys):
    from qcomp.artifact import load
    from qcomp.builder import BuildOptions, build
    from qcomp.cli import main
    sp = tmp_path / "site-packages"
    sp.mkdir()
    _no_cuda_on_path(monkeypatch, tmp_path, [str(sp)])
    assert nvcc_module.find_cuda_tool("nvcc") is None
    out = tmp_path / "cuda"
    code = main(["build", str(EXAMPLE / "model.onnx"), "--target", "cuda", "--calib", str(EXAMPLE / "calib.npz"),
                 "-o", str(out)])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "nvcc not found: model.fatbin was not built" in err and "pip install nvidia-cuda-nvcc" in err
    for name in ("model.cu", "model.h", "weights.bin", "manifest.json"):
        assert (out / name).is_file(), name
    assert not (out / "model.fatbin").exists()
    manifest = json.loads((out / "manifest.json").read_text())
    assert "fatbin" not in manifest["files"] and manifest["launches"]
    assert any("nvcc" in note for note in manifest["build_notes"])
    monkeypatch.undo()
    ref = build(EXAMPLE / "model.onnx", tmp_path / "ref", BuildOptions(target="ref", calib=str(EXAMPLE / "calib.npz")))
    x = np.load(EXAMPLE / "input.npz")["input"]
    np.testing.assert_array_equal(load(out, emulate=True).run({"input": x}, raw=True)["logits"],
                                  load(ref).run({"input": x}, raw=True)["logits"])
