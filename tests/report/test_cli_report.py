"""`qcomp report` on the command line."""
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "fashion_mnist"


def qcomp(*args):
    return subprocess.run([sys.executable, "-m", "qcomp", *map(str, args)], capture_output=True, text=True,
                          cwd=REPO, timeout=300)


def test_report_writes_files_and_prints_the_worst_layers(tmp_path):
    out = tmp_path / "rep"
    r = qcomp("report", EXAMPLE / "model.onnx", "--calib", EXAMPLE / "calib.npz", "--calib-size", 64,
              "--data", EXAMPLE / "samples.npz", "--data-size", 30, "-o", out, "--top", 3)
    assert r.returncode == 0, r.stderr
    assert "worst 3 layers (lowest SNR)" in r.stdout and "most sensitive tensors" in r.stdout
    assert "logits" in r.stdout and "/conv2/Conv" in r.stdout
    data = json.loads((out / "report.json").read_text())
    assert data["data"]["samples"] == 30 and data["calibration"]["samples"] == 64
    assert data["data"]["labels"] == "label"
    assert (out / "report.csv").read_text().count("\n") == len(data["layers"]) + 1
    assert "<svg" in (out / "report.html").read_text()


def test_report_errors_are_one_line(tmp_path):
    model, calib = EXAMPLE / "model.onnx", EXAMPLE / "calib.npz"
    for args in (["--calib", calib, "--data", tmp_path / "missing.npz"],
                 ["--calib", calib, "--data-size", 0],
                 []):                                          # no data at all
        r = qcomp("report", model, "-o", tmp_path / "rep", *args)
        assert r.returncode == 2, (args, r.stderr)
        assert r.stderr.startswith("qcomp report: error: ") and len(r.stderr.strip().splitlines()) == 1, r.stderr
