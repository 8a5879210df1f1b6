"""A quantized super-resolution head that uses the data-movement ops of ops_movement.py:

    x (1,3,8,8) -SpaceToDepth(2)-> (1,12,4,4) -Conv 3x3-> Relu -DepthToSpace(2, DCR)-> (1,3,8,8)
      -Conv 1x1 (3->8)-> -DepthToSpace(2, CRD)-> (1,2,16,16) -Tile(1,1,1,2)-> -Expand(2,1,1,1,1)-> (2,1,2,16,32)

built for ref and x86-vnni from one calibration set: the two artifacts' outputs are bit-exact, and
the int8 result follows onnxruntime's float result (so the movement really runs on int8 data, in the right
order). Both builds happen once per module.
"""
from __future__ import annotations

import numpy as np
import pytest
from onnx import helper

import qcomp
from qcomp.target import get_target, host_support

from .onnx_util import model, run_onnxruntime

TARGETS = ("ref", "x86-vnni")


def _head() -> tuple:
    rng = np.random.default_rng(13)
    inits = {"w1": (rng.standard_normal((12, 12, 3, 3)) / 6).astype(np.float32),
             "b1": (rng.standard_normal(12) * 0.1).astype(np.float32),
             "w2": (rng.standard_normal((8, 3, 1, 1)) / 2).astype(np.float32),
             "b2": (rng.standard_normal(8) * 0.1).astype(np.float32)}
    nodes = [helper.make_node("SpaceToDepth", ["x"], ["s"], name="s2d", blocksize=2),
             helper.make_node("Conv", ["s", "w1", "b1"], ["c1"], name="conv1", pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c1"], ["r1"], name="relu1"),
             helper.make_node("DepthToSpace", ["r1"], ["d1"], name="d2s_dcr", blocksize=2, mode="DCR"),
             helper.make_node("Conv", ["d1", "w2", "b2"], ["c2"], name="conv2"),
             helper.make_node("DepthToSpace", ["c2"], ["d2"], name="d2s_crd", blocksize=2, mode="CRD"),
             helper.make_node("Tile", ["d2", "reps"], ["t"], name="tile"),
             helper.make_node("Expand", ["t", "eshape"], ["y"], name="expand")]
    inits.update(reps=np.array([1, 1, 1, 2], np.int64), eshape=np.array([2, 1, 1, 1, 1], np.int64))
    m = model(nodes, {"x": (1, 3, 8, 8)}, ["y"], inits, opset=13)
    calib = rng.uniform(-1, 1, (16, 3, 8, 8)).astype(np.float32)
    x = rng.uniform(-1, 1, (1, 3, 8, 8)).astype(np.float32)
    return m, calib, x


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    import onnx
    root = tmp_path_factory.mktemp("sr_head")
    m, calib, x = _head()
    onnx.save(m, root / "sr.onnx")
    np.savez(root / "calib.npz", x=calib)
    outs = {}
    for t in TARGETS:
        s = host_support(get_target(t))
        if not (s.can_build and s.can_run):
            pytest.skip(f"this host cannot build and run {t}: {s.why}")
        art = qcomp.build(root / "sr.onnx", target=t, calib=root / "calib.npz", out=root / t)
        outs[t] = qcomp.load(art).run({"x": x})["y"]
    return m, x, outs


def test_ref_and_x86_vnni_are_bit_exact(built):
    _, _, outs = built
    assert outs["ref"].shape == (2, 1, 2, 16, 32)
    np.testing.assert_array_equal(outs["ref"], outs["x86-vnni"])


def test_int8_follows_float(built):
    m, x, outs = built
    want = run_onnxruntime(m, {"x": x})["y"]
    got = outs["ref"]
    assert np.std(got) > 0.1 * np.std(want)
    cos = float(np.dot(got.ravel(), want.ravel()) / (np.linalg.norm(got) * np.linalg.norm(want)))
    assert cos > 0.99, cos
