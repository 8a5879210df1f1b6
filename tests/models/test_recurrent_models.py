"""Recurrent models exported with torch (export_recurrent.py, cached): a keyword-spotting LSTM and a
CRNN recognizer head (bidirectional GRU then bidirectional LSTM).

- float: qcomp's reference matches onnxruntime (compare.py's bounds);
- int8 (static, calibrated on 32 seeded samples): the cosine against onnxruntime's FP32 output is
  printed and recorded, and must stay above INT8_COSINE_MIN; the x86-vnni and dsp-c artifacts are
  bit-exact to the ref artifact;
- `--quant dynamic` (the gate matrix products as DynamicDense): close to FP32, x86-vnni equal to ref up
  to the float rounding of the float ops around the products.
Every artifact is built once per module.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest

import qcomp
from qcomp.ir.serialize import load_graph
from qcomp.target import get_target, host_support

from .compare import check_against_onnxruntime, cosine, max_rel, random_feeds, run_onnxruntime
from .export_cache import ExportError, cached_export

pytestmark = pytest.mark.slow

MODELS = ("kws_lstm", "crnn_head")
TARGETS = ("ref", "x86-vnni", "dsp-c")
INT8_COSINE_MIN = 0.99
DYNAMIC_COSINE_MIN = 0.999


@pytest.fixture(scope="module")
def exported() -> Path:
    try:
        return cached_export("export_recurrent.py")
    except ExportError as e:
        pytest.fail(f"export failed:\n{e}", pytrace=False)


@pytest.fixture(scope="module", params=MODELS)
def built(request, exported, tmp_path_factory):
    """(name, model path, feeds, onnxruntime's FP32 outputs, {target: int8 outputs}, {target: dynamic outputs})."""
    name = request.param
    path = exported / f"{name}.onnx"
    m = onnx.load(path)
    feeds = random_feeds(m, seed=1)
    rng = np.random.default_rng(2)
    calib = {k: rng.standard_normal((32,) + v.shape[1:]).astype(np.float32) for k, v in feeds.items()}
    root = tmp_path_factory.mktemp(name)
    np.savez(root / "calib.npz", **calib)
    static, dynamic = {}, {}
    for t in TARGETS:
        s = host_support(get_target(t))
        if not (s.can_build and s.can_run):
            pytest.skip(f"this host cannot build and run {t}: {s.why}")
        art = qcomp.build(path, target=t, calib=root / "calib.npz", out=root / t)
        static[t] = qcomp.load(art).run(feeds)
    for t in TARGETS[:2]:
        art = qcomp.build(path, target=t, quant="dynamic", out=root / f"{t}_dynamic")
        dynamic[t] = qcomp.load(art).run(feeds)
        if t == "ref":
            kinds = {n.kind for n in load_graph(art / "model.qir").nodes}
            assert "DynamicDense" in kinds, kinds
    return name, path, feeds, run_onnxruntime(path, feeds), static, dynamic


def test_float_matches_onnxruntime(built):
    name, path, feeds, *_ = built
    check_against_onnxruntime(f"{name}/float", path, feeds)


def test_int8_cosine_against_fp32(built):
    name, _, _, want, static, _ = built
    for out, b in want.items():
        a = static["ref"][out]
        c, r = cosine(a, b), max_rel(a, b)
        print(f"\n[int8 static vs FP32] {name} {out} {b.shape}: cosine {c:.6f}, max_rel {r:.2e}", end="")
        assert c >= INT8_COSINE_MIN, (name, out, c)


@pytest.mark.parametrize("target", TARGETS[1:])
def test_int8_targets_are_bit_exact_to_ref(built, target):
    _, _, _, want, static, _ = built
    for out in want:
        np.testing.assert_array_equal(static[target][out], static["ref"][out], err_msg=f"{target} {out}")


def test_dynamic_quantization(built):
    name, _, _, want, _, dynamic = built
    for out, b in want.items():
        c = cosine(dynamic["ref"][out], b)
        print(f"\n[int8 dynamic vs FP32] {name} {out}: cosine {c:.6f}", end="")
        assert c >= DYNAMIC_COSINE_MIN, (name, out, c)
        # the float ops between the DynamicDense products may round differently (ARCHITECTURE.md section 3)
        np.testing.assert_allclose(dynamic["x86-vnni"][out], dynamic["ref"][out], rtol=1e-5, atol=1e-6)
