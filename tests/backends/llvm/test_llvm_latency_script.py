"""benchmarks/latency.py's report: the section it writes (from given timings, no measurement) and
that it rewrites only its own part of RESULTS.md."""
import importlib.util
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]


def _latency():
    spec = importlib.util.spec_from_file_location("qcomp_bench_latency", REPO / "benchmarks" / "latency.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


FACTS = {"cpu": "Test CPU", "cores": 2, "python": "3.11", "onnxruntime": "1.0", "commit": "abc1234", "dirty": False,
         "load": (1.0, 1.0, 1.0)}


def test_section_states_goal_per_model_and_thread_count():
    lat = _latency()
    t = lambda q, f, i: {"qcomp": [q / 1e3] * 3, "fp32": [f / 1e3] * 3, "int8": [i / 1e3] * 3,  # noqa: E731
                         "threads_in_effect": 1, "load": [1.0, 1.2]}
    latency = [("resnet18", 1, t(4.0, 10.0, 5.0)), ("resnet18", 2, t(3.0, 6.0, 2.5)),
               ("mobilenet_v2", 1, t(2.0, 3.0, 1.5))]
    convs = [("layer", 100_000_000, 1, {"qcomp": [0.5e-3] * 3, "threads_in_effect": 1, "load": [1, 1]})]
    text = lat.section("python benchmarks/latency.py", FACTS, 3e9, 5.7e9, latency, convs, {"resnet18": 12.0}, 60.0,
                       3, 1)
    rows = [line for line in text.splitlines() if line.startswith("| ResNet") or line.startswith("| MobileNet")]
    assert "| 4.00 | 10.00 | 5.00 | 0.40 | 0.80 | met | 5.2 |" in rows[0]
    assert "| 3.00 | 6.00 | 2.50 | 0.50 | 1.20 | not met | 2.9 |" in rows[1]
    assert "not met" in rows[2] and "Goal met in 1 of 3" in text
    # 100 MMACs in 0.5 ms = 400 GOPS; peak 2 x 64 x 2 x 3 GHz = 768 GOPS -> 52 %
    assert "| 400 | 52 % |" in text and "768 GOPS" in text and "1.90 per cycle" in text
    assert "python benchmarks/latency.py" in text and "abc1234" in text


def test_write_section_rewrites_only_its_markers(tmp_path):
    lat = _latency()
    doc = ("# Results\n\n<!-- other:begin -->\nkeep me\n<!-- other:end -->\n\n"
           "<!-- x86-latency:begin -->\nold figures\n<!-- x86-latency:end -->\n\ntail text\n")
    path = tmp_path / "RESULTS.md"
    path.write_text(doc)
    lat.write_section(path, "new figures\n")
    out = path.read_text()
    assert "old figures" not in out and "<!-- x86-latency:begin -->\nnew figures\n<!-- x86-latency:end -->" in out
    assert out.replace("new figures", "old figures") == doc
