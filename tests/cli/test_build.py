"""qcomp build / run / inspect with artifacts, as users and the README use them."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import qcomp
from qcomp.errors import QcompError

REPO = Path(__file__).resolve().parents[2]
EX = REPO / "examples" / "fashion_mnist"


def cli(*args, cwd=REPO):
    return subprocess.run([sys.executable, "-m", "qcomp", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, timeout=600)


@pytest.fixture(scope="module")
def artifact(tmp_path_factory):
    out = tmp_path_factory.mktemp("art") / "fm.ref"
    r = cli("build", EX / "model.onnx", "--target", "ref", "--calib", EX / "calib.npz", "-o", out)
    assert r.returncode == 0, r.stderr
    assert "built ref artifact" in r.stdout
    return out


def test_manifest_records_the_contract(artifact):
    m = json.loads((artifact / "manifest.json").read_text())
    assert m["format_version"] == 2 and m["target"] == "ref" and m["qcomp_version"] == qcomp.__version__
    assert m["inputs"] == [{"name": "input", "shape": [1, 1, 28, 28], "dtype": "float32", "layout": "NCHW",
                            "quant": m["inputs"][0]["quant"]}]
    assert m["outputs"][0]["name"] == "logits" and "quant" in m["outputs"][0]
    assert len(m["quantized_graph_sha256"]) == 64 and len(m["model"]["sha256"]) == 64
    assert m["calibration"]["samples"] == 256 and m["calibration"]["method"] == "minmax"
    assert m["weight_bytes"] > 0 and (artifact / m["files"]["graph"]).is_file()


def test_same_quantization_whatever_the_output_dir(artifact, tmp_path):
    other = qcomp.build(EX / "model.onnx", target="ref", calib=EX / "calib.npz", out=tmp_path / "again")
    a = json.loads((artifact / "manifest.json").read_text())["quantized_graph_sha256"]
    b = json.loads((other / "manifest.json").read_text())["quantized_graph_sha256"]
    assert a == b
    c = qcomp.build(EX / "model.onnx", target="ref", calib=EX / "calib.npz", out=tmp_path / "pt", per_channel=False)
    assert json.loads((c / "manifest.json").read_text())["quantized_graph_sha256"] != a


def test_run_raw_gives_int8_and_float_dequantizes_it(artifact, tmp_path):
    raw, flt = tmp_path / "raw.npz", tmp_path / "f.npz"
    assert cli("run", artifact, "--input", EX / "input.npz", "--raw", "-o", raw).returncode == 0
    assert cli("run", artifact, "--input", EX / "input.npz", "-o", flt).returncode == 0
    q = json.loads((artifact / "manifest.json").read_text())["outputs"][0]["quant"]
    with np.load(raw) as r, np.load(flt) as f:
        assert r["logits"].dtype == np.int8
        expected = (r["logits"].astype(np.float32) - q["zero_point"]) * np.float32(q["scale"])
        np.testing.assert_array_equal(f["logits"], expected)


def test_api_load_run_matches_cli(artifact):
    x = dict(np.load(EX / "input.npz"))
    out = qcomp.load(artifact).run(x, raw=True)["logits"]
    assert out.dtype == np.int8 and out.shape == (1, 10) and int(np.argmax(out)) == 9


def test_inspect_artifact_shows_quant_params(artifact):
    r = cli("inspect", artifact)
    assert r.returncode == 0, r.stderr
    assert "target ref" in r.stdout and "QUANTIZED" in r.stdout and "q(scale=" in r.stdout


def test_build_refuses_to_clobber_a_foreign_directory(tmp_path):
    d = tmp_path / "mine"
    d.mkdir()
    (d / "notes.txt").write_text("keep me")
    r = cli("build", EX / "model.onnx", "--calib", EX / "calib.npz", "-o", d)
    assert r.returncode == 2 and "not empty" in r.stderr
    assert (d / "notes.txt").read_text() == "keep me"


@pytest.mark.parametrize("args, needle", [
    (["--calib-method", "bogus"], "invalid choice"),
    (["--skip", "no_such_node"], "no_such_node"),
    ([], "--calib is required"),
    (["--target", "nope"], "unknown target"),
])
def test_build_errors_are_clear(tmp_path, args, needle):
    calib = [] if args == [] else ["--calib", EX / "calib.npz"]
    r = cli("build", EX / "model.onnx", *calib, *args, "-o", tmp_path / "o")
    assert r.returncode == 2 and needle in r.stderr and "Traceback" not in r.stderr, r.stderr


def test_config_file_sets_options_and_flags_win(tmp_path):
    cfg = tmp_path / "quant.toml"
    cfg.write_text('calib-method = "percentile"\npercentile = 99.9\nper-tensor = true\n')
    r = cli("build", EX / "model.onnx", "--calib", EX / "calib.npz", "--config", cfg, "-o", tmp_path / "a")
    assert r.returncode == 0, r.stderr
    m = json.loads((tmp_path / "a" / "manifest.json").read_text())
    assert m["calibration"]["method"] == "percentile" and m["build_options"]["per_channel"] is False
    r = cli("build", EX / "model.onnx", "--calib", EX / "calib.npz", "--config", cfg, "--calib-method", "minmax",
            "-o", tmp_path / "b")
    assert json.loads((tmp_path / "b" / "manifest.json").read_text())["calibration"]["method"] == "minmax"
    cfg.write_text('unknown-thing = 1\n')
    r = cli("build", EX / "model.onnx", "--config", cfg, "-o", tmp_path / "c")
    assert r.returncode == 2 and "unknown option 'unknown-thing'" in r.stderr


def test_run_raw_on_an_onnx_model_is_refused():
    r = cli("run", EX / "model.onnx", "--input", EX / "input.npz", "--raw")
    assert r.returncode == 2 and "needs an artifact" in r.stderr


def test_load_checks_the_manifest(tmp_path, artifact):
    with pytest.raises(QcompError, match="not a qcomp artifact"):
        qcomp.load(tmp_path)
    bad = tmp_path / "old"
    bad.mkdir()
    m = json.loads((artifact / "manifest.json").read_text())
    m["format_version"] = 99
    (bad / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(QcompError, match="format version 99"):
        qcomp.load(bad)


@pytest.mark.parametrize("mode", ["weight", "dynamic"])
def test_weight_and_dynamic_modes_need_no_calibration(tmp_path, mode):
    out = qcomp.build(EX / "model.onnx", target="ref", quant=mode, out=tmp_path / mode)
    x = dict(np.load(EX / "input.npz"))
    y = qcomp.load(out).run(x)["logits"]
    f = qcomp.run_float(qcomp.load_model(EX / "model.onnx"), x)["logits"]
    assert np.argmax(y) == np.argmax(f) and np.abs(y - f).max() < 0.2


def test_every_target_compiles_the_same_quantized_graph(artifact, tmp_path):
    """The contract behind bit-exactness: quantization is target-independent, so each backend's
    artifact records the quantized graph hash of the ref artifact (cuda builds without nvcc too)."""
    want = json.loads((artifact / "manifest.json").read_text())["quantized_graph_sha256"]
    built = []
    for name in ("x86-vnni", "dsp-c", "cuda"):
        out = qcomp.build(EX / "model.onnx", target=name, calib=EX / "calib.npz", out=tmp_path / name)
        got = json.loads((out / "manifest.json").read_text())
        assert got["target"] == name and got["quantized_graph_sha256"] == want, name
        built.append(name)
    assert built == ["x86-vnni", "dsp-c", "cuda"]
