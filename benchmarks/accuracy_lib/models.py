"""The real models of the benchmark, exported once by the scripts of tests/models/ and cached there
(tests/models/export_cache.py: <repo>/.cache/models/, keyed by script, arguments and torch version).

EfficientNet-Lite0: the dynamo export (opset 18, BatchNorm folded by the exporter).
all-MiniLM-L6-v2: the encoder at sequence length 128, inputs input_ids and attention_mask.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
EFFICIENTNET_ARGS = ("--dynamo", "1", "--opset", "18")
MINILM_ARGS = ("--seq", "128")


def export_cache():
    path = REPO / "tests" / "models" / "export_cache.py"
    spec = importlib.util.spec_from_file_location("qcomp_bench_export_cache", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def efficientnet_lite0() -> Path:
    return export_cache().cached_export("export_efficientnet.py", *EFFICIENTNET_ARGS) / "model.onnx"


def minilm_dir() -> Path:
    """The directory with model.onnx (and sentence.npz) of all-MiniLM-L6-v2, sequence 128."""
    return export_cache().cached_export("export_minilm.py", *MINILM_ARGS)
