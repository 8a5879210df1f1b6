"""x86-vnni end to end on the bundled example: `qcomp build` -> model.so, bit-exact to the ref target
(raw int8 and float outputs), through Python (qcomp.load), the CLI and a C program (ABI only)."""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import qcomp
from qcomp.target import get_target, host_support

REPO = Path(__file__).resolve().parents[3]
EX = REPO / "examples" / "fashion_mnist"
HERE = Path(__file__).resolve().parent

pytestmark = pytest.mark.skipif(not host_support(get_target("x86-vnni")).can_run,
                                reason=f"target x86-vnni: {host_support(get_target('x86-vnni')).why}")


def cli(*args):
    return subprocess.run([sys.executable, "-m", "qcomp", *map(str, args)], capture_output=True, text=True,
                          cwd=REPO, timeout=600)


@pytest.fixture(scope="module")
def artifacts(tmp_path_factory):
    root = tmp_path_factory.mktemp("fm")
    for target in ("x86-vnni", "ref"):
        r = cli("build", EX / "model.onnx", "--target", target, "--calib", EX / "calib.npz", "-o", root / target)
        assert r.returncode == 0, r.stderr
    return root / "x86-vnni", root / "ref"


def test_manifest_lists_files_workspace_and_cpu_features(artifacts):
    vnni, _ = artifacts
    m = json.loads((vnni / "manifest.json").read_text())
    assert m["features"] == ["avx512f", "avx512bw", "avx512vl", "avx512_vnni"]   # /proc/cpuinfo names
    assert m["files"]["library"] == "model.so" and m["files"]["header"] == "model.h"
    assert m["workspace_bytes"] > 0 and m["workspace_bytes"] % 64 == 0
    for f in m["files"].values():
        assert (vnni / f).is_file(), f
    assert "qcomp_run_raw" in (vnni / "model.h").read_text()


def test_samples_bit_exact_to_ref(artifacts):
    vnni, ref = qcomp.load(artifacts[0]), qcomp.load(artifacts[1])
    data = np.load(EX / "samples.npz")
    x, labels = data["input"][:100], data["label"][:100]
    correct = 0
    for i in range(len(x)):
        feeds = {"input": x[i:i + 1]}
        got, want = vnni.run(feeds, raw=True)["logits"], ref.run(feeds, raw=True)["logits"]
        assert got.dtype == np.int8 and got.shape == (1, 10)
        np.testing.assert_array_equal(got, want, err_msg=f"sample {i} (raw)")
        got_f, want_f = vnni.run(feeds)["logits"], ref.run(feeds)["logits"]
        assert got_f.dtype == np.float32
        np.testing.assert_array_equal(got_f, want_f, err_msg=f"sample {i} (float)")
        correct += int(got_f.argmax() == labels[i])
    assert correct >= 80, f"accuracy {correct}/100 is implausibly low for the example model"


def test_cli_run_raw_equals_ref(artifacts, tmp_path):
    outs = []
    for art in artifacts:
        out = tmp_path / f"{art.name}.npz"
        r = cli("run", art, "--input", EX / "input.npz", "--raw", "-o", out)
        assert r.returncode == 0, r.stderr
        outs.append(np.load(out)["logits"])
    assert outs[0].dtype == np.int8
    np.testing.assert_array_equal(outs[0], outs[1])


@pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc is missing (apt-get install gcc)")
def test_c_program_through_the_abi_prints_the_same_outputs(artifacts, tmp_path):
    vnni = artifacts[0]
    exe = tmp_path / "driver"
    r = subprocess.run(["gcc", "-O2", "-std=c11", "-o", exe, HERE / "driver.c", f"-I{vnni}", f"-L{vnni}",
                        "-l:model.so", f"-Wl,-rpath,{vnni}", "-lm"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    x = np.load(EX / "input.npz")["input"].astype(np.float32)
    (tmp_path / "in.f32").write_bytes(x.tobytes())
    art = qcomp.load(vnni)
    for mode, want in (("float", art.run({"input": x})["logits"]), ("raw", art.run({"input": x}, raw=True)["logits"])):
        r = subprocess.run([exe, tmp_path / "in.f32", mode], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stdout + r.stderr
        lines = r.stdout.split("\n")
        assert "abi-checks ok" in lines
        values = [line.split() for line in lines if line.startswith("logits ")]
        got = np.array([float(v) for _, _, v in values], np.float32).reshape(want.shape)
        np.testing.assert_array_equal(got, want.astype(np.float32), err_msg=mode)


def test_artifact_needing_a_missing_cpu_feature_is_a_clear_error(artifacts, tmp_path):
    from qcomp.errors import QcompError
    from qcomp.runtime import llvm as runtime
    m = json.loads((artifacts[0] / "manifest.json").read_text())
    m["features"] = m["features"] + ["avx512_imaginary"]
    with pytest.raises(QcompError, match="needs CPU features avx512_imaginary"):   # before loading model.so
        runtime.load(artifacts[0], m, get_target("x86-vnni"))
