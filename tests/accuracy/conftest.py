"""Accuracy guards: qcomp's int8 code against FP32 on real data, with the helpers of
benchmarks/accuracy_lib (the benchmark that writes benchmarks/RESULTS.md measures the same way)."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
if str(BENCHMARKS) not in sys.path:
    sys.path.insert(0, str(BENCHMARKS))


@pytest.fixture(scope="session")
def work(tmp_path_factory) -> Path:
    """A scratch directory for artifacts and quantized models, shared by the session."""
    return tmp_path_factory.mktemp("accuracy")
