"""all-MiniLM-L6-v2 (BERT encoder: int64 token inputs, run-time Gather, QDense/QMatMul, float
LayerNorm and Softmax regions) on x86-vnni (and x86-avx2) against the ref target. Slow: needs the torch export.

The float regions (LayerNorm in float64, Softmax with expf) may differ from the reference by 1 LSB
at the Quantize that ends them (ARCHITECTURE.md 3); on this model and sentence they agree exactly,
so the test asserts equality and will show any drift."""
import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import qcomp
from qcomp.errors import InputError
from qcomp.target import get_target, host_support

REPO = Path(__file__).resolve().parents[3]
pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not host_support(get_target("x86-vnni")).can_run,
                                 reason=f"target x86-vnni: {host_support(get_target('x86-vnni')).why}")]


def _export_cache():
    spec = importlib.util.spec_from_file_location("export_cache", REPO / "tests" / "models" / "export_cache.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_minilm_sentence_matches_ref_and_rejects_bad_token_ids(tmp_path):
    pytest.importorskip("torch")
    folder = _export_cache().cached_export("export_minilm.py", "--seq", "128")
    sentence = dict(np.load(folder / "sentence.npz"))
    np.savez(tmp_path / "calib.npz", **sentence)
    targets = ["x86-vnni"] + (["x86-avx2"] if host_support(get_target("x86-avx2")).can_run else [])
    for target in (*targets, "ref"):
        r = subprocess.run([sys.executable, "-m", "qcomp", "build", folder / "model.onnx", "--target", target,
                            "--calib", tmp_path / "calib.npz", "-o", tmp_path / target], capture_output=True,
                           text=True, cwd=REPO, timeout=900)
        assert r.returncode == 0, r.stderr
    vnni, ref = qcomp.load(tmp_path / "x86-vnni"), qcomp.load(tmp_path / "ref")
    want = ref.run(sentence)
    for target in targets:
        got = qcomp.load(tmp_path / target).run(sentence)
        for name in want:
            assert got[name].dtype == np.float32 and np.abs(want[name]).max() > 1
            np.testing.assert_array_equal(got[name], want[name], err_msg=f"{target}: {name}")
    bad = dict(sentence, input_ids=sentence["input_ids"].copy())
    bad["input_ids"][0, 3] = 40000
    with pytest.raises(InputError, match="Gather index"):
        vnni.run(bad)


def test_minilm_dynamic_quantization_close_to_ref(tmp_path):
    """--quant dynamic: DynamicDense/DynamicMatMul are bit-exact given equal inputs, but the float ops
    around them (Softmax's expf and sum order, erf, float Add) round differently from numpy by an ulp
    or so; the outputs must agree to float32 noise (measured: max |diff| ~1e-6 on values up to ~5)."""
    pytest.importorskip("torch")
    folder = _export_cache().cached_export("export_minilm.py", "--seq", "128")
    sentence = dict(np.load(folder / "sentence.npz"))
    for target in ("x86-vnni", "ref"):
        r = subprocess.run([sys.executable, "-m", "qcomp", "build", folder / "model.onnx", "--target", target,
                            "--quant", "dynamic", "-o", tmp_path / target], capture_output=True, text=True,
                           cwd=REPO, timeout=900)
        assert r.returncode == 0, r.stderr
    got = qcomp.load(tmp_path / "x86-vnni").run(sentence)["last_hidden_state"]
    want = qcomp.load(tmp_path / "ref").run(sentence)["last_hidden_state"]
    assert np.abs(want).max() > 1
    assert np.abs(got - want).max() <= 1e-4, np.abs(got - want).max()


def test_minilm_dynamic_attention_fusion_changes_no_bit(tmp_path, monkeypatch):
    """--quant dynamic on x86-vnni: the six attention cores fused into DynamicAttention
    (passes/fuse_attention.py) give the unfused build's outputs bit for bit."""
    pytest.importorskip("torch")
    from qcomp import builder
    from qcomp.ir.serialize import load_graph
    from qcomp.passes import run_passes
    from qcomp.passes.fuse_attention import fuse_attention
    folder = _export_cache().cached_export("export_minilm.py", "--seq", "128")
    sentence = dict(np.load(folder / "sentence.npz"))
    options = builder.BuildOptions(target="x86-vnni", quant="dynamic")
    fused = builder.build(folder / "model.onnx", tmp_path / "fused", options)
    target = get_target("x86-vnni")
    lowered = run_passes(load_graph(fused / "model.qir"), builder.target_passes(target))
    assert sum(n.kind == "DynamicAttention" for n in lowered.nodes) == 6
    assert not any(n.kind in ("Softmax", "Transpose") for n in lowered.nodes)
    monkeypatch.setitem(builder.BACKEND_FUSIONS, "llvm",
                        tuple(p for p in builder.BACKEND_FUSIONS["llvm"] if p is not fuse_attention))
    unfused = builder.build(folder / "model.onnx", tmp_path / "unfused", options)
    got = qcomp.load(fused).run(sentence)["last_hidden_state"]
    want = qcomp.load(unfused).run(sentence)["last_hidden_state"]
    assert np.abs(want).max() > 1
    np.testing.assert_array_equal(got, want)
