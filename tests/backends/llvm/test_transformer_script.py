"""benchmarks/transformer.py's report and helpers (from given timings and tensors, no measurement):
the table it renders, the embedding and cosine it scores with, the seeded calibration inputs, and
that it rewrites only its own part of RESULTS.md (appending its markers the first time)."""
import importlib.util
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[3]
FACTS = {"cpu": "Test CPU", "cores": 2, "python": "3.11", "onnxruntime": "1.0", "commit": "abc1234", "dirty": False,
         "load": (1.5, 1.0, 1.0)}


def _script():
    spec = importlib.util.spec_from_file_location("qcomp_bench_transformer", REPO / "benchmarks" / "transformer.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_section_has_one_row_per_model_and_engine():
    tr = _script()
    rows = [{"model": "minilm", "engine": "qcomp dynamic", "threads": 1, "ms": 12.345, "cosine": 0.991234},
            {"model": "minilm", "engine": "qcomp dynamic", "threads": 2, "ms": 7.5, "cosine": 0.991234},
            {"model": "bert_base", "engine": "ort fp32", "threads": 1, "ms": 100.0, "cosine": 1.0}]
    text = tr.section("python benchmarks/transformer.py", FACTS, 128, rows, ["openvino int8 (absent)"],
                      tr.latency_lib())
    assert "| model | engine | 1 thread ms | 2 threads ms | cosine vs FP32 |" in text
    assert "| all-MiniLM-L6-v2 | qcomp dynamic | 12.35 | 7.50 | 0.99123 |" in text
    assert "| BERT-base size (random weights) | ort fp32 | 100.00 | - | 1.00000 |" in text
    assert "Test CPU" in text and "abc1234" in text and "sequence 128" in text and "openvino int8 (absent)" in text


def test_embedding_is_the_masked_mean_and_cosine_is_scale_free():
    tr = _script()
    hidden = np.arange(12, dtype=np.float32).reshape(1, 4, 3)
    mask = np.array([[1, 1, 0, 0]])
    np.testing.assert_allclose(tr.embedding(hidden, mask), [1.5, 2.5, 3.5])
    a = np.array([1.0, 2.0, 3.0])
    assert abs(tr.cosine(a, 3 * a) - 1) < 1e-12 and abs(tr.cosine(a, -a) + 1) < 1e-12


def test_bert_calibration_inputs_are_seeded_token_sequences():
    tr = _script()
    first, again = tr.calibration_inputs("bert_base", 32), tr.calibration_inputs("bert_base", 32)
    assert len(first) == tr.CALIB_SAMPLES
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a["input_ids"], b["input_ids"])
        real = int(a["attention_mask"].sum())
        ids = a["input_ids"][0]
        assert ids[0] == 101 and ids[real - 1] == 102 and (ids[real:] == 0).all()
    assert len({int(f["attention_mask"].sum()) for f in first}) > 1


def test_write_section_appends_then_rewrites_only_its_markers(tmp_path):
    tr = _script()
    results = tmp_path / "RESULTS.md"
    results.write_text("# Results\n\n<!-- other:begin -->\nkeep me\n<!-- other:end -->\n")
    tr.write_section(results, "first\n")
    tr.write_section(results, "second\n")
    doc = results.read_text()
    assert "keep me" in doc and "second" in doc and "first" not in doc
    assert doc.count("<!-- transformer:begin -->") == 1 and doc.endswith("<!-- transformer:end -->\n")


def test_goal_line_states_the_vnni_floor_and_the_share_of_peak_it_needs():
    tr = _script()
    rows = [{"model": "minilm", "engine": "qcomp dynamic", "threads": t, "ms": ms, "cosine": 0.99}
            for t, ms in ((1, 9.0), (2, 4.5))]
    rows += [{"model": "minilm", "engine": "openvino int8", "threads": t, "ms": ms, "cosine": 0.99}
             for t, ms in ((1, 10.0), (2, 5.0))]
    floors = {"minilm": {"macs": 1_000_000_000, "macs_per_s": 250e9, "basis": "test peak at 3.00 GHz (measured)"}}
    text = tr.section("cmd", FACTS, 128, rows, [], tr.latency_lib(), floors)
    one = [line for line in text.splitlines() if line.startswith("all-MiniLM-L6-v2, 1 thread(s)")][0]
    two = [line for line in text.splitlines() if line.startswith("all-MiniLM-L6-v2, 2 thread(s)")][0]
    # 1e9 MACs at 250e9 MACs/s: 4 ms on one core, 2 ms on two; 0.8x the peer: 8 ms and 4 ms
    assert "at 0.90x" in one and "not met" in one
    assert "= 4.00 ms; 0.8x the peer (8.00 ms) needs 50 % of that peak" in one
    assert "qcomp's best runs at 44 %, the peer at 40 %" in one
    assert "= 2.00 ms; 0.8x the peer (4.00 ms) needs 50 % of that peak" in two
