"""Guards for the trained real-model fixtures of tests/models/data (train_mobilenetv3.py,
train_centernet.py, train_crnn.py; data from zoo_data.py):

- the fixture still is what it claims (its ONNX ops: hard-swish + squeeze-excite + depthwise convs;
  MaxPool / Equal / Where / TopK post-processing; a bidirectional LSTM);
- float: qcomp's reference matches onnxruntime (compare.py's bounds);
- int8 (static, calibrated on CALIB training samples): on TEST held-out inputs, the output cosine
  with onnxruntime FP32 and the task metric stay within the bounds below, measured on the x86-vnni
  artifact (bit-exact to ref, and fast);
- every backend is bit-exact to the ref artifact on every output (indices included), on EXACT inputs;
  cuda (the detector and the CRNN: CUDA_MODELS) through --emulate (its kernels compiled for this CPU
  with g++, ~10 s and ~40 s cold; no fatbin: test_nvcc.py compiles every kernel template with nvcc);
- the detector with its heatmap in int16 (`--precision`, the choice of `--accuracy 0.9999`) too.

Each model is built once per module for all targets; benchmarks/zoo_accuracy.py gives the full
figures (issue 14's table).
"""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import onnx
import pytest

import qcomp
from qcomp.ir import DType
from qcomp.ir.serialize import load_graph
from qcomp.target import get_target, host_support

from . import zoo_data
from .compare import check_against_onnxruntime, cosine, run_onnxruntime

pytestmark = pytest.mark.slow

DATA = Path(__file__).resolve().parent / "data"
TARGETS = ("ref", "x86-vnni", "arm-sdot", "dsp-c")
CALIB = 16
TEST = 48
EXACT = 4
CUDA_MODELS = ("centernet", "crnn")   # mobilenetv3's ops are the cnn zoo's, tested on cuda in tests/backends/cuda

# model -> (fixture, ONNX ops it must contain, int8 cosine floor, most the int8 metric may lose vs FP32)
MODELS = {
    "mobilenetv3": ("fmnist_mobilenetv3.onnx", {"HardSwish", "HardSigmoid", "ReduceMean", "Mul"}, 0.99, 0.05),
    "centernet": ("fmnist_centernet.onnx", {"MaxPool", "Equal", "Where", "TopK", "Sigmoid"}, 0.99, 0.05),
    "crnn": ("fmnist_crnn.onnx", {"LSTM", "MaxPool"}, 0.99, 0.10),
}


def inputs(name: str, count: int, split: str, seed: int):
    """(x, metric(list of output dicts) -> float) for `count` inputs of the model's task."""
    pixels, labels = zoo_data.fashion(split)
    if name == "mobilenetv3":
        pick = np.random.default_rng(seed).choice(len(pixels), count, replace=False)
        return zoo_data.classify(pixels[pick]), lambda o: float(np.mean(
            np.concatenate([r["logits"] for r in o]).argmax(1) == labels[pick]))
    if name == "centernet":
        x, objects = zoo_data.detect(pixels, labels, count, seed)
        return x, lambda o: zoo_data.hit_rate(np.concatenate([r["scores"] for r in o]),
                                              np.concatenate([r["indices"] for r in o]), objects)[0]
    x, seq = zoo_data.recognize(pixels, labels, count, seed)
    return x, lambda o: zoo_data.sequence_accuracy(np.concatenate([r["logits"] for r in o], axis=1), seq)


@pytest.fixture(scope="module", params=list(MODELS))
def built(request, tmp_path_factory):
    """(name, path, test inputs, metric, FP32 outputs per input, {target: outputs per input})."""
    name = request.param
    path = DATA / MODELS[name][0]
    calib, _ = inputs(name, CALIB, "train", seed=20)
    x, metric = inputs(name, TEST, "t10k", seed=21)
    root = tmp_path_factory.mktemp(name)
    np.savez(root / "calib.npz", input=calib)
    fp32 = [run_onnxruntime(path, {"input": x[i:i + 1]}) for i in range(len(x))]
    got = {}
    for t in TARGETS:
        s = host_support(get_target(t))
        if not (s.can_build and s.can_run):
            pytest.skip(f"this host cannot build and run {t}: {s.why}")
        runner = qcomp.load(qcomp.build(path, target=t, calib=root / "calib.npz", out=root / t))
        # x86-vnni on every test input (test_int8_accuracy); the others on the first EXACT, enough
        # for the bit-exactness check (ref is an interpreter, arm-sdot runs under QEMU)
        count = len(x) if t == "x86-vnni" else EXACT
        got[t] = [runner.run({"input": x[i:i + 1]}) for i in range(count)]
    got["cuda"] = cuda_emulated(path, root, x[:EXACT]) if name in CUDA_MODELS else None
    return name, path, x, metric, fp32, got


def cuda_emulated(path: Path, root: Path, x: np.ndarray) -> list[dict[str, np.ndarray]] | None:
    """The cuda artifact's outputs on each input through --emulate (one g++ build of model.cu; None
    without g++); no fatbin (nvcc adds ~20 s a model)."""
    if shutil.which("g++") is None:
        return None
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("qcomp.codegen.cuda.find_nvcc", lambda target: None)
        art = qcomp.build(path, target="cuda", calib=root / "calib.npz", out=root / "cuda")
    runner = qcomp.load(art, emulate=True)
    return [runner.run({"input": x[i:i + 1]}) for i in range(len(x))]


def test_fixture_and_float_reference(built):
    name, path, x, *_ = built
    ops = {n.op_type for n in onnx.load(path).graph.node}
    assert MODELS[name][1] <= ops, (name, sorted(ops))
    check_against_onnxruntime(f"{name}/float", path, {"input": x[:1]})


def test_int8_accuracy(built):
    name, _, _, metric, fp32, got = built
    _, _, floor, loss = MODELS[name]
    primary = "heat" if name == "centernet" else "logits"
    cos = [cosine(a[primary], b[primary]) for a, b in zip(got["x86-vnni"], fp32)]
    want, have = metric(fp32), metric(got["x86-vnni"])
    print(f"\n[int8 vs FP32] {name}: cosine mean {np.mean(cos):.5f} min {np.min(cos):.5f}, "
          f"metric {have:.3f} (FP32 {want:.3f})", end="")
    assert np.mean(cos) >= floor, (name, cos)
    assert have >= want - loss, (name, have, want)


@pytest.mark.parametrize("target", [*TARGETS[1:], "cuda"])
def test_targets_are_bit_exact_to_ref(built, target):
    name, _, _, _, _, got = built
    if target == "cuda" and name not in CUDA_MODELS:
        pytest.skip(f"{name} is not in CUDA_MODELS (suite time; its ops run on cuda in tests/backends/cuda)")
    if got[target] is None:
        pytest.skip("target cuda --emulate: g++ is missing (apt-get install g++)")
    for i, want in enumerate(got["ref"]):
        for out, a in want.items():
            np.testing.assert_array_equal(got[target][i][out], a, err_msg=f"{target} input {i} {out}")


# the detector with its heatmap (and the head conv before it) in int16, as `--accuracy 0.9999` chooses
# (benchmarks/RESULTS.md): the head conv, the Sigmoid (Lut16) and MaxPool run on int16 values; Equal,
# Where and TopK read int8 requantizations of them (they have no int16 form). dsp-c is left out: it
# takes int8 graph outputs only.
INT16_DETECTOR = ("heat=int16", "/net/head/head.2/Conv_output_0=int16")


@pytest.fixture(scope="module")
def detector_int16(tmp_path_factory):
    path = DATA / MODELS["centernet"][0]
    calib, _ = inputs("centernet", CALIB, "train", seed=20)
    x, _ = inputs("centernet", EXACT, "t10k", seed=21)
    root = tmp_path_factory.mktemp("centernet_int16")
    np.savez(root / "calib.npz", input=calib)
    got = {}
    for t in TARGETS[:3]:
        s = host_support(get_target(t))
        if not (s.can_build and s.can_run):
            pytest.skip(f"this host cannot build and run {t}: {s.why}")
        art = qcomp.build(path, target=t, calib=root / "calib.npz", out=root / t, precision=INT16_DETECTOR)
        if t == "ref":
            g = load_graph(art / "model.qir")
            assert any(n.kind == "MaxPool2D" and g.types[n.inputs[0]].dtype is DType.INT16 for n in g.nodes)
        runner = qcomp.load(art)
        got[t] = [runner.run({"input": x[i:i + 1]}) for i in range(len(x))]
    return got


@pytest.mark.parametrize("target", TARGETS[1:3])
def test_int16_detector_is_bit_exact_to_ref(detector_int16, target):
    for i, want in enumerate(detector_int16["ref"]):
        for out, a in want.items():
            np.testing.assert_array_equal(detector_int16[target][i][out], a, err_msg=f"{target} input {i} {out}")
