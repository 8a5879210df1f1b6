"""benchmarks/transformer16.py's report (from given timings, no measurement): one row per engine, the
CPU column at 1 thread, and the int16 / int8 ratios before (the baseline build) and after."""
import importlib.util
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
FACTS = {"cpu": "Test CPU", "cores": 2, "python": "3.11", "onnxruntime": "1.0", "commit": "abc1234", "dirty": False,
         "load": (1.5, 1.0, 1.0)}


def _script():
    spec = importlib.util.spec_from_file_location("qcomp_bench_transformer16", REPO / "benchmarks" / "transformer16.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_section_rows_and_ratios():
    t16 = _script()
    ms = {("qcomp static int16", 1): 30.0, ("qcomp static int16", 2): 20.0, ("qcomp static int8", 1): 25.0,
          ("qcomp static int8", 2): 16.0, ("qcomp static int16 @base", 1): 60.0, ("qcomp static int16 @base", 2): 40.0}
    cpu = {("qcomp static int16", 1): 29.0, ("qcomp static int8", 1): 24.0, ("qcomp static int16 @base", 1): 58.0}
    cos = {"qcomp static int16": [0.99, 0.98], "qcomp static int8": [0.9, 0.8], "qcomp static int16 @base": [0.99, 0.98]}
    profile = [("QDense16", 36, 12.5), ("Lut16", 32, 2.25)]
    text = t16.section("python benchmarks/transformer16.py", FACTS, 128, ms, cpu, cos, profile, "base",
                       t16.tr.latency_lib())
    assert "| engine | 1 thread ms | 2 threads ms | 1 thread CPU ms | cosine vs FP32 |" in text
    assert "| qcomp static int16 | 30.00 | 20.00 | 29.00 | 0.98500 (0.98000) |" in text
    assert "| qcomp static int16 @base | 60.00 | 40.00 | 58.00 | 0.98500 (0.98000) |" in text
    assert "int16 / int8 latency, 1 thread(s), wall: 1.20 (at base: 2.40; the int16 build 2.00x faster now)." in text
    assert "int16 / int8 latency, 2 thread(s), wall: 1.25 (at base: 2.50; the int16 build 2.00x faster now)." in text
    assert "int16 / int8 latency, 1 thread, CPU: 1.21 (at base: 2.42; the int16 build 2.00x faster now)." in text
    assert "| QDense16 | 36 | 12.500 |" in text and "Test CPU" in text and "abc1234" in text
