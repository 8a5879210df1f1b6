"""Real models through the cuda backend and --emulate, bit-exact to the ref target (slow: run with
`-m slow`). EfficientNet-Lite0 (depthwise convs, ReLU6, Add, mean, dense; both GEMM paths: __dp4a
for sm_75 and tensor cores for sm_80) and all-MiniLM-L6-v2 (QMatMul, Gather, float-fallback
LayerNorm/Softmax, Cast, float elementwise) on seeded inputs; the calibration set is two seeded
samples (the comparison is between targets, not with float).

ResNet-18-style and MobileNetV2-style models (tests/models/cnn_zoo.py, seeded weights) keep their
full layer structure and width but run at a reduced input resolution, 64x64 instead of 224x224, so
that the CPU emulation of both GEMM paths stays within a few seconds per image (ResNet-18 at 64x64
is 0.15 GMAC; every layer, stride and residual of the 224x224 model is still there, on smaller maps).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import pytest

from cuda_harness import emulation_skip
from qcomp.artifact import load
from qcomp.builder import BuildOptions, build
from qcomp.runtime.cuda import load as load_cuda

TESTS = Path(__file__).resolve().parents[2]
pytestmark = [pytest.mark.slow, pytest.mark.skipif(emulation_skip() is not None, reason=str(emulation_skip()))]


def _export(script: str, *args: str) -> Path:
    sys.path.insert(0, str(TESTS))
    try:
        from models.export_cache import cached_export
    finally:
        sys.path.remove(str(TESTS))
    return cached_export(script, *args)


def _compare(model: Path, calib: dict, feeds: dict, tmp: Path, archs=(75, 80)) -> None:
    np.savez(tmp / "calib.npz", **calib)
    cuda = build(model, tmp / "cuda", BuildOptions(target="cuda", calib=str(tmp / "calib.npz")))
    ref = build(model, tmp / "ref", BuildOptions(target="ref", calib=str(tmp / "calib.npz")))
    want = load(ref).run(feeds, raw=True)
    manifest = json.loads((cuda / "manifest.json").read_text())
    for arch in archs:
        got = load_cuda(cuda, manifest, emulate=True, emulate_arch=arch).run(feeds, raw=True)
        for name, value in want.items():
            assert np.unique(value).size > 8
            np.testing.assert_array_equal(got[name], value, err_msg=f"{model.parent.name} sm_{arch}: {name}")


def test_efficientnet_lite0_bit_exact(tmp_path):
    model = _export("export_efficientnet.py", "--dynamo", "1", "--opset", "18") / "model.onnx"
    rng = np.random.default_rng(0)
    calib = {"input": rng.uniform(-1, 1, (2, 3, 224, 224)).astype(np.float32)}
    _compare(model, calib, {"input": rng.uniform(-1, 1, (1, 3, 224, 224)).astype(np.float32)}, tmp_path)


def test_minilm_bit_exact(tmp_path):
    model = _export("export_minilm.py", "--seq", "128") / "model.onnx"
    rng = np.random.default_rng(0)

    def tokens(n):
        return {"input_ids": rng.integers(0, 30000, (n, 128)).astype(np.int64),
                "attention_mask": np.concatenate([np.ones((n, 100)), np.zeros((n, 28))], axis=1).astype(np.int64)}
    _compare(model, tokens(2), tokens(1), tmp_path, archs=(75,))


def _cnn(name: str, image: int):
    sys.path.insert(0, str(TESTS))
    try:
        from models import cnn_zoo
    finally:
        sys.path.remove(str(TESTS))
    return cnn_zoo.resnet18(image=image) if name == "resnet18" else cnn_zoo.mobilenet_v2(width=1.0, image=image)


@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v2"])
def test_cnn_zoo_bit_exact(name, tmp_path, monkeypatch):
    """No fatbin here (nvcc would add ~20 s per model): test_nvcc.py compiles every kernel template."""
    import onnx
    monkeypatch.setattr("qcomp.codegen.cuda.find_nvcc", lambda target: None)
    image = 64
    onnx.save(_cnn(name, image), tmp_path / "model.onnx")
    rng = np.random.default_rng(0)
    calib = {"input": rng.standard_normal((2, 3, image, image)).astype(np.float32)}
    _compare(tmp_path / "model.onnx", calib, {"input": rng.standard_normal((1, 3, image, image)).astype(np.float32)},
             tmp_path)
