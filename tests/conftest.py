"""Fixtures shared by every test folder. Keep this small: folder-specific helpers live in the folder."""
from __future__ import annotations

import numpy as np
import pytest


@pytest.fixture
def rng() -> np.random.Generator:
    """A fresh generator with a fixed seed, so every test sees the same random data on every run."""
    return np.random.default_rng(0)
