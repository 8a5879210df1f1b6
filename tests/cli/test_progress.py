"""Calibration shows a progress bar on a terminal, and nothing of it in logs."""
import os
import pty
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
EX = REPO / "examples" / "fashion_mnist"


def test_progress_bar_on_a_terminal(tmp_path):
    args = [sys.executable, "-m", "qcomp", "build", str(EX / "model.onnx"), "--calib", str(EX / "calib.npz"),
            "-o", str(tmp_path / "a")]
    leader, follower = pty.openpty()
    proc = subprocess.Popen(args, stdin=follower, stdout=follower, stderr=follower, cwd=REPO,
                            env=dict(os.environ, COLUMNS="100", TERM="xterm"))
    os.close(follower)
    chunks = []
    while True:
        try:
            data = os.read(leader, 4096)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    assert proc.wait(timeout=300) == 0
    text = b"".join(chunks).decode(errors="replace")
    assert "calibrating" in text and "/256" in text, text[-2000:]


def test_no_progress_bar_in_logs(tmp_path):
    r = subprocess.run([sys.executable, "-m", "qcomp", "build", str(EX / "model.onnx"), "--calib",
                        str(EX / "calib.npz"), "-o", str(tmp_path / "b")], capture_output=True, text=True,
                       cwd=REPO, timeout=300)
    assert r.returncode == 0 and "calibrating" not in r.stdout + r.stderr
