"""Run a torch export script of tests/models/ in a subprocess, once, and cache what it writes.

  cached_export("export_efficientnet.py", "--dynamo", "1", "--opset", "18") -> Path (a directory)

The cache lives in <repo>/.cache/models/ (gitignored; QCOMP_MODEL_CACHE overrides it). A directory
is named after the script and a key,

  key = sha256(script bytes, arguments, torch version)[:16]

so editing the exporting script (or changing its arguments or torch) exports again. The script
writes into a temporary directory that is renamed into place only after it succeeded, under a lock,
so an interrupted or concurrent run never leaves a half-written model behind. A failed export
raises ExportError carrying the script's stderr: the tests that need the model fail with it, they
never skip.
"""
from __future__ import annotations

import fcntl
import hashlib
import importlib.metadata
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
EXPORT_TIMEOUT_S = 900


class ExportError(RuntimeError):
    """An export script failed; the message holds its command, exit code and stderr."""


def cache_root() -> Path:
    return Path(os.environ.get("QCOMP_MODEL_CACHE", REPO / ".cache" / "models"))


def export_key(script: Path, args: tuple[str, ...]) -> str:
    h = hashlib.sha256(script.read_bytes())
    h.update("\0".join(args).encode())
    try:
        h.update(importlib.metadata.version("torch").encode())
    except importlib.metadata.PackageNotFoundError:
        h.update(b"no torch")
    return h.hexdigest()[:16]


def cached_export(script: str | Path, *args: str) -> Path:
    """The directory the export script wrote (OUT_DIR, its first argument), exporting on a miss.
    A relative `script` is a file of tests/models/."""
    script = HERE / script
    root = cache_root()
    root.mkdir(parents=True, exist_ok=True)
    final = root / f"{script.stem.removeprefix('export_')}-{'_'.join(args).replace('-', '')}-{export_key(script, args)}"
    with open(root / f"{final.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # a concurrent run waits here, then finds the result
        if final.is_dir():
            return final
        tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=root))
        cmd = [sys.executable, str(script), str(tmp), *args]
        env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", PYTHONHASHSEED="0")
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=EXPORT_TIMEOUT_S)
        except subprocess.TimeoutExpired as e:
            shutil.rmtree(tmp, ignore_errors=True)
            raise ExportError(f"{' '.join(cmd)} timed out after {EXPORT_TIMEOUT_S} s\n{e.stderr}") from None
        if proc.returncode != 0:
            shutil.rmtree(tmp, ignore_errors=True)
            raise ExportError(f"{' '.join(cmd)} failed with exit code {proc.returncode}\n"
                              f"--- stderr ---\n{proc.stderr}\n--- stdout ---\n{proc.stdout}")
        tmp.chmod(0o755)  # mkdtemp makes it private; the cache is shared like any build output
        tmp.rename(final)
    return final
