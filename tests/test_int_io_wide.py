"""Per-channel (axis) and int16 integer model inputs and outputs (qcomp/frontend/int_io.py "axis"
rows, qcomp/int_io.py): no int8 form has the model's params (qcomp quantizes activations per tensor,
int16 ones with zero point 0), so such a tensor crosses the artifact as the reals it encodes,
x = (q - z[c]) * s[c] in and y = saturate(round_half_even(x / s[c]) + z[c]) out, and the C ABI
reports has_codes 0 for it (QCOMP_MODEL_CODES leaves it float).

Models (built here, seeded): uint8 image -> DequantizeLinear per channel (axis 1) -> Conv ->
QuantizeLinear per channel -> uint8; and int16 in / int16 out (zero point 0). The float reference
equals onnxruntime (optimizations off: its QDQ fusion quantizes the Conv) code for code; ref,
x86-vnni and dsp-c give the same codes bit for bit, close to the float model. About 10 s.
"""
from __future__ import annotations

import ctypes

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto as T
from onnx import helper, numpy_helper

import qcomp
from qcomp import abi
from qcomp.target import get_target, host_support

CASES = {   # onnx type, numpy type, x scales, x zero points, y scales, y zero points, feed range
    "axis": (T.UINT8, np.uint8, [1 / 64, 1 / 32, 1 / 100], [100, 128, 3], [0.05, 0.1, 0.07, 0.2], [130, 128, 0, 255],
             (0, 256)),
    "int16": (T.INT16, np.int16, 1 / 4096, 0, 1 / 2048, 0, (-8000, 8000)),
}
TARGETS = ("ref", "x86-vnni", "dsp-c")


def _model(path, kind):
    onnx_type, np_type, xs, xz, ys, yz, _ = CASES[kind]
    a = numpy_helper.from_array
    nodes = [helper.make_node("DequantizeLinear", ["image", "x_s", "x_z"], ["x"], axis=1),
             helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("QuantizeLinear", ["c", "y_s", "y_z"], ["out"], axis=1)]
    inits = [a((np.random.default_rng(0).standard_normal((4, 3, 3, 3)) * 0.3).astype(np.float32), "w"),
             a(np.asarray(xs, np.float32), "x_s"), a(np.asarray(xz, np_type), "x_z"),
             a(np.asarray(ys, np.float32), "y_s"), a(np.asarray(yz, np_type), "y_z")]
    g = helper.make_graph(nodes, kind, [helper.make_tensor_value_info("image", onnx_type, [1, 3, 8, 8])],
                          [helper.make_tensor_value_info("out", onnx_type, [1, 4, 8, 8])], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 21)])
    m.ir_version = 10
    onnx.save(m, path)
    return path


def _frames(kind, n):
    np_type, (lo, hi) = CASES[kind][1], CASES[kind][6]
    return np.random.default_rng(1).integers(lo, hi, (n, 3, 8, 8)).astype(np_type)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    d = tmp_path_factory.mktemp("int_io_wide")
    out = {}
    for kind in CASES:
        model = _model(d / f"{kind}.onnx", kind)
        np.savez(d / f"{kind}.npz", image=_frames(kind, 8))
        out[kind] = {"model": model}
        for target in TARGETS:
            s = host_support(get_target(target))
            if s.can_build and s.can_run:
                out[kind][target] = qcomp.load(qcomp.build(model, target=target, calib=d / f"{kind}.npz",
                                                           out=d / f"{kind}_{target}"))
    return out


def _onnxruntime(path, frame):
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"]).run(None, {"image": frame})[0]


@pytest.mark.parametrize("kind", tuple(CASES))
def test_float_reference_equals_onnxruntime(built, kind):
    frame = _frames(kind, 9)[8:]
    got = qcomp.run_float(qcomp.load_model(built[kind]["model"], None), {"image": frame})["out"]
    want = _onnxruntime(built[kind]["model"], frame)
    assert got.dtype == want.dtype == CASES[kind][1] and len(np.unique(want)) > 50
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("kind", tuple(CASES))
def test_every_target_gives_the_same_codes(built, kind):
    frame = _frames(kind, 9)[8:]
    want = _onnxruntime(built[kind]["model"], frame).astype(np.float64)
    runs = {t: built[kind][t].run({"image": frame})["out"] for t in TARGETS if t in built[kind]}
    assert set(runs) >= {"ref"}
    for target, got in runs.items():
        assert got.dtype == CASES[kind][1]
        np.testing.assert_array_equal(got, runs["ref"], err_msg=target)
    got = runs["ref"].astype(np.float64)
    assert float((got * want).sum() / np.linalg.norm(got) / np.linalg.norm(want)) > 0.999
    q = built[kind]["ref"].manifest["outputs"][0]["int_quant"]
    assert q["axis"] == (1 if kind == "axis" else None)
    assert q["zero_points"] == np.atleast_1d(CASES[kind][5]).tolist()


def test_abi_reports_them_as_reals(built):
    art = built["axis"].get("x86-vnni")
    if art is None:
        pytest.skip("x86-vnni cannot run here")

    class Info(ctypes.Structure):
        _fields_ = [("dtype", ctypes.c_int32), ("has_codes", ctypes.c_int32), ("scale", ctypes.c_float),
                    ("zero_point", ctypes.c_int32)]
    lib = ctypes.CDLL(str(art.path / art.manifest["files"]["library"]))
    info = Info()
    for fn in (lib.qcomp_input_model_info, lib.qcomp_output_model_info):
        assert fn(0, ctypes.byref(info)) == 0
        assert (info.dtype, info.has_codes) == (abi.DTYPE_OF_NUMPY[np.dtype(np.float32)].value, 0)
    assert "int_codes" not in art.manifest["inputs"][0]
