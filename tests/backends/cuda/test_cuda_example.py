"""The bundled example end to end on the cuda target through --emulate: bit-exact to the ref target.

Builds examples/fashion_mnist with --target cuda (model.cu, launch plan, fatbin when nvcc exists)
and with --target ref from the same calibration, runs 40 sample images through both artifacts and
compares the raw int8 logits and the float logits with exact equality.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from qcomp.artifact import load
from qcomp.builder import BuildOptions, build
from qcomp.errors import QcompError

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "fashion_mnist"

pytestmark = pytest.mark.skipif(shutil.which("g++") is None, reason="target cuda --emulate: g++ is missing")


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory):
    out = tmp_path_factory.mktemp("fm")
    calib = str(EXAMPLE / "calib.npz")
    cuda = build(EXAMPLE / "model.onnx", out / "cuda", BuildOptions(target="cuda", calib=calib))
    ref = build(EXAMPLE / "model.onnx", out / "ref", BuildOptions(target="ref", calib=calib))
    return cuda, ref


def test_artifact_files_and_launch_plan(artifacts):
    cuda, _ = artifacts
    manifest = json.loads((cuda / "manifest.json").read_text())
    for name in ("model.cu", "model.h", "weights.bin"):
        assert (cuda / name).is_file(), name
    from qcomp.codegen.cuda.nvcc import find_nvcc
    from qcomp.target import get_target
    assert (cuda / "model.fatbin").is_file() == (find_nvcc(get_target("cuda")) is not None)
    kernels = [launch["kernel"] for launch in manifest["launches"]]
    assert any("qconv2d" in k for k in kernels) and any("qdense" in k for k in kernels)
    conv = next(launch for launch in manifest["launches"] if "qconv2d" in launch["kernel"])
    assert conv["block"] == [16, 16, 1] and conv["barriers"] and conv["shared_bytes"] > 0
    source = (cuda / "model.cu").read_text()
    assert "__dp4a" in source and "mma_m16n8k32_s8(acc, a, b)" in source
    assert manifest["workspace_bytes"] > 0 and manifest["architectures"][0] == "sm_75"


def test_example_bit_exact_to_ref(artifacts):
    cuda, ref = artifacts
    gpu, cpu = load(cuda, emulate=True), load(ref)
    images = np.load(EXAMPLE / "samples.npz")["input"][:40]
    raw_differs = 0
    for i in range(len(images)):
        feeds = {"input": images[i:i + 1]}
        got, want = gpu.run(feeds, raw=True), cpu.run(feeds, raw=True)
        assert got["logits"].dtype == np.int8
        np.testing.assert_array_equal(got["logits"], want["logits"], err_msg=f"sample {i}")
        raw_differs += int(np.unique(want["logits"]).size > 1)
        np.testing.assert_array_equal(gpu.run(feeds)["logits"], cpu.run(feeds)["logits"], err_msg=f"sample {i}")
    assert raw_differs == len(images)


def test_load_without_emulate_says_no_gpu(artifacts):
    cuda, _ = artifacts
    from qcomp.runtime.cuda import gpu_unavailable
    if gpu_unavailable() is None:
        pytest.skip("this host has a GPU")
    with pytest.raises(QcompError, match=r"cannot run: .*(no GPU on this host|cuda-bindings).*--emulate"):
        load(cuda)


def test_cli_run_emulate_raw(artifacts, tmp_path):
    """`qcomp run ARTIFACT --emulate --raw` writes the same int8 logits as the ref artifact."""
    import subprocess
    import sys
    cuda, ref = artifacts
    feeds = EXAMPLE / "input.npz"
    for art, out in ((cuda, tmp_path / "cuda.npz"), (ref, tmp_path / "ref.npz")):
        cmd = [sys.executable, "-m", "qcomp", "run", str(art), "--input", str(feeds), "--raw", "-o", str(out)]
        if art == cuda:
            cmd.append("--emulate")
        subprocess.run(cmd, check=True, capture_output=True, cwd=EXAMPLE.parents[1])
    got, want = np.load(tmp_path / "cuda.npz")["logits"], np.load(tmp_path / "ref.npz")["logits"]
    assert got.dtype == np.int8
    np.testing.assert_array_equal(got, want)
