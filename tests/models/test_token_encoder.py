"""A tiny transformer encoder with token-id and attention-mask inputs (export_token_encoder.py:
vocab 40, hidden 16, 2 heads, sequence 8, int64 `input_ids` and `attention_mask`, seeded random
weights) on every backend:
- the float reference matches onnxruntime;
- the lowered graph is integer-only: the token embedding is a Gather of the int8 table by the run-time
  ids, the mask's Cast and Quantize one IntLut (passes/lower_int_boundary.py), then Luts for
  (1 - mask) * -10000; so dsp-c and cortex-m4 build it;
- every backend equals the ref target bit for bit (raw int8 outputs), and a token id outside the
  vocabulary is one InputError on each;
- the int8 output's cosine against the float model is printed and must stay >= 0.99 (measured:
  0.9993 mean, 0.9969 minimum over 8 inputs, most of them padded)."""
from __future__ import annotations

import numpy as np
import pytest

import qcomp
from qcomp.errors import InputError
from qcomp.ir.serialize import load_graph
from qcomp.passes.lower_integer import lower_integer
from qcomp.target import get_target, host_support

from .export_cache import ExportError, cached_export

pytestmark = pytest.mark.slow

SAMPLES, VOCAB, SEQ = 8, 40, 8
TARGETS = ("x86-vnni", "dsp-c", "cuda")   # cortex-m4 runs the same C kernels (the op-case table)


def _sample(rng) -> dict[str, np.ndarray]:
    ids = rng.integers(0, VOCAB, (1, SEQ)).astype(np.int64)
    mask = np.zeros((1, SEQ), np.int64)
    mask[0, :int(rng.integers(3, SEQ + 1))] = 1
    return {"input_ids": ids, "attention_mask": mask}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    pytest.importorskip("torch")
    try:
        model = cached_export("export_token_encoder.py") / "model.onnx"
    except ExportError as e:
        pytest.fail(f"export failed:\n{e}", pytrace=False)
    base = tmp_path_factory.mktemp("token_encoder")
    rng = np.random.default_rng(1)
    calib = [_sample(rng) for _ in range(32)]
    np.savez(base / "calib.npz", **{k: np.stack([c[k] for c in calib]) for k in calib[0]})
    feeds = [_sample(rng) for _ in range(SAMPLES)]
    arts = {"ref": qcomp.build(model, target="ref", calib=base / "calib.npz", out=base / "ref")}
    for t in TARGETS:
        support = host_support(get_target(t))
        if support.can_run or (t == "cuda" and support.can_build):
            arts[t] = qcomp.build(model, target=t, calib=base / "calib.npz", out=base / t)
    return model, arts, feeds


def test_float_reference_matches_onnxruntime(built):
    ort = pytest.importorskip("onnxruntime")
    model, _, feeds = built
    session, graph = ort.InferenceSession(str(model)), qcomp.load_model(model)
    for f in feeds:
        np.testing.assert_allclose(qcomp.run_float(graph, f)["y"], session.run(None, f)[0], rtol=1e-4, atol=1e-4)


def test_lowered_graph_is_integer_only(built):
    _, arts, _ = built
    kinds = {n.kind for n in lower_integer(load_graph(arts["ref"] / "model.qir")).nodes}
    assert {"Gather", "IntLut", "QSoftmax", "QLayerNorm"} <= kinds and "Cast" not in kinds, kinds
    assert "dsp-c" in arts


def test_every_backend_equals_ref_and_refuses_bad_ids(built):
    _, arts, feeds = built
    ref = qcomp.load(arts["ref"])
    want = [ref.run(f, raw=True)["y"] for f in feeds]
    bad = dict(feeds[0], input_ids=feeds[0]["input_ids"].copy())
    bad["input_ids"][0, 5] = VOCAB
    for target, path in arts.items():
        art = qcomp.load(path, emulate=True) if target == "cuda" else qcomp.load(path)
        for f, w in zip(feeds, want):
            np.testing.assert_array_equal(art.run(f, raw=True)["y"], w, err_msg=target)
        with pytest.raises(InputError, match="out of range"):
            art.run(bad)


def test_int8_output_follows_the_float_model(built):
    model, arts, feeds = built
    graph, ref = qcomp.load_model(model), qcomp.load(arts["ref"])
    cos = []
    for f in feeds:
        a, b = qcomp.run_float(graph, f)["y"].ravel(), ref.run(f)["y"].ravel()
        cos.append(float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b))))
    print(f"token encoder int8 vs float cosine: mean {np.mean(cos):.4f}, min {np.min(cos):.4f}")
    assert min(cos) >= 0.99
