"""export_qdq: qcomp's quantization as a QDQ ONNX model that onnxruntime runs and agrees with."""
from __future__ import annotations

import dataclasses

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper

from qcomp.cli import main
from qcomp.frontend import import_onnx
from qcomp.frontend.export_qdq import ExportError, export_qdq
from qcomp.ir import Graph, qops
from . import models
from .helpers import (EXAMPLE, OPT_LEVELS, compare, example_samples, import_and_quantize,
                               int8_reference, session)


@pytest.fixture(scope="module")
def example_q() -> Graph:
    return import_and_quantize(EXAMPLE / "model.onnx", calib=str(EXAMPLE / "calib.npz"), calib_size=64)


@pytest.fixture(scope="module")
def residual_q(tmp_path_factory) -> Graph:
    path = tmp_path_factory.mktemp("calib") / "calib.npz"
    np.savez(path, x=models.random_inputs((1, 3, 12, 12), 32))
    return import_and_quantize(models.residual_lut_cnn(), calib=str(path))


def _residual_samples(count: int) -> list[dict[str, np.ndarray]]:
    x = models.random_inputs((1, 3, 12, 12), count, seed=5)
    return [{"x": x[i]} for i in range(count)]


@pytest.mark.parametrize("level", OPT_LEVELS)
def test_example_export_agrees_with_integer_reference(example_q, level):
    diffs, top1 = compare(example_q, session(export_qdq(example_q), level), example_samples(100), "logits")
    assert diffs.max() <= 1, np.bincount(diffs)
    assert np.mean(diffs == 0) >= 0.97, np.bincount(diffs)
    assert top1 >= 0.98


@pytest.mark.parametrize("level", OPT_LEVELS)
def test_lut_and_residual_add_export_agrees(residual_q, level):
    kinds = {n.kind for n in residual_q.nodes}
    assert {"Lut", "Add", "Concat", "Requantize", "ReduceMean"} <= kinds
    diffs, _ = compare(residual_q, session(export_qdq(residual_q), level), _residual_samples(40), "y")
    assert diffs.max() <= 1, np.bincount(diffs)


def _zoo_q(tmp_path) -> Graph:
    path = tmp_path / "calib.npz"
    np.savez(path, x=models.random_inputs((1, 4, 5, 5), 16))
    return import_and_quantize(models.movement_zoo(), calib=str(path))


@pytest.mark.parametrize("which", ["residual_lut_cnn", "movement_zoo"])
def test_every_int8_value_within_one_lsb(residual_q, tmp_path, which):
    """Every int8 tensor of the export, read as an extra output, against the same value of qcomp."""
    q = residual_q if which == "residual_lut_cnn" else _zoo_q(tmp_path)
    shape = q.types[q.inputs[0]].shape
    model = export_qdq(q)
    names = [v for v, t in q.types.items() if t.quant is not None and v not in q.constants and t.quant.axis is None]
    for v in names:
        model.graph.output.append(helper.make_tensor_value_info(v, onnx.TensorProto.INT8, None))
    sess = session(model, "ort_unfused")
    for x in models.random_inputs(shape, 4, seed=5):
        ours = int8_reference(q, {"x": x})
        theirs = dict(zip([o.name for o in sess.get_outputs()], sess.run(None, {"x": x})))
        for v in names:
            d = np.abs(theirs[v].astype(np.int64) - ours[v].astype(np.int64)).max()
            assert d <= 1, f"{v}: {d} LSB"
    if which == "movement_zoo":   # grouped ConvTranspose, pools, Resize, Pad, reversed Slice, Split, float Softmax
        kinds = {n.kind for n in q.nodes}
        assert {"ConvTranspose2D", "AvgPool2D", "Resize", "Pad", "Slice", "Split", "Mul", "Softmax"} <= kinds


def test_export_structure(example_q):
    model = export_qdq(example_q)
    inits = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}
    producers = {o: n for n in model.graph.node for o in n.output}
    weighted = [n for n in model.graph.node if n.op_type in ("Conv", "Gemm")]
    assert len(weighted) == 4
    for n in weighted:
        w, b = producers[n.input[1]], producers[n.input[2]]
        assert w.op_type == b.op_type == "DequantizeLinear"
        assert inits[w.input[0]].dtype == np.int8 and np.abs(inits[w.input[0]]).max() <= 127
        assert inits[b.input[0]].dtype == np.int32
        assert inits[w.input[1]].size == inits[w.input[0]].shape[0]   # one scale per output channel
        assert helper.get_attribute_value(w.attribute[0]) == 0        # axis 0: O of OIHW, N of Gemm's B
    floats = [k for k, a in inits.items() if a.dtype == np.float32 and a.size > 64]
    assert not floats, f"float weights left in the export: {floats}"
    assert model.opset_import[0].version == 20


def test_lut_without_source_exports_its_table_exactly(residual_q):
    q = residual_q.copy()
    q.nodes = [dataclasses.replace(n) for n in q.nodes]
    for n in q.nodes:
        if isinstance(n.op, qops.Lut):
            n.op = qops.Lut()
    model = export_qdq(q)
    assert "Gather" in {n.op_type for n in model.graph.node}
    diffs, _ = compare(q, session(model), _residual_samples(10), "y")
    assert diffs.max() <= 1


def test_export_refuses_float_graph():
    g = import_onnx(models.residual_lut_cnn())
    with pytest.raises(ExportError, match="QUANTIZED"):
        export_qdq(g)


@pytest.mark.parametrize("mode", ["weight", "dynamic"])
def test_weight_only_and_dynamic_exports_run(mode):
    q = import_and_quantize(models.residual_lut_cnn(), quant=mode)
    model = export_qdq(q)
    ops_used = {n.op_type for n in model.graph.node}
    assert "DequantizeLinear" in ops_used
    if mode == "dynamic":
        assert {"DynamicQuantizeLinear", "MatMulInteger"} <= ops_used
    x = models.random_inputs((1, 3, 12, 12), 1, seed=3)[0]
    theirs = session(model).run(None, {"x": x})[0]
    from qcomp.passes.lower_integer import lower_integer
    from qcomp.ref.integer import run_integer
    ours = run_integer(lower_integer(q), {"x": x})["y"]
    np.testing.assert_allclose(theirs, ours, atol=1e-5)


def test_cli_quantize_writes_a_qdq_model(tmp_path, capsys):
    out = tmp_path / "fm.qdq.onnx"
    rc = main(["quantize", str(EXAMPLE / "model.onnx"), "--calib", str(EXAMPLE / "calib.npz"), "--calib-size",
               "16", "-o", str(out)])
    assert rc == 0, capsys.readouterr().err
    assert "wrote QDQ model" in capsys.readouterr().out
    x = example_samples(1)[0]
    assert session(out).run(None, x)[0].shape == (1, 10)


def test_cli_quantize_needs_an_onnx_path(tmp_path, capsys):
    rc = main(["quantize", str(EXAMPLE / "model.onnx"), "--calib", str(EXAMPLE / "calib.npz"), "--calib-size",
               "4", "-o", str(tmp_path / "model.qir")])
    assert rc == 2
    assert "ending in .onnx" in capsys.readouterr().err
