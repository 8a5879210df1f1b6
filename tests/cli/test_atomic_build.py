"""`qcomp build` is atomic: the artifact is staged in a hidden sibling directory and renamed into place
only when complete. A failed or interrupted build leaves the previous artifact at -o byte for byte
(the same directory, not a copy) and no temporary directory; a later build replaces it."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import qcomp
import qcomp.codegen.llvm
from qcomp.errors import QcompError, UnsupportedModelError

REPO = Path(__file__).resolve().parents[2]
EX = REPO / "examples" / "fashion_mnist"


def _build(out: Path, target: str, **options) -> Path:
    return qcomp.build(EX / "model.onnx", target=target, calib=EX / "calib.npz", out=out, **options)


def snapshot(root: Path) -> tuple[int, dict[str, bytes]]:
    """The directory's inode and every file's bytes, by relative path."""
    return os.stat(root).st_ino, {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
                                  if p.is_file()}


def debris(out: Path) -> list[str]:
    return sorted(p.name for p in out.parent.iterdir() if p.name.startswith(f".{out.name}."))


@pytest.fixture(scope="module")
def previous(tmp_path_factory) -> dict[str, Path]:
    """One finished artifact per target, to be copied under each test's -o."""
    root = tmp_path_factory.mktemp("previous")
    return {t: _build(root / t, t) for t in ("ref", "x86-vnni")}


def _place(previous: Path, out: Path) -> Path:
    subprocess.run(["cp", "-a", str(previous), str(out)], check=True)
    return out


@pytest.mark.parametrize("exc", [RuntimeError("codegen broke"), KeyboardInterrupt()])
def test_a_build_failing_in_codegen_leaves_the_previous_artifact(previous, tmp_path, monkeypatch, exc):
    out = _place(previous["x86-vnni"], tmp_path / "fm.x86")
    before = snapshot(out)
    real_link = qcomp.codegen.llvm.link_shared   # deep in the llvm backend's emit, after most files

    def link_then_fail(obj_path, so_path, *args, **kwargs):
        real_link(obj_path, so_path, *args, **kwargs)
        assert Path(so_path).parent.parent == out.parent and Path(so_path).parent.name.startswith(".fm.x86.tmp-")
        raise exc

    monkeypatch.setattr(qcomp.codegen.llvm, "link_shared", link_then_fail)
    with pytest.raises(type(exc)):
        _build(out, "x86-vnni", per_channel=False)
    assert snapshot(out) == before and debris(out) == []
    monkeypatch.setattr(qcomp.codegen.llvm, "link_shared", real_link)
    _build(out, "x86-vnni", per_channel=False)           # the rerun succeeds and replaces it
    assert snapshot(out)[1] != before[1] and debris(out) == []
    assert qcomp.load(out).manifest["build_options"]["per_channel"] is False
    x = dict(np.load(EX / "input.npz"))
    want = qcomp.load(_build(tmp_path / "ref", "ref", per_channel=False)).run(x, raw=True)["logits"]
    np.testing.assert_array_equal(qcomp.load(out).run(x, raw=True)["logits"], want)


def test_a_model_op_the_backend_lacks_leaves_the_previous_artifact(previous, tmp_path):
    """dsp-c has no float kernels: keeping the last Dense in float fails in its codegen."""
    out = _place(previous["ref"], tmp_path / "fm")
    before = snapshot(out)
    r = subprocess.run([sys.executable, "-m", "qcomp", "build", EX / "model.onnx", "--target", "dsp-c", "--calib",
                        EX / "calib.npz", "--skip", "/fc2/Gemm", "-o", out], capture_output=True, text=True,
                       cwd=REPO, timeout=600)
    assert r.returncode == 2 and "/fc2/Gemm" in r.stderr and "Traceback" not in r.stderr, r.stderr
    first, *problems = r.stderr.strip().splitlines()   # one error: its heading, then one line per node
    assert first.startswith("qcomp build: error: target dsp-c cannot build this model")
    assert problems and all(line.startswith("  - node ") for line in problems), r.stderr
    assert snapshot(out) == before and debris(out) == []
    with pytest.raises(UnsupportedModelError):
        _build(out, "dsp-c", skip=("/fc2/Gemm",))
    assert snapshot(out) == before and debris(out) == []


def test_a_failed_build_removes_the_directories_it_created(tmp_path, monkeypatch):
    def fail(*args, **kwargs):
        raise RuntimeError("linker broke")

    monkeypatch.setattr(qcomp.codegen.llvm, "link_shared", fail)
    with pytest.raises(RuntimeError):
        _build(tmp_path / "a" / "b" / "fm.x86", "x86-vnni")
    assert list(tmp_path.iterdir()) == []


def test_nothing_of_the_user_is_overwritten(tmp_path):
    (tmp_path / "file").write_text("mine")
    with pytest.raises(QcompError, match="is a file"):
        _build(tmp_path / "file", "ref")
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    with pytest.raises(QcompError, match="not empty and is not a qcomp artifact"):
        _build(mine, "ref")
    with pytest.raises(QcompError, match="contains the model"):
        qcomp.build(EX / "model.onnx", target="ref", calib=EX / "calib.npz", out=EX.parent)
    assert (tmp_path / "file").read_text() == "mine" and (mine / "notes.txt").read_text() == "keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "mine"]
    assert not [p for p in EX.parent.iterdir() if p.name.startswith(".examples.")]


def test_sigint_during_codegen_keeps_the_previous_artifact(previous, tmp_path):
    """Ctrl-C while the staged artifact is being compiled: exit 130, one line, nothing changed."""
    out = _place(previous["x86-vnni"], tmp_path / "fm.x86")
    before = snapshot(out)
    # the child's link step waits (up to 120 s) before linking, so the build is still running when the
    # signal comes, however fast or loaded the machine is (without it, a quick build could finish first);
    # and it takes SIGINT as a terminal's Ctrl-C does even where the test runner was started in the
    # background of a non-interactive shell, which leaves SIGINT ignored in every child
    slow_link = ("import signal; signal.signal(signal.SIGINT, signal.default_int_handler)\n"
                 "import time, qcomp.codegen.llvm as llvm; real = llvm.link_shared\n"
                 "def slow(*a, **k):\n    time.sleep(120)\n    return real(*a, **k)\n"
                 "llvm.link_shared = slow\nfrom qcomp.cli import main\nraise SystemExit(main())")
    proc = subprocess.Popen([sys.executable, "-c", slow_link, "build", EX / "model.onnx", "--target", "x86-vnni",
                             "--calib", EX / "calib.npz", "-o", out], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    deadline = time.monotonic() + 300
    while not debris(out) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    staged = debris(out)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=300)
    assert staged and staged[0].startswith(".fm.x86.tmp-"), "the build never staged a directory"
    assert proc.returncode == 130, stderr
    assert stderr.strip() == "qcomp build: interrupted", stderr
    assert snapshot(out) == before and debris(out) == []
