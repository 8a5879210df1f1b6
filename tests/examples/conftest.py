"""Load the example's scripts (examples/fashion_mnist/*.py) as modules with unique names, and give the
tests the paths of its committed fixtures."""
from __future__ import annotations

import importlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

EXAMPLE_DIR = Path(__file__).resolve().parents[2] / "examples" / "fashion_mnist"


def load_example_module(name: str) -> ModuleType:
    """examples/fashion_mnist/<name>.py as a module. The scripts import their sibling `fmnist_data`
    from their own folder (they put it on sys.path, as running them as scripts does); the scripts
    themselves get unique names (`fashion_mnist_train`, ...) so nothing named `train` leaks."""
    if str(EXAMPLE_DIR) not in sys.path:
        sys.path.insert(0, str(EXAMPLE_DIR))
    if name == "fmnist_data":
        return importlib.import_module(name)
    key = f"fashion_mnist_{name}"
    if key not in sys.modules:
        spec = importlib.util.spec_from_file_location(key, EXAMPLE_DIR / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[key] = module  # before exec: dataclasses look their module up there
        try:
            spec.loader.exec_module(module)
        except BaseException:
            del sys.modules[key]
            raise
    return sys.modules[key]


@pytest.fixture(scope="session")
def example_dir() -> Path:
    return EXAMPLE_DIR


@pytest.fixture(scope="session")
def fm_data() -> ModuleType:
    return load_example_module("fmnist_data")


@pytest.fixture(scope="session")
def fm_eval() -> ModuleType:
    return load_example_module("evaluate")


@pytest.fixture(scope="session")
def fm_train() -> ModuleType:
    pytest.importorskip("torch", reason="train.py needs torch==2.13.0 (scripts/setup.sh --test installs it)")
    return load_example_module("train")


@pytest.fixture(scope="session")
def idx_available(fm_data) -> None:
    """Skip (with the reason) when the Debian package with the IDX files is not installed."""
    if not fm_data.available():
        pytest.skip(f"Fashion-MNIST IDX files missing in {fm_data.DATA_DIR}: apt-get install dataset-fashion-mnist")
