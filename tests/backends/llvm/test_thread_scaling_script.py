"""benchmarks/thread_scaling.py's report from given per-node profiles (no measurement): the speedup,
the time lost to imperfect scaling (t(n) - t(1) / n), the medians over rounds and the record."""
import importlib.util
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]


def _script():
    spec = importlib.util.spec_from_file_location("qcomp_bench_scaling", REPO / "benchmarks" / "thread_scaling.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _profile(conv_ms: float, add_ms: float, threads: int) -> dict:
    return {"threads": threads, "peak_gops": 472.0 * threads, "cpu": "Test CPU", "run_ms": conv_ms + add_ms + 0.1,
            "layers": [["conv", "QConv2D", 100_000_000, conv_ms], ["add", "QAdd", 0, add_ms]]}


def test_report_ranks_nodes_by_lost_time():
    ts = _script()
    got = {1: [_profile(1.0, 0.2, 1), _profile(1.2, 0.2, 1), _profile(1.0, 0.4, 1)],
           2: [_profile(0.5, 0.2, 2), _profile(0.5, 0.3, 2), _profile(0.7, 0.2, 2)]}
    record: dict = {}
    lines = ts.report("art", got, [1, 2], 3, 50, 10, record)
    rows = [line for line in lines if line.startswith("| ")]
    # medians: conv 1.0 -> 0.5 (no loss); add 0.2 -> 0.2 (0.1 ms lost: it did not scale)
    assert rows[1] == "| add | QAdd | 0.0 | 0.2000 | 0.2000 | 1.00x | 0.1000 | - |"
    assert rows[2] == "| conv | QConv2D | 100.0 | 1.0000 | 0.5000 | 2.00x | 0.0000 | 42 % |"   # 400 of 944 GOPS
    assert rows[3].startswith("| all 2 nodes | | 100 | 1.2000 | 0.7000 | 1.71x | 0.1000 |")
    assert record["art"]["2"]["nodes"] == {"conv": 0.5, "add": 0.2}


def test_collect_rotates_the_order(monkeypatch):
    ts = _script()
    calls = []
    monkeypatch.setattr(ts, "profile", lambda a, n, runs: calls.append((a, n)) or {})
    got = ts.collect(["A", "B"], [1, 2], 5, 2)
    assert calls[:4] == [("A", 1), ("B", 1), ("A", 2), ("B", 2)]
    assert calls[4:] == [("B", 1), ("A", 2), ("B", 2), ("A", 1)]
    assert all(len(got[a][n]) == 2 for a in "AB" for n in (1, 2))
