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
    """qcomp against the best int8 peer measured (goal: <= 0.8x); a peer without a figure says why."""
    lat = _latency()
    import peers
    ms = lambda x: {"ms": x, "rounds": [x, x], "loads": [1.0, 1.2]}  # noqa: E731
    gone = peers.Unavailable("openvino, nncf not installed in this Python")
    t = lambda q, f, i, tv: {"qcomp": {**ms(q), "threads_in_effect": 1}, "ort fp32": ms(f),  # noqa: E731
                             "ort int8": ms(i), "openvino int8": gone, "tvm fp32": ms(50.0), "tvm qdq": ms(tv)}
    latency = [("resnet18", 1, t(4.0, 10.0, 5.0, 40.0)), ("resnet18", 2, t(3.0, 6.0, 2.5, 40.0)),
               ("mobilenet_v2", 1, t(2.0, 3.0, 1.5, 1.0))]
    convs = [("layer", 100_000_000, 1, {"qcomp": [0.5e-3] * 3, "threads_in_effect": 1, "load": [1, 1]})]
    text = lat.section("python benchmarks/latency.py", FACTS, 3e9, 5.7e9, latency, convs, {"resnet18": 12.0}, 60.0,
                       3, 1)
    rows = [line for line in text.splitlines() if line.startswith("| ResNet") or line.startswith("| MobileNet")]
    assert "| 4.00 | 10.00 | 5.00 | n/a | 50.00 | 40.00 | 0.80 (ort int8 (QDQ)) | met |" in rows[0]
    assert "| 3.00 | 6.00 | 2.50 | n/a | 50.00 | 40.00 | 1.20 (ort int8 (QDQ)) | not met |" in rows[1]
    assert "| 2.00 (TVM QDQ) | not met |" in rows[2] and "met in 1 of 3" in text
    assert "OpenVINO int8 (NNCF): no figure (ResNet-18-style 1t, ResNet-18-style 2t, MobileNetV2-style 1t): " \
           "openvino, nncf not installed" in text
    # 100 MMACs in 0.5 ms = 400 GOPS; peak 2 x 64 x 2 x 3 GHz = 768 GOPS -> 52 %
    assert "| 400 | 52 % |" in text and "768 GOPS" in text and "1.90 per cycle" in text
    assert "python benchmarks/latency.py" in text and "abc1234" in text


def test_rounds_alternate_the_order_and_take_the_median_of_round_medians():
    lat = _latency()
    import peers
    order = []

    def spawn(engine):
        order.append(engine)
        if engine == "broken":
            raise RuntimeError("timing child failed:\nImportError: no module")
        return {"seconds": [len(order) * 1e-3] * 3, "load": [1.0, 1.0]}
    out = peers.time_rounds(spawn, ["a", "b", "broken"], 3)
    assert order == ["a", "b", "broken", "b", "a", "a", "b"]   # broken: dropped after its failure
    assert out["a"]["rounds"] == [1.0, 5.0, 6.0] and out["a"]["ms"] == 5.0
    assert out["broken"]["error"] == "ImportError: no module" and "ms" not in out["broken"]
    assert lat.ENGINES["qcomp"] == "qcomp x86-vnni"


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
