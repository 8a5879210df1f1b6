"""Atomic artifact directories for `qcomp build` (builder.build): -o is checked, the artifact is
written into a hidden sibling (`.OUT.tmp-XXXXXXXX`, same file system) and renamed into place only
when complete. A failure or an interrupt (KeyboardInterrupt included) removes the staging directory
and leaves -o exactly as it was; a previous artifact is replaced by rename, never emptied in place,
and SIGINT/SIGTERM are held back while the two renames run.
"""
from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import threading
from pathlib import Path

from .artifact import MANIFEST
from .errors import QcompError


def check_out(out: Path, model: Path) -> None:
    """Refuse an -o that is not a previous qcomp artifact (or absent, or an empty directory), so
    nothing of the user's is ever overwritten."""
    if model.resolve().is_relative_to(out.resolve()):
        raise QcompError(f"-o {str(out)!r} contains the model {str(model)!r}; choose another output directory")
    if out.exists() or out.is_symlink():
        if not out.is_dir():
            raise QcompError(f"-o {str(out)!r} is a file; give a directory for the artifact")
        if any(out.iterdir()) and not (out / MANIFEST).is_file():
            raise QcompError(f"-o {str(out)!r} is not empty and is not a qcomp artifact; choose a new "
                             f"directory so nothing of yours is overwritten")


def _sibling(out: Path, kind: str) -> Path:
    """A fresh hidden directory name next to `out` (same file system, so renames are atomic)."""
    for _ in range(100):
        candidate = out.parent / f".{out.name}.{kind}-{secrets.token_hex(4)}"
        if not candidate.exists() and not candidate.is_symlink():
            return candidate
    raise QcompError(f"cannot find a free temporary name next to {str(out)!r}")


@contextlib.contextmanager
def _signals_deferred():
    """SIGINT/SIGTERM held back (delivered on exit) while the artifact directories are swapped,
    so an interrupt cannot land between the two renames."""
    held = {signal.SIGINT, signal.SIGTERM}
    main = threading.current_thread() is threading.main_thread()
    if main:
        signal.pthread_sigmask(signal.SIG_BLOCK, held)
    try:
        yield
    finally:
        if main:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, held)


@contextlib.contextmanager
def staged_artifact(out: Path, model: Path):
    """Yield an empty staging directory next to `out`; when the block completes, the staged artifact
    replaces `out` (a previous artifact is renamed aside, the new one renamed in, the old one removed).
    On any exception, KeyboardInterrupt included, the staging directory and the parent directories it
    created are removed and `out` is left exactly as it was."""
    check_out(out, model)
    out = Path(os.path.abspath(out))   # a real name and parent even for "." or "dir/.."
    created = [d for d in (out.parent, *out.parent.parents) if not d.exists()]
    stage = None
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        stage = _sibling(out, "tmp")
        stage.mkdir()
        yield stage
        check_out(out, model)   # again: the user may have put something there while we built
        with _signals_deferred():
            old = _sibling(out, "old") if (out.exists() or out.is_symlink()) else None
            if old is not None:
                os.rename(out, old)
            try:
                os.rename(stage, out)
            except BaseException:
                if old is not None:
                    os.rename(old, out)
                raise
            stage = None
            if old is not None:   # the new artifact is in place: a leftover old copy must not fail the build
                shutil.rmtree(old, ignore_errors=True) if old.is_dir() and not old.is_symlink() else old.unlink()
    except BaseException:
        with _signals_deferred():   # a second Ctrl-C must not leave the cleanup half done
            if stage is not None:
                shutil.rmtree(stage, ignore_errors=True)
            for d in created:   # innermost first
                try:
                    d.rmdir()
                except OSError:
                    break
        raise
