"""Integer model inputs and outputs (qcomp/frontend/int_io.py, qcomp/int_io.py): a uint8 image
input read by DequantizeLinear or by a Cast to float, and an int8 output written by QuantizeLinear,
taken and returned as the model's own codes by the Python API and `qcomp run` (.npy / .npz), with the
integer dtypes in the manifest and `qcomp inspect`; bit-exact on ref, x86-vnni, dsp-c and cuda
(emulated), and through the C ABI of an x86-vnni model.so.

Models (built here, seeded): `qdq`: uint8 image -> DequantizeLinear(1/255, 0) -> Conv (int8
per-channel weights) -> Relu -> QuantizeLinear(0.05, 3) -> int8 output, no calibration needed (the
model's params); `castnorm`: uint8 image -> Cast -> /255 -> - mean -> / std -> Conv -> Relu,
float output, calibrated on uint8 frames (all integer: dsp-c builds it).
"""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto as T
from onnx import helper, numpy_helper

import qcomp
from qcomp.errors import InputError
from qcomp.target import get_target, host_support

TARGETS = ("ref", "x86-vnni", "dsp-c")
SHAPE = (1, 3, 8, 8)


def _save(nodes, inits, in_type, out_type, path):
    g = helper.make_graph(nodes, path.stem, [helper.make_tensor_value_info("image", in_type, list(SHAPE))],
                          [helper.make_tensor_value_info("out", out_type, [1, 4, 8, 8])], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    onnx.checker.check_model(m)
    onnx.save(m, path)
    return path


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    rng = np.random.default_rng(0)
    d = tmp_path_factory.mktemp("int_io")
    a = numpy_helper.from_array
    w_q = rng.integers(-127, 128, (4, 3, 3, 3)).astype(np.int8)
    qdq = _save([helper.make_node("DequantizeLinear", ["image", "x_s", "x_z"], ["x"]),
                 helper.make_node("DequantizeLinear", ["w_q", "w_s", "w_z"], ["w"], axis=0),
                 helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
                 helper.make_node("Relu", ["c"], ["r"]),
                 helper.make_node("QuantizeLinear", ["r", "y_s", "y_z"], ["out"])],
                [a(w_q, "w_q"), a((rng.random(4) * 0.01 + 0.005).astype(np.float32), "w_s"),
                 a(np.zeros(4, np.int8), "w_z"), a(np.array(1 / 255, np.float32), "x_s"),
                 a(np.array(0, np.uint8), "x_z"), a(np.array(0.05, np.float32), "y_s"),
                 a(np.array(3, np.int8), "y_z")], T.UINT8, T.INT8, d / "qdq.onnx")
    mean = np.array([0.485, 0.456, 0.406], np.float32).reshape(1, 3, 1, 1)
    std = np.array([0.229, 0.224, 0.225], np.float32).reshape(1, 3, 1, 1)
    cast = _save([helper.make_node("Cast", ["image"], ["f"], to=T.FLOAT),
                  helper.make_node("Div", ["f", "k"], ["s"]), helper.make_node("Sub", ["s", "mean"], ["b"]),
                  helper.make_node("Div", ["b", "std"], ["x"]),
                  helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
                  helper.make_node("Relu", ["c"], ["out"])],
                 [a((rng.standard_normal((4, 3, 3, 3)) * 0.3).astype(np.float32), "w"),
                  a(np.array(255, np.float32), "k"), a(mean, "mean"), a(std, "std")],
                 T.UINT8, T.FLOAT, d / "castnorm.onnx")
    np.savez(d / "calib.npz", image=rng.integers(0, 256, (16, *SHAPE[1:])).astype(np.uint8))
    frame = rng.integers(0, 256, SHAPE).astype(np.uint8)
    np.save(d / "frame.npy", frame)
    return {"qdq": qdq, "castnorm": cast, "calib": d / "calib.npz", "frame": frame, "frame_npy": d / "frame.npy"}


def _skip_unless(target):
    s = host_support(get_target(target))
    if not s.can_build or (not s.can_run and target != "cuda"):   # cuda runs emulated
        pytest.skip(f"this host cannot build and run {target}: {s.why}")


@pytest.fixture(scope="module")
def artifacts(models, tmp_path_factory):
    built = {}

    def get(model, target):
        if (model, target) not in built:
            _skip_unless(target)
            calib = models["calib"] if model == "castnorm" else None
            out = tmp_path_factory.mktemp(f"{model}_{target}")
            built[model, target] = qcomp.load(qcomp.build(models[model], target=target, calib=calib, out=out),
                                              emulate=target == "cuda")
        return built[model, target]
    return get


def _onnxruntime(path, frame):
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"image": frame})[0]


@pytest.mark.parametrize("target", (*TARGETS, "cuda"))
def test_qdq_uint8_in_int8_out_are_the_models_codes(models, artifacts, target):
    art = artifacts("qdq", target)
    i, o = art.manifest["inputs"][0], art.manifest["outputs"][0]
    assert (i["int_dtype"], i["int_quant"]) == ("uint8", {"scale": np.float32(1 / 255).item(), "zero_point": 0})
    assert i["quant"]["zero_point"] == -128 and (o["int_dtype"], o["int_quant"]["zero_point"]) == ("int8", 3)
    got = art.run({"image": models["frame"]})["out"]
    assert got.dtype == np.int8
    np.testing.assert_array_equal(got, _onnxruntime(models["qdq"], models["frame"]))
    np.testing.assert_array_equal(art.run({"image": models["frame"]}, raw=True)["out"], got)   # int8 already


def test_float_reference_gives_the_models_codes(models):
    g = qcomp.load_model(models["qdq"], None)
    got = qcomp.run_float(g, {"image": models["frame"]})["out"]
    assert got.dtype == np.int8
    diff = np.abs(got.astype(int) - _onnxruntime(models["qdq"], models["frame"]))
    assert diff.max() <= 1   # float reference vs onnxruntime's integer kernel: rounding ties only


@pytest.mark.parametrize("target", ("ref", "dsp-c"))
def test_cli_run_npy_and_inspect(models, artifacts, target, tmp_path):
    art = artifacts("qdq", target)
    out = tmp_path / "out.npz"
    r = subprocess.run([sys.executable, "-m", "qcomp", "run", str(art.path), "--input", str(models["frame_npy"]),
                        "-o", str(out)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    with np.load(out) as z:
        assert z["out"].dtype == np.int8
        np.testing.assert_array_equal(z["out"], _onnxruntime(models["qdq"], models["frame"]))
    r = subprocess.run([sys.executable, "-m", "qcomp", "inspect", str(art.path)], capture_output=True, text=True)
    assert r.returncode == 0 and "model uint8 zero_point=0" in r.stdout and "model int8 zero_point=3" in r.stdout


def test_wrong_integer_dtype_is_one_clear_error(models, artifacts):
    with pytest.raises(InputError, match="expected uint8"):
        artifacts("qdq", "ref").run({"image": models["frame"].astype(np.int16)})


def test_cast_normalize_input_bit_exact_across_targets(models, artifacts):
    want = _onnxruntime(models["castnorm"], models["frame"])
    raws = {}
    for target in TARGETS:
        try:
            art = artifacts("castnorm", target)
        except pytest.skip.Exception:
            continue
        i = art.manifest["inputs"][0]
        assert (i["int_dtype"], i["quant"]) == ("uint8", {"scale": 1.0, "zero_point": -128})
        raws[target] = art.run({"image": models["frame"]}, raw=True)["out"]
        got = art.run({"image": models["frame"]})["out"]
        cos = float((got * want).sum() / np.linalg.norm(got) / np.linalg.norm(want))
        assert cos > 0.999, (target, cos)
    runnable = {t for t in TARGETS if host_support(get_target(t)).can_build and host_support(get_target(t)).can_run}
    assert set(raws) == runnable   # dsp-c included: the normalization has no float step
    for target, r in raws.items():
        np.testing.assert_array_equal(r, raws["ref"], err_msg=target)


def test_c_abi_takes_the_codes_directly(models, artifacts):
    """model.so's qcomp_run_ex with QCOMP_RAW_INPUTS | QCOMP_RAW_OUTPUTS: the uint8 frame as int8
    codes (q ^ 0x80 = q - 128) in, the model's int8 codes out, no float anywhere."""
    import ctypes

    from qcomp import abi
    from qcomp.runtime.llvm import Runner
    art = artifacts("qdq", "x86-vnni")
    runner = Runner(art.path / art.manifest["files"]["library"])
    codes = (models["frame"] ^ 0x80).view(np.int8)
    out = np.empty((1, 4, 8, 8), np.int8)
    ins, outs = (ctypes.c_void_p * 1)(codes.ctypes.data), (ctypes.c_void_p * 1)(out.ctypes.data)
    flags = abi.RAW_INPUTS | abi.RAW_OUTPUTS
    assert runner._lib.qcomp_run_ex(runner._workspace, runner._size, ins, outs, flags) == 0
    np.testing.assert_array_equal(out, _onnxruntime(models["qdq"], models["frame"]))


@pytest.mark.parametrize("target", ("ref", "dsp-c"))
def test_uint8_output_is_the_int8_form_plus_128(models, target, tmp_path):
    _skip_unless(target)
    m = onnx.load(models["qdq"])
    zp = next(t for t in m.graph.initializer if t.name == "y_z")
    zp.CopyFrom(numpy_helper.from_array(np.array(20, np.uint8), "y_z"))
    m.graph.output[0].type.tensor_type.elem_type = T.UINT8
    onnx.save(m, tmp_path / "u8out.onnx")
    art = qcomp.load(qcomp.build(tmp_path / "u8out.onnx", target=target, out=tmp_path / "a"))
    o = art.manifest["outputs"][0]
    assert (o["int_dtype"], o["int_quant"]["zero_point"], o["quant"]["zero_point"]) == ("uint8", 20, -108)
    got = art.run({"image": models["frame"]})["out"]
    assert got.dtype == np.uint8
    np.testing.assert_array_equal(got, _onnxruntime(tmp_path / "u8out.onnx", models["frame"]))
    np.testing.assert_array_equal(got, (art.run({"image": models["frame"]}, raw=True)["out"].astype(int) + 128))


def test_cast_input_model_still_needs_calibration(models, tmp_path):
    from qcomp.errors import QcompError
    with pytest.raises(QcompError, match="--calib is required"):
        qcomp.build(models["castnorm"], target="ref", out=tmp_path / "a")


def test_weight_only_build_quantizes_the_float_output_as_onnx_does(models, tmp_path):
    art = qcomp.load(qcomp.build(models["qdq"], target="ref", quant="weight", out=tmp_path / "a"))
    assert "quant" not in art.manifest["outputs"][0] and art.manifest["outputs"][0]["int_dtype"] == "int8"
    got = art.run({"image": models["frame"]})["out"]
    assert got.dtype == np.int8
    assert np.abs(got.astype(int) - _onnxruntime(models["qdq"], models["frame"])).max() <= 1


def test_integer_input_read_as_integer_elsewhere_is_refused_by_name(tmp_path):
    from qcomp.errors import UnsupportedModelError
    a = numpy_helper.from_array
    nodes = [helper.make_node("DequantizeLinear", ["image", "s", "z"], ["x"], name="dq"),
             helper.make_node("Relu", ["x"], ["r"]), helper.make_node("Identity", ["image"], ["copy"], name="id")]
    g = helper.make_graph(nodes, "mixed", [helper.make_tensor_value_info("image", T.UINT8, [4])],
                          [helper.make_tensor_value_info("r", T.FLOAT, [4]),
                           helper.make_tensor_value_info("copy", T.UINT8, [4])],
                          [a(np.array(0.1, np.float32), "s"), a(np.array(3, np.uint8), "z")])
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    onnx.save(m, tmp_path / "mixed.onnx")
    with pytest.raises(UnsupportedModelError, match="input 'image' .* also by Identity"):
        qcomp.load_model(tmp_path / "mixed.onnx", None)
