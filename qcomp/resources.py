"""Where qcomp's data folders live: `targets/` and `runtime/`.

In a source checkout (or editable install) they sit at the top of the repository; an installed
wheel carries them as `qcomp/_data/targets` and `qcomp/_data/runtime` (see pyproject.toml).
"""
from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def data_dir(name: str) -> Path:
    """Path of the data folder `name` ("targets" or "runtime")."""
    for candidate in (_PACKAGE.parent / name, _PACKAGE / "_data" / name):
        if (candidate / ".qcomp-data").exists() or (candidate.parent.name == "_data" and candidate.is_dir()):
            return candidate
    raise FileNotFoundError(f"qcomp's {name}/ folder is missing from this installation; reinstall qcomp")
