"""The command line as users meet it: names, exit codes, and one clear message per error."""
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from qcomp import __version__
from qcomp.api import parse_input_shapes
from qcomp.errors import QcompError

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "fashion_mnist"


def qcomp(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "qcomp", *map(str, args)], capture_output=True,
                          text=True, cwd=cwd or REPO, timeout=300)


def test_version():
    r = qcomp("--version")
    assert r.returncode == 0 and r.stdout.strip() == f"qcomp {__version__}"


def test_targets_lists_every_target_with_host_support():
    r = qcomp("targets")
    assert r.returncode == 0, r.stderr
    for name in ("x86-vnni", "arm-sdot", "cuda", "dsp-c", "ref"):
        assert name in r.stdout


@pytest.mark.parametrize("spec, ok", [
    ("x=1,3,224,224", {"x": (1, 3, 224, 224)}),
    ("input.1=1x3x8x8", {"input.1": (1, 3, 8, 8)}),
    ("a=b=1,2", {"a=b": (1, 2)}),
    ("x=", None), ("=1,2", None), ("x=1,-2", None), ("x=1,a", None), ("x", None),
])
def test_parse_input_shapes(spec, ok):
    if ok is None:
        with pytest.raises(QcompError, match="expected NAME=D0,D1"):
            parse_input_shapes([spec])
    else:
        assert parse_input_shapes([spec]) == ok


def test_errors_exit_2_with_one_message_and_no_traceback(tmp_path):
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\x00\x01 definitely not a protobuf \xff" * 10)
    for args in (["inspect", junk], ["inspect", tmp_path / "missing.onnx"],
                 ["run", EXAMPLE / "model.onnx", "--input", tmp_path / "missing.npz"],
                 ["inspect", EXAMPLE / "model.onnx", "--input-shape", "oops"]):
        r = qcomp(*args)
        assert r.returncode == 2, (args, r.stderr)
        assert "Traceback" not in r.stderr and r.stderr.startswith("qcomp "), r.stderr
        assert len(r.stderr.strip().splitlines()) == 1, r.stderr


def test_debug_shows_the_traceback(tmp_path):
    r = qcomp("--debug", "inspect", tmp_path / "missing.onnx")
    assert r.returncode == 2 and "Traceback" in r.stderr


def test_inspect_example_prints_nodes_and_totals():
    r = qcomp("inspect", EXAMPLE / "model.onnx")
    assert r.returncode == 0, r.stderr
    for op in ("Conv2D", "BatchNorm", "Relu", "MaxPool2D", "Dense"):
        assert op in r.stdout
    totals = [line for line in r.stdout.splitlines() if line.startswith("nodes:")]
    assert totals and "params:" in totals[0] and "MACs:" in totals[0] and "weight bytes:" in totals[0]
    macs = int(totals[0].split("MACs:")[1].split()[0].replace(",", ""))
    assert macs > 100_000


def test_run_example_writes_outputs_keyed_by_name(tmp_path):
    out = tmp_path / "y.npz"
    r = qcomp("run", EXAMPLE / "model.onnx", "--input", EXAMPLE / "input.npz", "-o", out)
    assert r.returncode == 0, r.stderr
    with np.load(out) as z:
        assert z.files == ["logits"] and z["logits"].shape == (1, 10) and z["logits"].dtype == np.float32


def test_run_rejects_wrong_input_name_and_shape(tmp_path):
    bad = tmp_path / "bad.npz"
    np.savez(bad, wrong=np.zeros((1, 1, 28, 28), np.float32))
    r = qcomp("run", EXAMPLE / "model.onnx", "--input", bad)
    assert r.returncode == 2 and "input" in r.stderr and "Traceback" not in r.stderr
    np.savez(bad, input=np.zeros((1, 1, 27, 28), np.float32))
    r = qcomp("run", EXAMPLE / "model.onnx", "--input", bad)
    assert r.returncode == 2 and "'input'" in r.stderr and "27" in r.stderr, r.stderr
