"""A16W8 conv with a dead channel (weights ~0 next to a large bias, as BatchNorm folding leaves in
EfficientNet-Lite0's stem): its int64 bias at s_in * s_w[c] would pass 2^47 at an int16 input
scale, so quantize16.widen_for_bias16 widens that channel's weight scale (its weights round to 0)
instead of refusing the layer; the result matches float."""
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

import qcomp
from qcomp import fixedpoint
from qcomp.passes.quantize16 import widen_for_bias16


def _model(path):
    """x[1,3,8,8] -> Conv 3x3 (4 ch, channel 0 dead: weights 1e-9, bias -5) -> y[1,4,6,6]."""
    rng = np.random.default_rng(0)
    w = rng.standard_normal((4, 3, 3, 3)).astype(np.float32) * 0.3
    w[0] = 1e-9
    b = np.array([-5.0, 0.1, -0.2, 0.3], np.float32)
    g = helper.make_graph(
        [helper.make_node("Conv", ["x", "w", "b"], ["y"], name="conv")], "dead",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4, 6, 6])],
        [numpy_helper.from_array(w, "w"), numpy_helper.from_array(b, "b")])
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 13)]), path)


def test_widen_for_bias16_bound():
    s_w = np.array([1e-9 / 127, 0.01], np.float32)
    b = np.array([-5.0, 0.1])
    s_in, k = 1.0 / 32767, 27
    out = widen_for_bias16(s_w, b, s_in, k, per_channel=True)
    assert out[1] == s_w[1] and out[0] > s_w[0]                  # only the dead channel changes
    b_q = np.abs(np.rint(b / (s_in * out.astype(np.float64))))
    assert (b_q + k * 32768 * 128 < fixedpoint.ACC64_LIMIT).all()
    assert (np.abs(np.rint(b / (s_in * s_w.astype(np.float64)))) >= fixedpoint.ACC64_LIMIT).any()  # it needed it


def test_dead_channel_conv_builds_at_int16_and_matches_float(tmp_path):
    _model(tmp_path / "m.onnx")
    rng = np.random.default_rng(1)
    x = np.clip(rng.standard_normal((8, 1, 3, 8, 8)), -1, 1).astype(np.float32)
    np.savez(tmp_path / "c.npz", x=x[:, 0])
    m = qcomp.load(qcomp.build(tmp_path / "m.onnx", "ref", tmp_path / "c.npz", tmp_path / "a",
                               precision=("x=int16", "y=int16")))
    g = qcomp.load_model(tmp_path / "m.onnx")
    for s in x[:2]:
        want = qcomp.run_float(g, {"x": s})["y"]
        got = m.run({"x": s})["y"]
        assert np.abs(got[0, 0] - want[0, 0]).max() < 1e-3          # the dead channel: its bias alone
        assert np.abs(got - want).max() < 1e-2 * np.abs(want).max()   # int8 weights: ~0.3 % here
