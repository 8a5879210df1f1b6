"""The four MLPerf Tiny reference models (tests/models/export_mlperf_tiny.py: DS-CNN, MobileNetV1 0.25,
ResNet-8, the FC autoencoder; seeded random weights) built for the Cortex-M targets and run under
QEMU: every raw int8 output, the classifiers' integer Softmax included, equals the ref target's.

All four run on cortex-m4; cortex-m7 and cortex-m55 run one model each here (ResNet-8: 3x3 and
strided 1x1 convolutions, residual adds; MobileNetV1: depthwise and 1x1 convolutions, Helium on
M55). benchmarks/mlperf_tiny.py runs all four on every target and checks them the same way.
Each model is quantized once per module (8 seeded N(0, 1) calibration inputs)."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

import qcomp
from qcomp.ir.serialize import load_graph
from qcomp.passes.lower_integer import lower_integer
from qcomp.target import get_target, host_support

pytestmark = pytest.mark.slow
TESTS = Path(__file__).resolve().parents[2]


def _cached_export(script: str) -> Path:
    """tests/models/export_cache.py's cached_export (tests/ is not a package)."""
    sys.path.insert(0, str(TESTS))
    try:
        from models.export_cache import cached_export
    finally:
        sys.path.remove(str(TESTS))
    return cached_export(script)

SHAPES = {"kws_dscnn": (1, 1, 49, 10), "vww_mobilenet": (1, 3, 96, 96), "ic_resnet8": (1, 3, 32, 32),
          "ad_autoencoder": (1, 640)}
CASES = [*((m, "cortex-m4") for m in SHAPES), ("ic_resnet8", "cortex-m7"), ("vww_mobilenet", "cortex-m55")]


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """name -> (onnx path, calibration file, two feeds, the ref artifact's raw outputs for them)."""
    pytest.importorskip("torch")
    exported = _cached_export("export_mlperf_tiny.py")
    base = tmp_path_factory.mktemp("mlperf_tiny")
    cache: dict[str, tuple] = {}

    def get(name: str):
        if name not in cache:
            rng = np.random.default_rng(0)
            calib = base / f"{name}_calib.npy"
            np.save(calib, rng.standard_normal((8, *SHAPES[name])).astype(np.float32))
            feeds = [{"input": rng.standard_normal(SHAPES[name]).astype(np.float32)} for _ in range(2)]
            ref_path = qcomp.build(exported / f"{name}.onnx", target="ref", calib=calib, out=base / f"{name}_ref")
            ref = qcomp.load(ref_path)
            cache[name] = (exported / f"{name}.onnx", calib, feeds, [ref.run(f, raw=True) for f in feeds], ref_path)
        return cache[name]
    return get, base


@pytest.mark.parametrize("name, target", CASES, ids=[f"{m}-{t}" for m, t in CASES])
def test_model_is_bit_exact_to_the_reference(models, name, target):
    support = host_support(get_target(target))
    if not support.can_run:
        pytest.skip(f"target {target}: {support.why}")
    get, base = models
    path, calib, feeds, want, _ = get(name)
    art = qcomp.load(qcomp.build(path, target=target, calib=calib, out=base / f"{name}_{target}"))
    for f, w in zip(feeds, want):
        got = art.run(f, raw=True)
        assert set(got) == set(w)
        for k in w:
            np.testing.assert_array_equal(got[k], w[k], err_msg=f"{name} on {target}: {k}")
    assert art.manifest["flash_bytes"] > 0 and art.manifest["ram_bytes"] >= art.manifest["workspace_bytes"]


@pytest.mark.parametrize("name", ["kws_dscnn", "vww_mobilenet", "ic_resnet8"])
def test_classifiers_end_in_the_integer_softmax(models, name):
    """The three classifiers keep their Softmax in the integer graph (QSoftmax, no float Softmax), so
    the C targets run it (they refuse a float one)."""
    get, _ = models
    kinds = [n.kind for n in lower_integer(load_graph(get(name)[4] / "model.qir")).nodes]
    assert kinds.count("QSoftmax") == 1 and "Softmax" not in kinds
