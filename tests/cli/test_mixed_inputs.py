"""A model with inputs of three dtypes through the command line: int64 token ids and a bool mask with a
dynamic sequence length (one --input-shape each), and a float scalar; calibration and run inputs
are .npz files keyed by input name. ref, x86-vnni (the ABI's QCOMP_INT64 and QCOMP_BOOL inputs, a
0-d input) and cuda (emulated) give the same int8 outputs, and the float result follows onnxruntime."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto as T
from onnx import helper, numpy_helper

import qcomp
from qcomp.errors import QcompError
from qcomp.target import get_target, host_support

REPO = Path(__file__).resolve().parents[2]
SHAPES = ("--input-shape", "ids=1,6", "--input-shape", "mask=1,6")


def cli(*args):
    r = subprocess.run([sys.executable, "-m", "qcomp", *map(str, args)], capture_output=True, text=True,
                       cwd=REPO, timeout=300)
    return r


def _model() -> onnx.ModelProto:
    rng = np.random.default_rng(7)
    emb = numpy_helper.from_array((rng.standard_normal((50, 16)) * 0.5).astype(np.float32), "emb")
    w = numpy_helper.from_array((rng.standard_normal((16, 4)) / 4).astype(np.float32), "w")
    ax = numpy_helper.from_array(np.array([2], np.int64), "ax")
    nodes = [helper.make_node("Gather", ["emb", "ids"], ["e"], name="embed"),
             helper.make_node("Cast", ["mask"], ["mf"], to=T.FLOAT, name="mask_f"),
             helper.make_node("Unsqueeze", ["mf", "ax"], ["m3"], name="m3"),
             helper.make_node("Mul", ["e", "m3"], ["em"], name="masked"),
             helper.make_node("Mul", ["em", "rate"], ["ems"], name="by_rate"),
             helper.make_node("MatMul", ["ems", "w"], ["y"], name="proj")]
    g = helper.make_graph(nodes, "mixed", [helper.make_tensor_value_info("ids", T.INT64, [1, "seq"]),
                                           helper.make_tensor_value_info("mask", T.BOOL, [1, "seq"]),
                                           helper.make_tensor_value_info("rate", T.FLOAT, [])],
                          [helper.make_tensor_value_info("y", T.FLOAT, None)], [emb, w, ax])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)], ir_version=10)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("mixed")
    onnx.save(_model(), root / "mixed.onnx")
    rng = np.random.default_rng(8)
    n = 8
    np.savez(root / "calib.npz", ids=rng.integers(0, 50, (n, 1, 6)).astype(np.int64),
             mask=rng.random((n, 1, 6)) > 0.3, rate=rng.uniform(0.5, 2, (n,)).astype(np.float32))
    np.savez(root / "in.npz", ids=rng.integers(0, 50, (1, 6)).astype(np.int64), mask=rng.random((1, 6)) > 0.3,
             rate=np.float32(1.5))
    return root


@pytest.fixture(scope="module")
def raw_outputs(files):
    """ref through the command line; x86-vnni and cuda (emulated) through the API, same options."""
    r = cli("build", files / "mixed.onnx", "-o", files / "ref", "--calib", files / "calib.npz", *SHAPES)
    assert r.returncode == 0, r.stderr
    r = cli("run", files / "ref", "--input", files / "in.npz", "--raw", "-o", files / "ref.npz")
    assert r.returncode == 0, r.stderr
    outs = {"ref": np.load(files / "ref.npz")["y"]}
    feeds = dict(np.load(files / "in.npz"))
    for t in ("x86-vnni", "cuda"):
        s = host_support(get_target(t))
        if not s.can_build or (t != "cuda" and not s.can_run):
            continue
        art = qcomp.build(files / "mixed.onnx", target=t, calib=files / "calib.npz", out=files / t,
                          input_shapes={"ids": (1, 6), "mask": (1, 6)})
        outs[t] = qcomp.load(art, emulate=t == "cuda").run(feeds, raw=True)["y"]
    return outs


def test_targets_agree_bit_exactly(raw_outputs):
    assert raw_outputs["ref"].dtype == np.int8
    for t, y in raw_outputs.items():
        np.testing.assert_array_equal(y, raw_outputs["ref"], err_msg=t)


def test_float_result_follows_onnxruntime(files, raw_outputs):
    import onnxruntime as ort
    feeds = dict(np.load(files / "in.npz"))
    want = ort.InferenceSession(str(files / "mixed.onnx"), providers=["CPUExecutionProvider"]).run(None, feeds)[0]
    got = qcomp.load(files / "ref").run(feeds)["y"]
    cos = float(np.dot(got.ravel(), want.ravel()) / (np.linalg.norm(got) * np.linalg.norm(want)))
    assert got.shape == want.shape and cos > 0.99, cos


def test_calibration_file_missing_an_input_is_named(files, tmp_path):
    np.savez(tmp_path / "partial.npz", ids=np.zeros((2, 1, 6), np.int64), rate=np.ones(2, np.float32))
    with pytest.raises(QcompError, match="mask"):
        qcomp.build(files / "mixed.onnx", calib=tmp_path / "partial.npz", out=tmp_path / "out",
                    input_shapes={"ids": (1, 6), "mask": (1, 6)})
