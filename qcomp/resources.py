"""Where qcomp's data folders live: `targets/` and `runtime/`.

In a source checkout they sit at the top of the repository; in an installed wheel they are the
data packages `qcomp._data.targets` and `qcomp._data.runtime` (see pyproject.toml).
"""
from __future__ import annotations

import importlib.resources
from pathlib import Path

_REPO = Path(__file__).resolve().parent.parent


def data_dir(name: str) -> Path:
    """Path of the data folder `name` ("targets" or "runtime")."""
    local = _REPO / name
    if (local / ".qcomp-data").exists():
        return local
    try:
        packaged = importlib.resources.files(f"qcomp._data.{name}")
    except ModuleNotFoundError:
        raise FileNotFoundError(f"qcomp's {name}/ folder is missing from this installation; "
                                f"reinstall qcomp") from None
    return Path(str(packaged))
