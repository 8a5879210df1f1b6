"""`qcomp report` ranks tensors by measured sensitivity, and its first suggestion is verified: on a
model with one known bad tensor (tests/accuracy/bad_tensor.py) it names that tensor, and building
with the suggested flags raises the output cosine, measured here independently of qcomp.accuracy."""
import dataclasses
import json

import numpy as np
import pytest

import qcomp
from qcomp.builder import BuildOptions, quantize_model
from qcomp.passes.lower_integer import lower_integer
from qcomp.ref import run_float, run_integer
from qcomp.report import make_report, write_report

from bad_tensor import BAD, write_model, write_samples   # tests/accuracy is on sys.path (no __init__.py)

MARGIN = 0.005   # raising the bad tensor gains ~0.011 of output cosine here (0.986 -> 0.997)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    d = tmp_path_factory.mktemp("sens")
    model = write_model(d / "bad.onnx")
    calib = write_samples(d / "calib.npz", 24, seed=1)
    data = write_samples(d / "data.npz", 16, seed=2)
    graph = qcomp.load_model(model)
    options = BuildOptions(calib=str(calib))
    report = make_report(graph, options, data=data, model_name="bad.onnx")
    return graph, options, data, report, d


def _cosine(graph, q, data) -> float:
    """Output cosine of the quantized graph q vs float over every sample of `data` (run here directly)."""
    x = np.load(data)["x"]
    ref, got = [], []
    target = lower_integer(q)
    for i in range(len(x)):
        feeds = {"x": x[i:i + 1]}
        ref.append(run_float(graph, feeds)["logits"].ravel())
        got.append(run_integer(target, feeds)["logits"].ravel())
    a, b = np.concatenate(ref).astype(np.float64), np.concatenate(got).astype(np.float64)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_first_suggestion_names_the_bad_tensor_and_improves_the_output(setup):
    graph, options, data, report, _ = setup
    best = report.sensitivity.ranked()[0]
    assert best.tensor == BAD and best.kind == "float"
    assert dict(best.entries) == {"conv1": "float", "conv2": "float"}   # the region that keeps `hot` off the grid
    default, _ = quantize_model(graph, options)
    flags = tuple(f"{k}={v}" for k, v in best.entries)
    raised, _ = quantize_model(graph, dataclasses.replace(options, precision=flags))
    before, after = _cosine(graph, default, data), _cosine(graph, raised, data)
    assert after > before + MARGIN, (before, after)
    # the report measured the same two numbers on its 8 evenly spread samples
    assert report.sensitivity.baseline < report.sensitivity.baseline + best.gain == pytest.approx(best.cosine)
    assert best.cosine > report.sensitivity.baseline + MARGIN
    others = report.sensitivity.ranked()[1:]
    assert others and all(r.gain < best.gain / 2 for r in others)


def test_report_prints_and_writes_the_ranking(setup, capsys):
    from rich.console import Console

    from qcomp.report import print_report
    _, _, _, report, d = setup
    print_report(report, Console(width=200, highlight=False), top=5)
    out = capsys.readouterr().out
    assert "most sensitive tensors" in out
    first = next(line for line in out.splitlines() if line.startswith("suggestion: "))
    assert first.startswith("suggestion: --precision conv1=float --precision conv2=float ") and BAD in first
    data = json.loads((write_report(report, d / "rep")["json"]).read_text())
    s = data["sensitivity"]
    assert s["suggestions"][0] == "--precision conv1=float --precision conv2=float"
    assert s["ranked"][0]["tensor"] == BAD and s["samples"] == 8 and s["kinds"] == ["int16", "float"]
    assert [r["gain"] for r in s["ranked"]] == sorted((r["gain"] for r in s["ranked"]), reverse=True)
