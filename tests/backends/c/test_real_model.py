"""EfficientNet-Lite0 (depthwise and pointwise convs, ReLU6 clamps, residual Adds, ReduceMean, Gemm)
through the dsp-c backend on the host: raw int8 logits equal the integer reference's exactly.
(4.7 MB of weights: more than the 4 MiB flash of QEMU's mps2-an386, so no Cortex-M4 run.)"""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest

import qcomp
from qcomp.target import get_target, host_support

pytestmark = pytest.mark.slow   # a torch export (cached) and a 4.7 MB weights.c to compile: ~30 s

MODELS = Path(__file__).resolve().parents[2] / "models"


def _cached_export(script: str, *args: str) -> Path:
    """tests/models/export_cache.py (loaded by path: tests/ is not a package)."""
    if "qcomp_test_export_cache" not in sys.modules:
        spec = importlib.util.spec_from_file_location("qcomp_test_export_cache", MODELS / "export_cache.py")
        sys.modules["qcomp_test_export_cache"] = module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    cache = sys.modules["qcomp_test_export_cache"]
    try:
        return cache.cached_export(MODELS / script, *args)
    except cache.ExportError as e:
        pytest.fail(f"export failed:\n{e}", pytrace=False)


def test_efficientnet_lite0_raw_logits_equal_the_reference(tmp_path):
    support = host_support(get_target("dsp-c"))
    if not support.can_run:
        pytest.skip(f"target dsp-c: {support.why}")
    model = _cached_export("export_efficientnet.py", "--dynamo", "1", "--opset", "18") / "model.onnx"
    rng = np.random.default_rng(0)
    np.save(tmp_path / "calib.npy", rng.normal(0, 1, (4, 3, 224, 224)).astype(np.float32))
    c = qcomp.load(qcomp.build(model, target="dsp-c", calib=tmp_path / "calib.npy", out=tmp_path / "c"))
    ref = qcomp.load(qcomp.build(model, target="ref", calib=tmp_path / "calib.npy", out=tmp_path / "ref"))
    name = c.manifest["inputs"][0]["name"]
    for _ in range(2):
        x = {name: rng.normal(0, 1, (1, 3, 224, 224)).astype(np.float32)}
        got, want = c.run(x, raw=True), ref.run(x, raw=True)
        for out in want:
            assert np.unique(want[out]).size > 20
            np.testing.assert_array_equal(got[out], want[out], err_msg=out)
    assert c.manifest["workspace_bytes"] < c.manifest["activation_bytes"] / 2
