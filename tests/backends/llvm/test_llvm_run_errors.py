"""The bundled example built for x86-vnni, at its boundary: bad inputs at run time give a clear
InputError through qcomp.load(...).run and exit code 2 with one message through `qcomp run` (never a
traceback or a crash); and a C program using only model.h + model.so prints exactly what
`qcomp run` writes (float outputs and --raw int8 outputs)."""
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import qcomp
from qcomp.errors import InputError
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
def artifact(tmp_path_factory):
    out = tmp_path_factory.mktemp("fm_io") / "x86-vnni"
    qcomp.build(EX / "model.onnx", target="x86-vnni", calib=EX / "calib.npz", out=out)
    return out


def good_input() -> np.ndarray:
    return np.load(EX / "input.npz")["input"].astype(np.float32)


BAD = [
    ("wrong_name", lambda x: {"image": x},
     r"unknown input 'image': the model's inputs are 'input' float32\[1, 1, 28, 28\]"),
    ("extra_input", lambda x: {"input": x, "mask": x}, r"unknown input 'mask'"),
    ("missing_input", lambda x: {}, r"missing input 'input': the model's inputs are 'input' float32"),
    ("wrong_shape", lambda x: {"input": x[..., :27]},
     r"input 'input' has shape \(1, 1, 28, 27\), expected \(1, 1, 28, 28\)"),
    ("batch_of_two", lambda x: {"input": np.concatenate([x, x])}, r"has shape \(2, 1, 28, 28\), expected"),
    ("wrong_dtype", lambda x: {"input": x.astype(np.float64)}, r"input 'input' has dtype float64, expected float32"),
    ("int_pixels", lambda x: {"input": (x * 255).astype(np.uint8)}, r"has dtype uint8, expected float32"),
    ("nan", lambda x: {"input": np.where(x > 0.5, np.nan, x).astype(np.float32)}, r"contains NaN or Inf"),
]


@pytest.mark.parametrize("name,make,message", BAD, ids=[b[0] for b in BAD])
def test_bad_feeds_through_the_python_api(artifact, name, make, message):
    art = qcomp.load(artifact)
    with pytest.raises(InputError, match=message):
        art.run(make(good_input()))
    with pytest.raises(InputError, match=message):
        art.run(make(good_input()), raw=True)
    assert art.run({"input": good_input()})["logits"].shape == (1, 10)   # still usable afterwards


@pytest.mark.parametrize("name,make,message", [b for b in BAD if b[0] in ("wrong_name", "missing_input",
                                                                           "wrong_shape", "wrong_dtype")],
                         ids=["wrong_name", "missing_input", "wrong_shape", "wrong_dtype"])
def test_bad_feeds_through_qcomp_run(artifact, tmp_path, name, make, message):
    np.savez(tmp_path / "bad.npz", **make(good_input()))
    r = cli("run", artifact, "--input", tmp_path / "bad.npz")
    assert r.returncode == 2, r.stdout + r.stderr
    assert r.stderr.startswith("qcomp run: error: ") and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert re.search(message, r.stderr), r.stderr


def test_input_file_that_is_not_npz_through_qcomp_run(artifact, tmp_path):
    # a single .npy array feeds a one-input model (this one) as the .npz of that input does
    np.save(tmp_path / "x.npy", good_input())
    np.savez(tmp_path / "x.npz", input=good_input())
    npy, npz = cli("run", artifact, "--input", tmp_path / "x.npy"), cli("run", artifact, "--input", tmp_path / "x.npz")
    assert npy.returncode == 0 and npy.stdout == npz.stdout and npz.returncode == 0, npy.stderr + npz.stderr
    (tmp_path / "x.txt").write_text("1 2 3\n")
    r = cli("run", artifact, "--input", tmp_path / "x.txt")
    assert r.returncode == 2 and "not a readable .npz" in r.stderr and "Traceback" not in r.stderr
    r = cli("run", artifact, "--input", tmp_path / "missing.npz")
    assert r.returncode == 2 and "no such file" in r.stderr


@pytest.mark.skipif(shutil.which("gcc") is None, reason="gcc is missing (apt-get install gcc)")
def test_c_program_prints_what_qcomp_run_writes(artifact, tmp_path):
    """driver.c (model.h + model.so only, no Python) against `qcomp run -o` (and --raw)."""
    exe = tmp_path / "driver"
    r = subprocess.run(["gcc", "-O2", "-std=c11", "-Wall", "-o", exe, HERE / "driver.c", f"-I{artifact}",
                        f"-L{artifact}", "-l:model.so", f"-Wl,-rpath,{artifact}", "-lm"],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    x = good_input()
    (tmp_path / "in.f32").write_bytes(x.tobytes())
    for mode, flags in (("float", []), ("raw", ["--raw"])):
        r = cli("run", artifact, "--input", EX / "input.npz", "-o", tmp_path / f"{mode}.npz", *flags)
        assert r.returncode == 0, r.stderr
        want = np.load(tmp_path / f"{mode}.npz")["logits"]
        r = subprocess.run([exe, tmp_path / "in.f32", mode], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stdout + r.stderr
        lines = r.stdout.splitlines()
        assert "abi-checks ok" in lines
        rows = [line.split() for line in lines if line.startswith("logits ")]
        assert [int(i) for _, i, _ in rows] == list(range(want.size))
        got = np.array([float(v) for _, _, v in rows], np.float32).reshape(want.shape)
        assert want.dtype == (np.int8 if mode == "raw" else np.float32)
        assert np.unique(want).size > 5
        np.testing.assert_array_equal(got, want.astype(np.float32), err_msg=mode)
