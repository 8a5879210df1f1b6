"""The report on the bundled example (examples/fashion_mnist: calib.npz, samples.npz with labels), its
files, and two deliberately broken quantizations that the report must point at."""
import csv
import json
import math
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from qcomp.api import load_model
from qcomp.builder import FLOAT_PASSES, BuildOptions, quantize_model
from qcomp.ir import DType, QuantParams, TensorType, verify
from qcomp.passes import run_passes
from qcomp.passes.lower_integer import lower_integer
from qcomp.ref import run_float, run_integer
from qcomp.report import Report, Source, compare, make_report, write_report
from qcomp.report.data import open_data
from qcomp.report.write import CSV_COLUMNS

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "fashion_mnist"
OPTIONS = BuildOptions(calib=str(EXAMPLE / "calib.npz"))
EVAL_SAMPLES = 100


@pytest.fixture(scope="module")
def float_graph():
    return load_model(EXAMPLE / "model.onnx")


@pytest.fixture(scope="module")
def report(float_graph):
    return make_report(float_graph, OPTIONS, data=EXAMPLE / "samples.npz", data_size=EVAL_SAMPLES,
                       model_name="model.onnx")


@pytest.fixture(scope="module")
def quantized(float_graph):
    q, _ = quantize_model(float_graph, OPTIONS)
    return run_passes(float_graph, FLOAT_PASSES), q


def _int8_activations(q) -> list[str]:
    return [v for n in q.nodes for v in n.outputs if q.types[v].dtype is DType.INT8]


def test_one_row_per_int8_value_in_graph_order(report, quantized):
    _, q = quantized
    assert [r.value for r in report.layers] == _int8_activations(q)
    assert [r.index for r in report.layers] == list(range(len(report.layers)))
    by_value = {r.value: r for r in report.layers}
    assert by_value["input_q"].float_value == "input" and by_value["input_q"].op == "Quantize"
    assert by_value["logits_q"].float_value == "logits" and by_value["logits_q"].node == "/fc2/Gemm"
    for r in report.layers:
        qp = q.types[r.value].quant
        assert (r.scale, r.zero_point) == (float(qp.scale[0]), int(qp.zero_point[0]))


def test_numbers_are_sensible(report):
    assert report.data.samples == EVAL_SAMPLES and report.labels == "label"
    assert report.calibration.samples == 256 and report.calibration_method == "minmax"
    cosines = [r.error.cosine for r in report.layers]
    assert sum(c > 0.99 for c in cosines) >= 0.9 * len(cosines) and min(cosines) > 0.98
    assert all(30 < r.error.snr_db for r in report.layers)   # int8 gives at most ~50 dB
    assert all(r.error.clip_rate < 1e-3 for r in report.layers)   # held-out data, calibrated ranges
    inp = report.layers[0]
    assert inp.distribution.min >= 0.0 and inp.distribution.max <= 1.0    # pixels / 255
    assert inp.distribution.min <= inp.distribution.q1 <= inp.distribution.median <= inp.distribution.q3
    (out,) = report.outputs
    assert out.name == "logits" and out.error.cosine > 0.999
    assert out.top1_agreement >= 0.97
    assert out.accuracy_float > 0.85 and abs(out.accuracy_int8 - out.accuracy_float) <= 0.02
    assert {w.node for w in report.weights} == {"/conv1/Conv", "/conv2/Conv", "/fc1/Gemm", "/fc2/Gemm"}
    assert all(w.per_channel and w.error.snr_db > 35 for w in report.weights)


def test_one_sample_by_hand(quantized):
    gf, q = quantized
    x = np.load(EXAMPLE / "input.npz")["input"]
    floats, ints = {}, {}
    run_float(gf, {"input": x}, on_value=lambda k, v: floats.__setitem__(k, v))
    run_integer(verify(lower_integer(q)), {"input": x}, on_value=lambda k, v: ints.__setitem__(k, v))
    rows = compare(gf, q, [{"input": x}]).layers
    assert len(rows) == len(_int8_activations(q))
    for r in rows:
        ref = floats[r.float_value].astype(np.float64)
        x_hat = (ints[r.value].astype(np.float32) - np.float32(r.zero_point)) * np.float32(r.scale)  # float32: the spec
        err = x_hat.astype(np.float64) - ref
        assert r.error.max_abs_error == pytest.approx(np.abs(err).max(), rel=1e-6, abs=1e-9)
        assert r.error.snr_db == pytest.approx(10 * np.log10((ref ** 2).sum() / (err ** 2).sum()), rel=1e-6)


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def test_files(report, tmp_path):
    paths = write_report(report, tmp_path / "out")
    with open(paths["csv"], newline="") as f:
        rows = list(csv.DictReader(f))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert [r["value"] for r in rows] == [r.value for r in report.layers]
    assert float(rows[2]["snr_db"]) == pytest.approx(report.layers[2].error.snr_db)

    data = json.loads(paths["json"].read_text())
    assert len(data["layers"]) == len(report.layers) and data["outputs"][0]["name"] == "logits"
    assert data["worst"] == [r.value for r in report.worst()]

    text = paths["html"].read_text()
    ET.fromstring(text.split("\n", 1)[1])          # well-formed XML after the doctype
    parser = _Tags()
    parser.feed(text)
    tags = parser.tags
    assert sum(t == "svg" for t, _ in tags) == 1
    bars = [a for t, a in tags if t == "rect" and "bar" in a.get("class", "").split()]
    assert len(bars) == len(report.layers)
    worst = [a for t, a in tags if t == "tr" and "worst" in a.get("class", "").split()]
    assert len(worst) == len(report.worst()) >= 1
    assert sum("worst" in a["class"].split() for a in bars) == len(worst)


def _with_quant(q, value: str, scale_factor: float):
    """A copy of q in which `value` (an int8 tensor or weight) has its scales multiplied."""
    broken = q.copy()
    t = q.types[value]
    broken.types[value] = TensorType(t.shape, t.dtype, QuantParams(t.quant.scale * scale_factor, t.quant.zero_point,
                                                                   t.quant.axis))
    return broken


@pytest.fixture(scope="module")
def eval_data(float_graph):
    inputs = {i: (float_graph.types[i].shape, float_graph.types[i].dtype.np) for i in float_graph.inputs}
    return open_data(EXAMPLE / "samples.npz", inputs, OPTIONS, size=64)


def _entry_point(layers) -> str:
    """The value Report.entry_points() names first."""
    report = Report("m", "full", None, None, Source("d", "npz", 1), None, tuple(layers), (), (), ())
    return report.entry_points()[0].value


def test_a_saturating_activation_scale_stands_out(quantized, eval_data):
    gf, q = quantized
    value = "/Relu_2_output_0"          # fc1's output; only fc2 reads it
    layers = compare(gf, _with_quant(q, value, 1 / 16), eval_data, label_key=eval_data.label_key).layers
    by_value = {r.value: r for r in layers}
    hit = by_value[value]
    before = [r for r in layers if r.index < hit.index]
    assert hit.error.snr_db < min(r.error.snr_db for r in before) - 15
    assert hit.error.clip_rate > 0.05
    assert all(r.error.clip_rate < 1e-3 for r in before)
    assert _entry_point(layers) == value
    healthy = compare(gf, q, eval_data, label_key=eval_data.label_key).layers
    assert {r.value: r for r in healthy}[value].error.snr_db > hit.error.snr_db + 15


def test_a_wrong_weight_scale_stands_out(quantized, eval_data):
    gf, q = quantized
    conv2 = q.node("/conv2/Conv")
    result = compare(gf, _with_quant(q, conv2.inputs[1], 4.0), eval_data, label_key=eval_data.label_key)
    layers, weights, outputs = result.layers, result.weights, result.outputs
    by_value = {r.value: r for r in layers}
    hit = by_value[conv2.outputs[0]]
    before = [r for r in layers if r.index < hit.index]
    assert hit.error.snr_db < min(r.error.snr_db for r in before) - 20
    assert _entry_point(layers) == conv2.outputs[0]
    assert min(weights, key=lambda w: w.error.snr_db).node == "/conv2/Conv"
    assert outputs[0].top1_agreement < 0.9 or outputs[0].error.snr_db < 15
    assert math.isfinite(hit.error.snr_db)


def test_data_defaults_to_the_calibration_data(float_graph):
    options = BuildOptions(calib=OPTIONS.calib, calib_size=32)
    r = make_report(float_graph, options, data_size=8)
    assert r.data.path == OPTIONS.calib and r.data.samples == 8 and r.labels is None
    assert r.calibration.samples == 32
    assert r.outputs[0].accuracy_float is None and r.outputs[0].top1_agreement is not None
    assert any("calibration data" in n for n in r.notes)
    assert np.isfinite([x.error.snr_db for x in r.layers]).all()
