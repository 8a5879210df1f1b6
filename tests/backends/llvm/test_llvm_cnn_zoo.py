"""ResNet-18-style and MobileNetV2-style CNNs (tests/models/cnn_zoo.py: 7x7 stem, max pool, 3x3 and
strided 1x1 convs, residual Adds; depthwise 3x3 with ReLU6, inverted residuals, global average pool,
Gemm) built for x86-vnni and for ref from the same calibration, raw int8 logits bit-exact.

The images are 96x96 instead of 224x224 (every layer and channel count as at 224, a fifth of the
pixels) to keep the integer reference's run and the build under a minute each."""
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
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not host_support(get_target("x86-vnni")).can_run,
                                 reason=f"target x86-vnni: {host_support(get_target('x86-vnni')).why}")]


def _zoo():
    """tests/models/cnn_zoo.py (loaded by path as part of its package: tests/ is not a package)."""
    name = "qcomp_test_models_llvm"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, MODELS / "__init__.py",
                                                      submodule_search_locations=[str(MODELS)])
        sys.modules[name] = module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    return importlib.import_module(f"{name}.cnn_zoo")


@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v2"])
def test_cnn_bit_exact_to_ref(name, tmp_path):
    zoo = _zoo()
    model = getattr(zoo, name)(image=IMAGE)
    onnx.save(model, tmp_path / "model.onnx")
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "calib.npz", input=rng.standard_normal((4, 3, IMAGE, IMAGE)).astype(np.float32))
    for target in ("x86-vnni", "ref"):
        qcomp.build(tmp_path / "model.onnx", target=target, calib=tmp_path / "calib.npz", out=tmp_path / target)
    vnni, ref = qcomp.load(tmp_path / "x86-vnni"), qcomp.load(tmp_path / "ref")
    for i in range(2):
        x = {"input": rng.standard_normal((1, 3, IMAGE, IMAGE)).astype(np.float32)}
        got, want = vnni.run(x, raw=True), ref.run(x, raw=True)
        assert sorted(got) == sorted(want)
        for out in want:
            assert got[out].dtype == np.int8 and got[out].shape == want[out].shape == (1, 1000)
            np.testing.assert_array_equal(got[out], want[out], err_msg=f"{name} image {i}, output {out}")
            assert np.unique(want[out]).size > 50, "logits should spread over many int8 values"
