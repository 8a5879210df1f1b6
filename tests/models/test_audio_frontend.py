"""A keyword model with its audio front end in the graph (export_audio.py, cached): framing by a
strided Conv1d, a DFT as two MatMuls by constant cos / sin matrices, power (Pow and Mul), a mel
MatMul, Log of mel + epsilon, then an LSTM and a Linear classifier.

- float: qcomp's reference matches onnxruntime (compare.py's bounds);
- int8 (static, calibrated on 32 seeded synthetic audio clips; the LSTM's cell state int16, the
  default): the cosine against onnxruntime's FP32 logits is printed and must stay above
  INT8_COSINE_MIN; Log runs as an int8 lookup table (Lut), the cell state's tanh as Lut16;
- every target (x86-vnni, arm-sdot, dsp-c, cortex-m4, cuda --emulate) is bit-exact to ref.
Every artifact is built once per module.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import qcomp
from qcomp.errors import QcompError
from qcomp.ir.serialize import load_graph
from qcomp.passes.lower_integer import lower_integer
from qcomp.target import get_target, host_support

from .compare import check_against_onnxruntime, cosine, run_onnxruntime
from .export_cache import ExportError, cached_export

pytestmark = pytest.mark.slow

TARGETS = ("ref", "x86-vnni", "arm-sdot", "dsp-c", "cortex-m4", "cuda")
INT8_COSINE_MIN = 0.99
SAMPLES, RATE = 224, 16000


def clips(seed: int, n: int) -> np.ndarray:
    """n synthetic clips [n, SAMPLES]: three tones of random pitch, level and phase over white noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(SAMPLES) / RATE
    out = np.zeros((n, SAMPLES))
    for i in range(n):
        for _ in range(3):
            out[i] += rng.uniform(0.4, 2.0) * np.sin(2 * np.pi * rng.uniform(100, 7000) * t + rng.uniform(0, 2 * np.pi))
        out[i] += rng.normal(0, 0.05, SAMPLES)
    return out.astype(np.float32)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """(model path, feeds, onnxruntime's FP32 outputs, {target: raw int8 outputs}, ref artifact)."""
    try:
        path = cached_export("export_audio.py") / "audio_kws.onnx"
    except ExportError as e:
        pytest.fail(f"export failed:\n{e}", pytrace=False)
    root = tmp_path_factory.mktemp("audio_kws")
    np.savez(root / "calib.npz", audio=clips(2, 32))
    feeds = {"audio": clips(1, 1)}
    raw, arts = {}, {}
    for t in TARGETS:
        s = host_support(get_target(t))
        if not s.can_build:
            pytest.skip(f"this host cannot build {t}: {s.why}")
        arts[t] = qcomp.build(path, target=t, calib=root / "calib.npz", out=root / t)
        try:
            raw[t] = qcomp.load(arts[t], emulate=t == "cuda").run(feeds, raw=True)
        except QcompError as e:
            pytest.skip(f"this host cannot run {t}: {e}")
    return path, feeds, run_onnxruntime(path, feeds), raw, arts["ref"]


def test_float_matches_onnxruntime(built):
    path, feeds, *_ = built
    check_against_onnxruntime("audio_kws/float", path, feeds)


def test_int8_cosine_against_fp32(built):
    _, feeds, want, _, ref = built
    got = qcomp.load(ref).run(feeds)
    c = cosine(got["logits"], want["logits"])
    print(f"\n[int8 static vs FP32] audio_kws logits: cosine {c:.6f}", end="")
    assert c >= INT8_COSINE_MIN, c


def test_log_and_cell_state_are_integer(built):
    *_, ref = built
    kinds = {}
    for n in lower_integer(load_graph(Path(ref) / "model.qir")).nodes:
        kinds.setdefault(n.name.rsplit("/", 1)[-1], set()).add(n.kind)
    assert kinds["Log"] == {"Lut"}, kinds["Log"]          # the ONNX node /Log
    assert kinds["c_act"] == {"Lut16"}, kinds["c_act"]    # tanh of the int16 cell state


@pytest.mark.parametrize("target", TARGETS[1:])
def test_bit_exact_to_ref(built, target):
    *_, raw, _ = built
    for k, v in raw["ref"].items():
        np.testing.assert_array_equal(raw[target][k], v, err_msg=f"{target} {k}")
