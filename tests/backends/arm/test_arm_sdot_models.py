"""Real CNNs cross-compiled for arm-sdot and run under qemu-aarch64 -cpu max, raw int8 outputs
bit-exact to the `--target ref` artifact built from the same calibration: EfficientNet-Lite0
(torch export, cached; depthwise convs, ReLU6, Add, mean, dense) at its 224x224 resolution, and the
ResNet-18-style and MobileNetV2-style models of tests/models/cnn_zoo.py at 96x96 (every layer and
channel count as at 224, a fifth of the pixels: the integer reference interpreter and the build
stay under a minute each; QEMU itself takes seconds). Slow: the LLVM builds of these models take
about a minute each on a busy 2-core machine."""
from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest

import qcomp
from qcomp.target import get_target, host_support

TESTS = Path(__file__).resolve().parents[2]
MODELS = TESTS / "models"
IMAGE = 96
ARM = get_target("arm-sdot")
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not host_support(ARM).can_run, reason=f"target arm-sdot: {host_support(ARM).why}")]


def _zoo():
    """tests/models/cnn_zoo.py (loaded by path as part of its package: tests/ is not a package)."""
    name = "qcomp_test_models_arm"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, MODELS / "__init__.py",
                                                      submodule_search_locations=[str(MODELS)])
        sys.modules[name] = module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    return importlib.import_module(f"{name}.cnn_zoo")


def _compare(model: Path, image: int, tmp: Path, images: int = 2) -> None:
    rng = np.random.default_rng(0)
    np.savez(tmp / "calib.npz", input=rng.standard_normal((2, 3, image, image)).astype(np.float32))
    for target in ("arm-sdot", "ref"):
        qcomp.build(model, target=target, calib=tmp / "calib.npz", out=tmp / target)
    arm, ref = qcomp.load(tmp / "arm-sdot"), qcomp.load(tmp / "ref")
    for i in range(images):
        x = {"input": rng.standard_normal((1, 3, image, image)).astype(np.float32)}
        got, want = arm.run(x, raw=True), ref.run(x, raw=True)
        assert sorted(got) == sorted(want)
        for name, value in want.items():
            assert got[name].dtype == np.int8 and got[name].shape == value.shape
            np.testing.assert_array_equal(got[name], value, err_msg=f"{model.parent.name} image {i}, output {name}")
            assert np.unique(value).size > 50, "logits should spread over many int8 values"


@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v2"])
def test_cnn_zoo_bit_exact_to_ref(name, tmp_path):
    onnx.save(getattr(_zoo(), name)(image=IMAGE), tmp_path / "model.onnx")
    _compare(tmp_path / "model.onnx", IMAGE, tmp_path)


def test_efficientnet_lite0_bit_exact_to_ref(tmp_path):
    pytest.importorskip("torch")
    sys.path.insert(0, str(TESTS))
    try:
        from models.export_cache import cached_export
    finally:
        sys.path.remove(str(TESTS))
    model = cached_export("export_efficientnet.py", "--dynamo", "1", "--opset", "18") / "model.onnx"
    _compare(model, 224, tmp_path, images=1)
