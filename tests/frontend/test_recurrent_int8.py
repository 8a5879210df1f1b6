"""Recurrent nodes quantized (static int8) and compiled: one model holding a bidirectional LSTM with
peepholes, initial states as graph inputs and shorter constant sequence lengths (the masked steps:
Mul by a 0/1 constant, rows kept through Slice / Concat), and a reverse GRU with
linear_before_reset, both reading X. Built once per module for ref, x86-vnni, dsp-c and cortex-m4
(QEMU): the artifacts are bit-exact to ref, and the int8 result follows onnxruntime's FP32 one. The
LSTM cell state and GRU hidden state are int16 here (the default, passes/state16.py).
"""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import qcomp
from qcomp.target import get_target, host_support

from .recurrent_models import Spec, build

TARGETS = ("ref", "x86-vnni", "dsp-c", "cortex-m4")
LSTM = Spec("LSTM", "bidirectional", steps=6, batch=3, inputs=5, hidden=8, initial="input", lengths=(6, 3, 5),
            peephole=True)
GRU = Spec("GRU", "reverse", steps=6, batch=3, inputs=5, hidden=7, lengths=(2, 6, 4),
           attrs=(("linear_before_reset", 1),))


def _model() -> tuple[onnx.ModelProto, dict[str, np.ndarray]]:
    """The two nodes in one graph (the GRU's tensors renamed with a 'gru_' prefix)."""
    lstm, feeds = build(LSTM)
    gru, _ = build(GRU)
    node = gru.graph.node[0]
    renamed = {t.name: f"gru_{t.name}" for t in gru.graph.initializer}
    node.input[:] = [renamed.get(i, i) for i in node.input]
    node.output[:] = [f"gru_{o}" if o else o for o in node.output]
    node.name = "gru1"
    g = lstm.graph
    g.node.append(node)
    for t in gru.graph.initializer:
        g.initializer.append(numpy_helper.from_array(numpy_helper.to_array(t), renamed[t.name]))
    g.output.extend(helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in node.output if o)
    return lstm, feeds


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    m, feeds = _model()
    root = tmp_path_factory.mktemp("recurrent_int8")
    onnx.save(m, root / "model.onnx")
    rng = np.random.default_rng(3)
    np.savez(root / "calib.npz", **{k: rng.normal(0, np.std(v), (16,) + v.shape).astype(np.float32)
                                    for k, v in feeds.items()})
    outs = {}
    for t in TARGETS:
        s = host_support(get_target(t))
        if not (s.can_build and s.can_run):
            pytest.skip(f"this host cannot build and run {t}: {s.why}")
        art = qcomp.build(root / "model.onnx", target=t, calib=root / "calib.npz", out=root / t)
        outs[t] = qcomp.load(art).run(feeds)
    return m, feeds, outs


@pytest.mark.parametrize("target", TARGETS[1:])
def test_bit_exact_to_ref(built, target):
    _, _, outs = built
    assert sorted(outs[target]) == sorted(outs["ref"]) == ["Y", "Y_c", "Y_h", "gru_Y", "gru_Y_h"]
    for k, v in outs["ref"].items():
        np.testing.assert_array_equal(outs[target][k], v, err_msg=f"{target} {k}")


def test_int8_follows_fp32(built):
    import onnxruntime as ort
    m, feeds, outs = built
    sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    want = dict(zip([o.name for o in sess.get_outputs()], sess.run(None, feeds)))
    for k, b in want.items():
        a = outs["ref"][k]
        cos = float(a.ravel() @ b.ravel() / (np.linalg.norm(a) * np.linalg.norm(b)))
        assert cos > 0.99, (k, cos)
        # past an entry's length the outputs are exactly zero, in int8 too
        if k == "Y":
            assert not a[3:, :, 1].any() and not a[5:, :, 2].any() and a[:3, :, 1].any()
        if k == "gru_Y":
            assert not a[2:, :, 0].any() and not a[4:, :, 2].any()
