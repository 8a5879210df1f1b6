"""The `--raw` contract (qcomp.artifact.Artifact.run, README `--raw`), on every target, exactly:

- an output with an int8 form (qcomp.ir.io_quant: written by a Dequantize; the manifest gives it
  "quant") comes back as those int8 values, identical on every target, and dequantizing them gives
  the float output bit for bit;
- an output with no int8 form (computed in float: a --skip'ped Softmax or last node;
  no "quant" in the manifest) comes back unchanged: float32, the same bits as without --raw;
- dsp-c has no float kernels: such a model is refused at build, naming the node.
Float outputs are not bit-exact across backends (docs/ARCHITECTURE.md section 3, float regions): each
backend's float kernels round in their own order; the contract's tolerance, FLOAT_ULPS units in the
last place of float32, is checked against ref here.

Models: the bundled Fashion-MNIST CNN with a Softmax appended as a second output, kept in float with
--skip softmax (its logits, written by a Dequantize, are also read by the float Softmax), and the CNN
with its last Dense kept in float.
"""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import helper

import qcomp
from qcomp.errors import UnsupportedModelError
from qcomp.target import get_target, host_support

REPO = Path(__file__).resolve().parents[1]
EX = REPO / "examples" / "fashion_mnist"
COMPILED = ("x86-vnni", "arm-sdot", "cuda")
FLOAT_ULPS = 4   # float outputs of a float region vs ref (docs/ARCHITECTURE.md section 3)
FLOAT_SOFTMAX = ("softmax",)   # --skip: the Softmax stays a float region (else it is the integer Softmax)


def _skip_unless(target: str) -> None:
    s = host_support(get_target(target))
    if not s.can_build or (not s.can_run and target != "cuda"):   # cuda runs emulated
        pytest.skip(f"this host cannot build and run {target}: {s.why}")


@pytest.fixture(scope="module")
def softmax_model(tmp_path_factory) -> Path:
    m = onnx.load(EX / "model.onnx")
    m.graph.node.append(helper.make_node("Softmax", ["logits"], ["probs"], name="softmax", axis=1))
    m.graph.output.append(helper.make_tensor_value_info("probs", onnx.TensorProto.FLOAT, [1, 10]))
    path = tmp_path_factory.mktemp("models") / "softmax.onnx"
    onnx.save(m, path)
    return path


@pytest.fixture(scope="module")
def feeds() -> dict[str, np.ndarray]:
    x = np.load(EX / "samples.npz")["input"][:1].astype(np.float32)
    return {"input": x}


def _build(model: Path, target: str, out: Path, **options):
    _skip_unless(target)
    path = qcomp.build(model, target=target, calib=EX / "calib.npz", out=out, **options)
    return qcomp.load(path, emulate=target == "cuda")


def _check_contract(art, feeds) -> dict[str, np.ndarray]:
    """The contract on one artifact; returns its int8 outputs."""
    raw, plain = art.run(feeds, raw=True), art.run(feeds)
    ints = {}
    for t in art.manifest["outputs"]:
        name, q = t["name"], t.get("quant")
        if q is None:
            assert raw[name].dtype == plain[name].dtype == np.float32, art.target
            np.testing.assert_array_equal(raw[name].view(np.uint32), plain[name].view(np.uint32))
        else:
            assert raw[name].dtype == np.int8, (art.target, name)
            dequantized = (raw[name].astype(np.float32) - np.float32(q["zero_point"])) * np.float32(q["scale"])
            np.testing.assert_array_equal(plain[name].view(np.uint32), dequantized.view(np.uint32))
            ints[name] = raw[name]
    return ints


@pytest.fixture(scope="module")
def ref_softmax(softmax_model, feeds, tmp_path_factory):
    art = _build(softmax_model, "ref", tmp_path_factory.mktemp("ref") / "sm.ref", skip=FLOAT_SOFTMAX)
    outputs = {t["name"]: t for t in art.manifest["outputs"]}
    assert "quant" in outputs["logits"] and "quant" not in outputs["probs"]
    return _check_contract(art, feeds) | {"probs": art.run(feeds)["probs"]}   # int8 logits, float probs


@pytest.mark.parametrize("target", ["ref", *COMPILED])
def test_float_output_unchanged_and_int8_output_exact(softmax_model, feeds, ref_softmax, tmp_path, target):
    art = _build(softmax_model, target, tmp_path / "sm", skip=FLOAT_SOFTMAX)
    ints = _check_contract(art, feeds)
    assert set(ints) == {"logits"}
    np.testing.assert_array_equal(ints["logits"], ref_softmax["logits"])
    assert np.unique(ref_softmax["logits"]).size >= 8
    probs, want = art.run(feeds)["probs"], ref_softmax["probs"]
    limit = FLOAT_ULPS * np.spacing(np.maximum(np.abs(probs), np.abs(want)))
    assert np.all(np.abs(probs - want) <= limit), (target, np.abs(probs - want) / np.spacing(np.abs(want)))
    assert np.unique(want).size >= 8


@pytest.mark.parametrize("target", ["ref", "x86-vnni", "arm-sdot", "cuda"])
def test_skipped_last_node_output_is_float_unchanged(feeds, tmp_path, target, monkeypatch):
    monkeypatch.setattr("qcomp.codegen.cuda.find_nvcc", lambda t: None)   # cuda: model.cu only (runs emulated)
    art = _build(EX / "model.onnx", target, tmp_path / "skip", skip=("/fc2/Gemm",))
    assert "quant" not in art.manifest["outputs"][0]
    assert _check_contract(art, feeds) == {}


@pytest.mark.parametrize("target", ["dsp-c"])
def test_targets_without_the_float_kernel_refuse_the_model_at_build(tmp_path, target):
    _skip_unless(target)
    with pytest.raises(UnsupportedModelError, match="/fc2/Gemm"):
        qcomp.build(EX / "model.onnx", target=target, calib=EX / "calib.npz", out=tmp_path / "o", skip=("/fc2/Gemm",))


def test_dsp_c_refuses_a_float_output_and_its_int8_outputs_are_exact(softmax_model, feeds, tmp_path):
    _skip_unless("dsp-c")
    with pytest.raises(UnsupportedModelError, match="'softmax'"):
        qcomp.build(softmax_model, target="dsp-c", calib=EX / "calib.npz", out=tmp_path / "sm", skip=FLOAT_SOFTMAX)
    want = _check_contract(_build(EX / "model.onnx", "ref", tmp_path / "fm.ref"), feeds)
    got = _check_contract(_build(EX / "model.onnx", "dsp-c", tmp_path / "fm.c"), feeds)
    np.testing.assert_array_equal(got["logits"], want["logits"])


def test_cli_raw_notes_the_float_output(softmax_model, tmp_path):
    _skip_unless("x86-vnni")
    out = qcomp.build(softmax_model, target="x86-vnni", calib=EX / "calib.npz", out=tmp_path / "sm",
                      skip=FLOAT_SOFTMAX)
    r = subprocess.run([sys.executable, "-m", "qcomp", "run", str(out), "--input", str(EX / "input.npz"), "--raw",
                        "-o", str(tmp_path / "raw.npz")], capture_output=True, text=True, cwd=REPO, timeout=600)
    assert r.returncode == 0, r.stderr
    assert "note: output 'probs' has no int8 form (computed in float); --raw leaves it float32" in r.stdout
    assert "'logits' has no int8 form" not in r.stdout
    with np.load(tmp_path / "raw.npz") as z:
        assert z["logits"].dtype == np.int8 and z["probs"].dtype == np.float32
