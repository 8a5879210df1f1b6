"""The model's own integer codes at the C ABI (runtime/qcomp.h version 3, QCOMP_MODEL_CODES;
qcomp/ir/io_codes.py), through Artifact.run and `qcomp run` (qcomp/int_codes.py): no float step.

Models (built here, seeded, tiny): uint8 image (zero point 100) -> DequantizeLinear -> Conv (int8
per-channel weights) -> QuantizeLinear -> uint8 output (zero point 130), and the same with int8 in
(zero point -5) and int8 out (zero point 7). Built for x86-vnni, dsp-c (its C sources compiled on
the host into a shared library) and cuda (emulated), each run through its C ABI / runner with the
flag: outputs equal the reference interpreter's codes and onnxruntime's, bit for bit; the version-2
calls (float qcomp_run, raw flags) give what they gave; bad flags, bad indices and wrong feed
dtypes give the named errors; the QEMU runners of arm-sdot and cortex-m4 take the codes too.
"""
from __future__ import annotations

import ctypes
import subprocess
import sys

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto as T
from onnx import helper, numpy_helper

import qcomp
from qcomp import abi
from qcomp.errors import InputError
from qcomp.target import get_target, host_support

SHAPE, OUT_SHAPE = (1, 3, 8, 8), (1, 4, 8, 8)
MODELS = {"u8": (T.UINT8, np.uint8, 100, 130), "i8": (T.INT8, np.int8, -5, 7)}
X_SCALE, Y_SCALE = np.float32(1 / 64), np.float32(0.05)
DTYPE_CODE = {t: abi.DTYPE_OF_NUMPY[np.dtype(t)].value for t in (np.uint8, np.int8)}


def _model(path, kind):
    onnx_type, np_type, in_zp, out_zp = MODELS[kind]
    rng = np.random.default_rng(0)
    a = numpy_helper.from_array
    nodes = [helper.make_node("DequantizeLinear", ["image", "x_s", "x_z"], ["x"]),
             helper.make_node("DequantizeLinear", ["w_q", "w_s", "w_z"], ["w"], axis=0),
             helper.make_node("Conv", ["x", "w"], ["c"], pads=[1, 1, 1, 1]),
             helper.make_node("QuantizeLinear", ["c", "y_s", "y_z"], ["out"])]
    inits = [a(rng.integers(-127, 128, (4, 3, 3, 3)).astype(np.int8), "w_q"),
             a((rng.random(4) * 0.01 + 0.005).astype(np.float32), "w_s"), a(np.zeros(4, np.int8), "w_z"),
             a(np.array(X_SCALE), "x_s"), a(np.array(in_zp, np_type), "x_z"),
             a(np.array(Y_SCALE), "y_s"), a(np.array(out_zp, np_type), "y_z")]
    g = helper.make_graph(nodes, kind, [helper.make_tensor_value_info("image", onnx_type, list(SHAPE))],
                          [helper.make_tensor_value_info("out", onnx_type, list(OUT_SHAPE))], inits)
    m = helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)])
    m.ir_version = 8
    onnx.save(m, path)
    return path


def _frame(kind):
    np_type = MODELS[kind][1]
    info = np.iinfo(np_type)
    return np.random.default_rng(1).integers(info.min, info.max + 1, SHAPE).astype(np_type)   # every code range


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    d = tmp_path_factory.mktemp("model_codes")
    return {k: _model(d / f"{k}.onnx", k) for k in MODELS}


@pytest.fixture(scope="module")
def artifacts(models, tmp_path_factory):
    built = {}

    def get(kind, target, quant="full"):
        if (kind, target, quant) not in built:
            s = host_support(get_target(target))
            if not s.can_build or (not s.can_run and target != "cuda"):   # cuda runs emulated
                pytest.skip(f"this host cannot build and run {target}: {s.why}")
            out = tmp_path_factory.mktemp(f"{kind}_{target}_{quant}")
            built[kind, target, quant] = qcomp.load(qcomp.build(models[kind], target=target, quant=quant, out=out),
                                                    emulate=target == "cuda")
        return built[kind, target, quant]
    return get


@pytest.fixture(scope="module")
def want(models, artifacts):
    """onnxruntime's codes, checked equal to the reference interpreter's (the ref target)."""
    out = {}
    for kind, path in models.items():
        frame = _frame(kind)
        codes = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"image": frame})[0]
        ref = artifacts(kind, "ref").run({"image": frame})["out"]
        assert ref.dtype == codes.dtype and len(np.unique(codes)) > 20   # enough distinct codes to catch a slip
        np.testing.assert_array_equal(ref, codes)
        out[kind] = codes
    return out


def _reals(kind, q):
    return ((q.astype(np.int32) - MODELS[kind][2]).astype(np.float32) * X_SCALE).astype(np.float32)


def _c_library(art, tmp_path_factory):
    """The ABI of an artifact as a host shared library: model.so, or the dsp-c sources compiled."""
    if art.target != "dsp-c":
        return ctypes.CDLL(str(art.path / art.manifest["files"]["library"]))
    sources = [s for s in (art.path / "Makefile").read_text().split("SOURCES = ")[1].split("\n")[0].split()
               if s != "runner.c"]
    lib = tmp_path_factory.mktemp("dspc_so") / "model.so"
    subprocess.run(["cc", "-O1", "-shared", "-fPIC", "-o", str(lib), *sources, "-lm"], cwd=art.path, check=True)
    return ctypes.CDLL(str(lib))


class ModelInfo(ctypes.Structure):   # qcomp_model_tensor_info
    _fields_ = [("dtype", ctypes.c_int32), ("has_codes", ctypes.c_int32), ("scale", ctypes.c_float),
                ("zero_point", ctypes.c_int32)]


def _run_ex(lib, q_in, out_dtype, flags):
    size = lib.qcomp_workspace_size()
    arena = np.zeros(size + abi.WORKSPACE_ALIGN, np.uint8)
    ws = arena.ctypes.data + (-arena.ctypes.data) % abi.WORKSPACE_ALIGN
    out = np.zeros(OUT_SHAPE, out_dtype)
    q_in = np.ascontiguousarray(q_in)
    ins, outs = (ctypes.c_void_p * 1)(q_in.ctypes.data), (ctypes.c_void_p * 1)(out.ctypes.data)
    return lib.qcomp_run_ex(ctypes.c_void_p(ws), ctypes.c_size_t(size), ins, outs, ctypes.c_int32(flags)), out


@pytest.mark.parametrize("target", ("x86-vnni", "dsp-c"))
@pytest.mark.parametrize("kind", tuple(MODELS))
def test_c_abi_takes_and_returns_the_models_codes(artifacts, want, tmp_path_factory, target, kind):
    art = artifacts(kind, target)
    lib = _c_library(art, tmp_path_factory)
    lib.qcomp_workspace_size.restype = ctypes.c_size_t
    assert lib.qcomp_abi_version() == abi.ABI_VERSION == 3
    _, np_type, in_zp, out_zp = MODELS[kind]
    info = ModelInfo()
    assert lib.qcomp_input_model_info(0, ctypes.byref(info)) == abi.STATUS_OF["QCOMP_OK"]
    assert (info.dtype, info.has_codes, info.scale, info.zero_point) == (DTYPE_CODE[np_type], 1, X_SCALE, in_zp)
    assert lib.qcomp_output_model_info(0, ctypes.byref(info)) == abi.STATUS_OF["QCOMP_OK"]
    assert (info.dtype, info.has_codes, info.scale, info.zero_point) == (DTYPE_CODE[np_type], 1, Y_SCALE, out_zp)
    assert lib.qcomp_input_model_info(1, ctypes.byref(info)) == abi.STATUS_OF["QCOMP_ERR_BAD_INDEX"]
    assert lib.qcomp_output_model_info(0, None) == abi.STATUS_OF["QCOMP_ERR_NULL_ARGUMENT"]
    frame = _frame(kind)
    for flags in (abi.MODEL_CODES, abi.MODEL_CODES | abi.RAW_INPUTS | abi.RAW_OUTPUTS):   # codes win over raw
        status, out = _run_ex(lib, frame, np_type, flags)
        assert status == 0
        np.testing.assert_array_equal(out, want[kind])
    mask = 0x80 if np_type is np.uint8 else 0
    # version 2 unchanged: raw int8 forms (q ^ mask) and float reals in, float out
    status, raw = _run_ex(lib, (frame.view(np.uint8) ^ mask).view(np.int8), np.int8, abi.RAW_INPUTS | abi.RAW_OUTPUTS)
    assert status == 0
    np.testing.assert_array_equal((raw.view(np.uint8) ^ mask).view(np_type), want[kind])
    status, real = _run_ex(lib, _reals(kind, frame), np.float32, 0)
    assert status == 0
    np.testing.assert_array_equal(real, (want[kind].astype(np.int32) - out_zp).astype(np.float32) * Y_SCALE)
    for bad in (8, 1 << 30, -1):
        assert _run_ex(lib, frame, np_type, bad)[0] == abi.STATUS_OF["QCOMP_ERR_BAD_FLAGS"]


@pytest.mark.parametrize("target", ("x86-vnni", "dsp-c", "cuda"))
@pytest.mark.parametrize("kind", tuple(MODELS))
def test_artifact_run_codes_bit_exact(artifacts, want, target, kind):
    art = artifacts(kind, target)
    assert art.manifest["inputs"][0]["int_codes"] and art.manifest["outputs"][0]["int_codes"]
    frame = _frame(kind)
    got = art._runner.run({"image": frame}, codes=True)["out"]   # the runner's QCOMP_MODEL_CODES path itself
    assert got.dtype == MODELS[kind][1]
    np.testing.assert_array_equal(got, want[kind])
    np.testing.assert_array_equal(art.run({"image": frame})["out"], want[kind])
    np.testing.assert_array_equal(art.run({"image": _reals(kind, frame)})["out"], want[kind])   # reals still taken
    mask = 0x80 if MODELS[kind][1] is np.uint8 else 0
    raw = art.run({"image": frame}, raw=True)["out"]
    assert raw.dtype == np.int8
    np.testing.assert_array_equal(raw, (want[kind].view(np.uint8) ^ mask).view(np.int8))   # --raw: the int8 form


@pytest.mark.parametrize("target", ("arm-sdot", "cortex-m4"))
def test_cross_runners_take_the_codes(artifacts, want, target):
    """The static aarch64 runner (runtime/llvm/runner.c --codes) and the Cortex-M runner (mode byte
    QCOMP_MODEL_CODES), under QEMU."""
    art = artifacts("u8", target)
    got = art._runner.run({"image": _frame("u8")}, codes=True)["out"]
    assert got.dtype == np.uint8
    np.testing.assert_array_equal(got, want["u8"])


def test_cuda_plan_replaces_the_input_quantize_on_the_host(artifacts):
    art = artifacts("u8", "cuda")
    plan = art.manifest["model_codes"]
    assert plan["exact"] and plan["inputs"][0]["mask"] == 0x80 and plan["inputs"][0]["skip"]
    assert plan["outputs"] == [{"index": 0, "dtype": "uint8", "mask": 0x80}]


@pytest.mark.parametrize("target", ("ref", "x86-vnni", "dsp-c"))
def test_wrong_feed_dtype_is_one_input_error(artifacts, target):
    art = artifacts("u8", target)
    for bad in (_frame("u8").astype(np.int16), _frame("i8")):
        with pytest.raises(InputError, match="expected uint8"):
            art.run({"image": bad})
    if target != "ref":
        with pytest.raises(InputError, match="the model's codes"):
            art._runner.run({"image": _frame("i8")}, codes=True)


def test_cli_run_returns_the_models_dtype(artifacts, want, tmp_path):
    art = artifacts("u8", "x86-vnni")
    np.save(tmp_path / "frame.npy", _frame("u8"))
    r = subprocess.run([sys.executable, "-m", "qcomp", "run", str(art.path), "--input", str(tmp_path / "frame.npy"),
                        "-o", str(tmp_path / "out.npz")], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    with np.load(tmp_path / "out.npz") as z:
        assert z["out"].dtype == np.uint8
        np.testing.assert_array_equal(z["out"], want["u8"])


def test_codes_of_a_float_computed_output_are_refused_at_the_abi(artifacts, want):
    """--quant weight computes the Conv in float: no exact codes form. The C ABI refuses the flag with
    QCOMP_ERR_NO_RAW_FORM; Artifact.run takes the reals path and quantizes the output as ONNX does."""
    art = artifacts("u8", "x86-vnni", quant="weight")
    assert "int_codes" not in art.manifest["outputs"][0]
    lib = ctypes.CDLL(str(art.path / art.manifest["files"]["library"]))
    lib.qcomp_workspace_size.restype = ctypes.c_size_t
    assert _run_ex(lib, _frame("u8"), np.uint8, abi.MODEL_CODES)[0] == abi.STATUS_OF["QCOMP_ERR_NO_RAW_FORM"]
    got = art.run({"image": _frame("u8")})["out"]
    assert got.dtype == np.uint8 and np.abs(got.astype(int) - want["u8"]).max() <= 1


def test_gpu_runner_codes_with_the_stand_in_driver(artifacts, want, tmp_path):
    """GpuRunner (the real-GPU host code) with QCOMP_MODEL_CODES, against the stand-in driver of
    tests/backends/cuda (device memory in host arrays, launches run by the CPU emulation): the
    Quantize launch is skipped, the int8 form copied into the workspace, the codes come back."""
    import shutil
    import struct
    from pathlib import Path

    from qcomp.runtime.cuda import compile_emulation
    from qcomp.runtime.cuda_driver import FATBIN_MAGIC, GpuRunner
    sys.path.insert(0, str(Path(__file__).resolve().parent / "backends" / "cuda"))
    try:
        from test_cuda_driver_runtime import EmulatingDriver
    finally:
        sys.path.pop(0)
    art = artifacts("u8", "cuda")
    out = tmp_path / "cuda"
    shutil.copytree(art.path, out)
    payload = b"stand-in fatbin"   # the stand-in never decodes past the header
    (out / "model.fatbin").write_bytes(struct.pack("<IHHQ", FATBIN_MAGIC, 1, 16, len(payload)) + payload)
    manifest = {**art.manifest, "files": {**art.manifest["files"], "fatbin": "model.fatbin"}}
    lib = ctypes.CDLL(str(compile_emulation(out, manifest)))
    driver = EmulatingDriver(lib, {k["kernel"]: len(k["args"]) for k in manifest["launches"]})
    runner = GpuRunner(out, manifest, driver=driver)
    try:
        launches = driver.calls.count("cuLaunchKernel")
        got = runner.run({"image": _frame("u8")}, codes=True)["out"]
        assert driver.calls.count("cuLaunchKernel") - launches == len(manifest["launches"]) - 1   # no Quantize
        assert got.dtype == np.uint8
        np.testing.assert_array_equal(got, want["u8"])
    finally:
        runner.close()
