"""benchmarks/latency_avx2.py's report: the section it writes from given timings and dot-node forms
(no measurement)."""
import importlib.util
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
FACTS = {"cpu": "Test CPU", "CPU family": "25", "Model": "17", "cores": 2, "onnxruntime": "1.0",
         "commit": "abc1234", "dirty": False}


def _script():
    spec = importlib.util.spec_from_file_location("qcomp_bench_latency_avx2", REPO / "benchmarks" / "latency_avx2.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_section_rows_ratios_and_forms():
    script = _script()
    t = lambda a, v, i: {"x86-avx2": [a / 1e3] * 3, "x86-vnni": [v / 1e3] * 3, "int8": [i / 1e3] * 3,  # noqa: E731
                         "load": [1.0, 1.5]}
    rows = [("resnet18", 1, t(30.0, 10.0, 12.0)), ("mobilenet_v2", 2, t(6.0, 3.0, 2.0))]
    forms = {"resnet18": {"fast": 1, "fast+fix": 18, "wide": 2, "corrected": 0.145},
             "mobilenet_v2": {"fast": 0, "fast+fix": 21, "wide": 15, "corrected": 0.29}}
    builds = {("resnet18", "x86-avx2"): 7.9, ("resnet18", "x86-vnni"): 9.0,
              ("mobilenet_v2", "x86-avx2"): 12.1, ("mobilenet_v2", "x86-vnni"): 14.0}
    text = script.section("python benchmarks/latency_avx2.py", FACTS, rows, forms, builds, 60.0, 3, 1)
    assert text.startswith("## x86-avx2")
    assert "| ResNet-18-style | 1 | 30.00 | 10.00 | 12.00 | 3.00 | 2.50 | 1.0 / 1.5 |" in text
    assert "| MobileNetV2-style | 2 | 6.00 | 3.00 | 2.00 | 2.00 | 3.00 | 1.0 / 1.5 |" in text
    assert "| ResNet-18-style | 1 | 18 (14 %) | 2 | 7.9 | 9.0 |" in text
    assert "family 25 model 17" in text
