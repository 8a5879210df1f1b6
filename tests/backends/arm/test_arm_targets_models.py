"""Real CNNs on arm-neon (under qemu-aarch64 -cpu cortex-a72) and arm-i8mm (SMMLA, -cpu max), raw
int8 outputs bit-exact to the `--target ref` artifact built from the same calibration: the models
test_arm_sdot_models.py runs on arm-sdot, on both targets. MobileNetV2-style and ResNet-18-style at
96x96 (1x1 and 3x3 GEMMs on the SMLAL and SMMLA micro-kernels, depthwise on generic NEON, odd pixel
counts down to 3x3) and EfficientNet-Lite0 at 224 (torch export, cached); each model's ref
artifact and calibration are built once (module fixture) for both targets. Slow, as the arm-sdot
file: about a minute per LLVM build on a busy 2-core machine."""
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

MODELS = Path(__file__).resolve().parents[2] / "models"
IMAGE = 96
NEON = get_target("arm-neon")
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not host_support(NEON).can_run, reason=f"target arm-neon: {host_support(NEON).why}")]


def _zoo():
    """tests/models/cnn_zoo.py (loaded by path as part of its package: tests/ is not a package)."""
    name = "qcomp_test_models_arm_targets"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, MODELS / "__init__.py",
                                                      submodule_search_locations=[str(MODELS)])
        sys.modules[name] = module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    return importlib.import_module(f"{name}.cnn_zoo")


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """model name -> (directory, the ref artifact's raw outputs on two seeded images, those images),
    each model and its ref artifact built once for every target of this module."""
    cache: dict = {}

    def get(name: str):
        if name not in cache:
            tmp = tmp_path_factory.mktemp(name)
            if name == "efficientnet_lite0":
                image, n_images = 224, 1
                (tmp / "model.onnx").symlink_to(_efficientnet())
            else:
                image, n_images = IMAGE, 2
                onnx.save(getattr(_zoo(), name)(image=IMAGE), tmp / "model.onnx")
            rng = np.random.default_rng(0)
            np.savez(tmp / "calib.npz", input=rng.standard_normal((2, 3, image, image)).astype(np.float32))
            qcomp.build(tmp / "model.onnx", target="ref", calib=tmp / "calib.npz", out=tmp / "ref")
            images = [{"input": rng.standard_normal((1, 3, image, image)).astype(np.float32)}
                      for _ in range(n_images)]
            ref = qcomp.load(tmp / "ref")
            cache[name] = (tmp, images, [ref.run(x, raw=True) for x in images])
        return cache[name]
    return get


def _efficientnet() -> Path:
    """EfficientNet-Lite0 as test_arm_sdot_models.py exports it (cached torch export)."""
    pytest.importorskip("torch")
    tests = MODELS.parent
    sys.path.insert(0, str(tests))
    try:
        from models.export_cache import cached_export
    finally:
        sys.path.remove(str(tests))
    return cached_export("export_efficientnet.py", "--dynamo", "1", "--opset", "18") / "model.onnx"


@pytest.mark.parametrize("name", ["mobilenet_v2", "resnet18", "efficientnet_lite0"])
@pytest.mark.parametrize("target", ["arm-neon", "arm-i8mm"])
def test_real_models_bit_exact_to_ref(name, target, built):
    tmp, images, wants = built(name)
    qcomp.build(tmp / "model.onnx", target=target, calib=tmp / "calib.npz", out=tmp / target)
    art = qcomp.load(tmp / target)
    for i, (x, want) in enumerate(zip(images, wants)):
        got = art.run(x, raw=True)
        assert sorted(got) == sorted(want)
        for key, value in want.items():
            assert got[key].dtype == np.int8 and got[key].shape == value.shape
            np.testing.assert_array_equal(got[key], value, err_msg=f"{name} on {target}, image {i}, output {key}")
            assert np.unique(value).size > 50, "logits should spread over many int8 values"
