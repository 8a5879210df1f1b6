"""The int16 recurrent state (passes/state16.py): which values become int16, that it can be turned
off, and that it is more exact than an int8 state on a long sequence. Bit-exactness across targets
with the rule on (the default): test_recurrent_int8.py (ref, x86-vnni, dsp-c, cortex-m4: peepholes,
masked steps, initial states as inputs) and tests/models/test_audio_frontend.py (also arm-sdot and
cuda --emulate).
"""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

import qcomp
from qcomp.errors import QcompError
from qcomp.ir.serialize import load_graph

from .recurrent_models import Spec, build

SMALL = Spec("LSTM", "forward", steps=4, batch=2, inputs=5, hidden=6, initial="input", peephole=True)
SMALL_GRU = Spec("GRU", "forward", steps=4, batch=2, inputs=5, hidden=6)
LONG = Spec("LSTM", "forward", steps=120, batch=2, inputs=4, hidden=16)


def _long_memory(m: onnx.ModelProto, hidden: int) -> onnx.ModelProto:
    """Weights of an LSTM that remembers (forget-gate bias +4, small W and R: f close to 1, so the
    cell state sums i * g over many steps, as trained keyword and speech LSTMs do)."""
    rng = np.random.default_rng(0)
    for t in m.graph.initializer:
        a = numpy_helper.to_array(t)
        if t.name in ("W", "R"):
            a = rng.normal(0, 0.3 if t.name == "W" else 0.15, a.shape)
        elif t.name == "B":
            a = rng.normal(0, 0.1, a.shape)
            a[0, 2 * hidden:3 * hidden] += 4.0     # gate order i, o, f, c: the forget gate's Wb
        t.CopyFrom(numpy_helper.from_array(np.asarray(a, np.float32), t.name))
    return m


def _calib(root, feeds, seed=3, n=16):
    rng = np.random.default_rng(seed)
    path = root / "calib.npz"
    np.savez(path, **{k: rng.normal(0, np.std(v), (n,) + v.shape).astype(np.float32) for k, v in feeds.items()})
    return path


def _i16_nodes(art) -> set[str]:
    g = load_graph(art / "model.qir")
    return {n.name.rsplit("/", 1)[-1] for n in g.nodes if any(g.types[o].dtype.value == "i16" for o in n.outputs)}


@pytest.fixture(scope="module")
def small(tmp_path_factory):
    root = tmp_path_factory.mktemp("state16")
    m, feeds = build(SMALL)
    onnx.save(m, root / "model.onnx")
    return root, feeds, _calib(root, feeds)


def test_cell_state_is_int16_by_default_and_int8_on_request(small):
    root, feeds, calib = small
    art = qcomp.build(root / "model.onnx", target="ref", calib=calib, out=root / "ref")
    assert {"fc", "ig", "c", "peep_i", "peep_f", "peep_o"} & _i16_nodes(art) >= {"fc", "ig", "c"}
    manifest_state = qcomp.load(art).manifest["calibration"]["recurrent_state"]
    assert manifest_state["dtype"] == "int16" and manifest_state["values"] > 0
    g = load_graph(art / "model.qir")
    assert all(g.types[o].dtype.value == "f32" for o in g.outputs)   # Y, Y_h, Y_c stay int8 before dequantize
    one = qcomp.build(root / "model.onnx", target="ref", calib=calib, out=root / "one8",
                      precision=("rnn1/step2/c=int8",))
    g1 = load_graph(one / "model.qir")
    c2 = next(n.outputs[0] for n in g1.nodes if n.name == "rnn1/step2/c")   # the QAdd16 of fc and ig
    narrowed = [n for n in g1.nodes if n.inputs[:1] == (c2,) and n.kind == "Requantize"]
    assert [g1.types[n.outputs[0]].dtype.value for n in narrowed] == ["i8"]   # the state carried on is int8
    c1 = next(n.outputs[0] for n in g1.nodes if n.name == "rnn1/step1/c")
    assert not any(n.inputs[:1] == (c1,) and n.kind == "Requantize" for n in g1.nodes)   # int16 read directly
    off = qcomp.build(root / "model.onnx", target="ref", calib=calib, out=root / "ref8", recurrent_state="int8")
    assert _i16_nodes(off) == set()
    with pytest.raises(QcompError, match="--recurrent-state 'int4'"):
        qcomp.build(root / "model.onnx", target="ref", calib=calib, out=root / "bad", recurrent_state="int4")


def test_gru_hidden_state_is_int16(tmp_path):
    m, feeds = build(SMALL_GRU)
    onnx.save(m, tmp_path / "gru.onnx")
    art = qcomp.build(tmp_path / "gru.onnx", target="ref", calib=_calib(tmp_path, feeds), out=tmp_path / "ref")
    assert {"h", "h_minus_n", "z_diff", "zn"} <= _i16_nodes(art)


def test_int16_state_is_closer_to_fp32_on_a_long_sequence(tmp_path):
    """120 steps: the int8 state's rounding errors add up, the int16 state's do not."""
    import onnxruntime as ort
    m, feeds = build(LONG)
    m = _long_memory(m, LONG.hidden)
    sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    want = dict(zip([o.name for o in sess.get_outputs()], sess.run(None, feeds)))
    onnx.save(m, tmp_path / "long.onnx")
    calib = _calib(tmp_path, feeds, n=8)
    err = {}
    for state in ("int8", "int16"):
        art = qcomp.build(tmp_path / "long.onnx", target="ref", calib=calib, out=tmp_path / state,
                          recurrent_state=state)
        got = qcomp.load(art).run(feeds)
        err[state] = float(np.sqrt(np.mean((got["Y"] - want["Y"]) ** 2)))
    print(f"\n[120-step LSTM] rms error of Y vs FP32: int8 state {err['int8']:.4f}, int16 state {err['int16']:.4f}")
    assert err["int16"] < 0.7 * err["int8"], err   # measured: 0.0459 and 0.0215


def test_cli_flag_and_qdq_export(small, tmp_path, capsys):
    """`--recurrent-state int8` on build; `qcomp quantize` exports QDQ (int8) of an LSTM model without it."""
    from qcomp import cli
    root, _, calib = small
    assert cli.main(["build", str(root / "model.onnx"), "--calib", str(calib), "--recurrent-state", "int8",
                     "-o", str(tmp_path / "art")]) == 0
    assert _i16_nodes(tmp_path / "art") == set()
    assert cli.main(["quantize", str(root / "model.onnx"), "--calib", str(calib), "-o", str(tmp_path / "m.qdq.onnx")]) == 0
    assert "wrote QDQ model" in capsys.readouterr().out
    assert cli.main(["quantize", str(root / "model.onnx"), "--calib", str(calib), "--recurrent-state", "int16",
                     "-o", str(tmp_path / "m16.qdq.onnx")]) == 2
    assert "int8 models only" in capsys.readouterr().err
