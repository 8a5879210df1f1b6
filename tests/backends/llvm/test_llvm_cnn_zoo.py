"""ResNet-18-style and MobileNetV2-style CNNs (tests/models/cnn_zoo.py: 7x7 stem, max pool, 3x3 and
strided 1x1 convs, residual Adds; depthwise 3x3 with ReLU6, inverted residuals, global average pool,
Gemm) built for x86-vnni, x86-avx2 and ref from the same calibration (one ref build per model, shared),
raw int8 logits bit-exact.

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
TARGETS = ["x86-vnni", "x86-avx2"]
pytestmark = pytest.mark.slow


def _load(name: str, path: Path, package: bool = False):
    """A module of tests/ loaded by path (tests/ is not a package)."""
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, path, submodule_search_locations=[str(path.parent)]
                                                      if package else None)
        sys.modules[name] = module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    return sys.modules[name]


def _zoo():
    """tests/models/cnn_zoo.py, loaded as part of its package."""
    _load("qcomp_test_models_llvm", MODELS / "__init__.py", package=True)
    return importlib.import_module("qcomp_test_models_llvm.cnn_zoo")


@pytest.fixture(scope="module", params=["resnet18", "mobilenet_v2"])
def zoo_model(request, tmp_path_factory):
    """(name, directory with model.onnx, calib.npz and the ref artifact): one ref build per model,
    shared by every target."""
    name = request.param
    work = tmp_path_factory.mktemp(name)
    onnx.save(getattr(_zoo(), name)(image=IMAGE), work / "model.onnx")
    rng = np.random.default_rng(0)
    np.savez(work / "calib.npz", input=rng.standard_normal((4, 3, IMAGE, IMAGE)).astype(np.float32))
    qcomp.build(work / "model.onnx", target="ref", calib=work / "calib.npz", out=work / "ref")
    return name, work


@pytest.mark.parametrize("target", TARGETS)
def test_cnn_bit_exact_to_ref(zoo_model, target):
    support = host_support(get_target(target))
    if not support.can_run:
        pytest.skip(f"target {target}: {support.why}")
    name, work = zoo_model
    qcomp.build(work / "model.onnx", target=target, calib=work / "calib.npz", out=work / target)
    if target == "x86-avx2":   # a CPU without AVX-512 runs every instruction of it
        harness = _load("x86_harness", Path(__file__).resolve().parents[1] / "x86" / "x86_harness.py")
        assert harness.avx512_instructions(harness.disassemble(work / target / "model.so")) == []
    art, ref = qcomp.load(work / target), qcomp.load(work / "ref")
    rng = np.random.default_rng(1)
    for i in range(2):
        x = {"input": rng.standard_normal((1, 3, IMAGE, IMAGE)).astype(np.float32)}
        got, want = art.run(x, raw=True), ref.run(x, raw=True)
        assert sorted(got) == sorted(want)
        for out in want:
            assert got[out].dtype == np.int8 and got[out].shape == want[out].shape == (1, 1000)
            np.testing.assert_array_equal(got[out], want[out], err_msg=f"{name} on {target}, image {i}, output {out}")
            assert np.unique(want[out]).size > 50, "logits should spread over many int8 values"
