"""The accuracy controls from the command line, the TOML config and the API: --calib-method auto,
--equalize, --precision NAME=int8|float (float-less targets refused), the clip warning. int16:
tests/passes/test_precision16.py."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import qcomp
from qcomp.builder import BuildOptions, quantize_model
from qcomp.errors import QcompError
from qcomp.ir import DType

REPO = Path(__file__).resolve().parents[2]
EX = REPO / "examples" / "fashion_mnist"
CALIB = ["--calib", EX / "calib.npz", "--calib-size", "32"]


def cli(*args):
    return subprocess.run([sys.executable, "-m", "qcomp", *map(str, args)], capture_output=True, text=True,
                          cwd=REPO, timeout=600)


def manifest(out: Path) -> dict:
    return json.loads((out / "manifest.json").read_text())


@pytest.fixture(scope="module")
def graph():
    return qcomp.load_model(EX / "model.onnx")


def quantized(graph, **options):
    return quantize_model(graph, BuildOptions(calib=str(EX / "calib.npz"), calib_size=32, **options))


def test_cli_auto_equalize_and_precision_are_recorded(tmp_path):
    out = tmp_path / "a"
    r = cli("build", EX / "model.onnx", *CALIB, "--calib-method", "auto", "--equalize",
            "--precision", "/fc2/Gemm=float", "--precision", "/Relu_output_0=int8", "-o", out)
    assert r.returncode == 0, r.stderr
    assert "with auto" in r.stdout and "note: --equalize: 2 Conv2D/Dense pairs equalized" in r.stdout
    m = manifest(out)
    c = m["calibration"]
    assert c["method"] == "auto" and c["equalize"] is True
    assert c["precision"] == {"/fc2/Gemm": "float", "/Relu_output_0": "int8"}
    assert set(c["methods"].values()) <= {"minmax", "percentile", "mse", "entropy"}
    assert "/Relu_1_output_0" in c["methods"] and m["build_options"]["equalize"] is True
    x = dict(np.load(EX / "input.npz"))
    assert np.argmax(qcomp.load(out).run(x)["logits"]) == np.argmax(qcomp.run_float(qcomp.load_model(EX / "model.onnx"),
                                                                                    x)["logits"])


def test_api_options_give_the_cli_quantization(tmp_path):
    opts = dict(calib_method="auto", equalize=True, precision=("/fc2/Gemm=float", "/Relu_output_0=int8"))
    a = qcomp.build(EX / "model.onnx", "ref", EX / "calib.npz", tmp_path / "api", calib_size=32, **opts)
    cfg = tmp_path / "quant.toml"
    cfg.write_text('calib-method = "auto"\nequalize = true\n[precision]\n"/fc2/Gemm" = "float"\n'
                   '"/Relu_output_0" = "int8"\n')
    r = cli("build", EX / "model.onnx", *CALIB, "--config", cfg, "-o", tmp_path / "toml")
    assert r.returncode == 0, r.stderr
    assert manifest(a)["quantized_graph_sha256"] == manifest(tmp_path / "toml")["quantized_graph_sha256"]
    b = qcomp.build(EX / "model.onnx", "ref", EX / "calib.npz", tmp_path / "again", calib_size=32, **opts)
    assert manifest(a)["quantized_graph_sha256"] == manifest(b)["quantized_graph_sha256"]   # deterministic


def test_precision_float_keeps_the_node_in_float_as_skip_does(graph):
    q_prec, _ = quantized(graph, precision=("/fc1/Gemm=float",))
    q_skip, _ = quantized(graph, skip=("/fc1/Gemm",))
    node = next(n for n in q_prec.nodes if n.name == "/fc1/Gemm")
    assert q_prec.types[node.outputs[0]].dtype == DType.FLOAT32
    from qcomp.ir.serialize import graph_sha256
    assert graph_sha256(q_prec) == graph_sha256(q_skip)
    # a tensor name means the node producing it; a fused Relu's node name means the node it is in
    q_tensor, _ = quantized(graph, precision=("/Relu_2_output_0=float",))
    q_relu, _ = quantized(graph, precision=("/Relu_2=float",))
    assert graph_sha256(q_tensor) == graph_sha256(q_prec) == graph_sha256(q_relu)


@pytest.mark.parametrize("entry, needle", [
    ("/fc1/Gemm=int4", "expected NAME=int16, NAME=int8 or NAME=float"),
    ("no_such_node=float", "names no node or tensor of the model: no_such_node"),
])
def test_precision_refusals_are_clear(graph, entry, needle):
    with pytest.raises(QcompError, match=needle):
        quantized(graph, precision=(entry,))


def test_precision_int8_contradicting_skip_is_refused(graph):
    with pytest.raises(QcompError, match="contradicts --skip /fc1/Gemm"):
        quantized(graph, precision=("/fc1/Gemm=int8",), skip=("/fc1/Gemm",))


@pytest.mark.parametrize("target", ["dsp-c", "cortex-m4"])
def test_precision_float_is_refused_on_targets_without_float(tmp_path, target):
    with pytest.raises(QcompError, match=f"target '{target}' has no float math"):
        qcomp.build(EX / "model.onnx", target, EX / "calib.npz", tmp_path / target, precision=("/fc1/Gemm=float",))
    assert not (tmp_path / target).exists()


def test_cli_warns_once_per_clipped_tensor_and_report_records_auto(tmp_path):
    r = cli("build", EX / "model.onnx", *CALIB, "--calib-method", "percentile", "--percentile", "90",
            "-o", tmp_path / "p")
    assert r.returncode == 0, r.stderr
    lines = [s for s in r.stderr.splitlines() if s.startswith("warning: tensor ")]
    assert lines and len(lines) == len(set(lines)) == len(manifest(tmp_path / "p")["calibration"]["warnings"])
    assert all("clips" in s and "% of its calibration values" in s for s in lines)
    r = cli("report", EX / "model.onnx", *CALIB, "--calib-method", "auto", "--data", EX / "samples.npz",
            "--data-size", "8", "-o", tmp_path / "rep")
    assert r.returncode == 0, r.stderr
    assert "--calib-method auto chose:" in r.stdout
    methods = json.loads((tmp_path / "rep" / "report.json").read_text())["calibration"]["methods"]
    assert "/Relu_1_output_0" in methods


def test_report_with_equalize_compares_the_equalized_float_graph(tmp_path, graph):
    """The report compares int8 tensors with the float graph that was calibrated: with --equalize
    that graph's channels are rescaled, so comparing with the plain graph would be meaningless."""
    from qcomp.report import make_report
    rep = make_report(graph, BuildOptions(calib=str(EX / "calib.npz"), calib_size=16, equalize=True),
                      data=EX / "samples.npz", data_size=4)
    fc1 = next(r for r in rep.layers if r.node == "/fc1/Gemm")
    assert fc1.error.cosine > 0.99 and any(n.startswith("--equalize") for n in rep.notes)


def test_equalize_refuses_a_pre_quantized_model(tmp_path, graph):
    from qcomp.frontend.export_qdq import write_qdq
    q, _ = quantized(graph)
    qdq = write_qdq(q, tmp_path / "m.qdq.onnx", producer_version="test")
    with pytest.raises(QcompError, match="pre-quantized model's own scales would no longer fit"):
        quantize_model(qcomp.load_model(qdq), BuildOptions(equalize=True))
    quantize_model(qcomp.load_model(qdq), BuildOptions())   # without --equalize it builds
