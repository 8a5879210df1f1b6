"""LSTM, GRU and RNN (ops_recurrent.py, recurrent_cells.py): every attribute combination against
onnxruntime (float, through import_onnx + ref.run_float), the names of the unrolled nodes, and the
refusals (steps over the limit, run-time weights or lengths, bad attributes).
"""
from __future__ import annotations

import numpy as np
import pytest

from qcomp.errors import UnsupportedModelError
from qcomp.frontend import import_onnx
from qcomp.frontend.ops_recurrent import MAX_STEPS
from qcomp.ref import run_float

from .recurrent_models import Spec, build, onnxruntime_outputs

DIRS = ("forward", "reverse", "bidirectional")
SPECS = [Spec(c, d, layout) for c in ("RNN", "GRU", "LSTM") for d in DIRS for layout in (0, 1)] + [
    Spec(c, d, layout, initial="input", lengths=(5, 2, 3)) for c in ("RNN", "GRU", "LSTM") for d in DIRS
    for layout in (0, 1)] + [
    Spec("LSTM", "bidirectional", initial="const", lengths=(1, 5, 4)),
    Spec("GRU", "reverse", 1, initial="const", lengths=(4, 4, 4)),      # every entry full: no masking
    Spec("RNN", "forward", lengths=(2, 2, 2)),                          # every entry ends early
    Spec("LSTM", "reverse", lengths=(3, 1, 3), bias=False),
    Spec("LSTM", peephole=True), Spec("LSTM", "bidirectional", 1, initial="input", peephole=True, lengths=(5, 3, 4)),
    Spec("LSTM", attrs=(("input_forget", 1),)), Spec("LSTM", "reverse", attrs=(("input_forget", 1),), peephole=True),
    Spec("LSTM", attrs=(("clip", 0.4),), peephole=True), Spec("RNN", "bidirectional", attrs=(("clip", 0.7),)),
    Spec("GRU", attrs=(("linear_before_reset", 1),)),
    Spec("GRU", "bidirectional", initial="input", lengths=(1, 5, 4), attrs=(("linear_before_reset", 1),)),
    Spec("GRU", "reverse", lengths=(2, 2, 3), attrs=(("linear_before_reset", 1), ("clip", 0.5))),
    Spec("LSTM", outputs=(False, True, False)), Spec("LSTM", "bidirectional", lengths=(3, 1, 5), outputs=(False, False, True)),
    Spec("GRU", outputs=(True, False)), Spec("RNN", "bidirectional", outputs=(False, True)),
    Spec("LSTM", opset=11, initial="input"), Spec("GRU", "bidirectional", opset=21), Spec("RNN", opset=11),
    Spec("LSTM", steps=1, batch=1, hidden=3), Spec("GRU", "bidirectional", 1, steps=1, batch=1),
    Spec("LSTM", "bidirectional", attrs=(("activations", ["HardSigmoid", "LeakyRelu", "ScaledTanh"] * 2),
                                         ("activation_alpha", [0.3, 0.05, 0.9, 0.25, 0.1, 1.1]),
                                         ("activation_beta", [0.45, 1.2, 0.55, 0.8]))),
    Spec("GRU", attrs=(("activations", ["Softsign", "Elu"]), ("activation_alpha", [0.7]))),
    Spec("GRU", "reverse", attrs=(("activations", ["Sigmoid", "Softplus"]),)),
    Spec("RNN", "bidirectional", attrs=(("activations", ["Relu", "Affine"]), ("activation_alpha", [0.5]),
                                        ("activation_beta", [0.2]))),
    Spec("RNN", attrs=(("activations", ["ThresholdedRelu"]), ("activation_alpha", [0.3]))),
    Spec("LSTM", "reverse", attrs=(("activations", ["sigmoid", "tanh", "relu"]),)),
    # alphas / betas left out: onnxruntime's defaults (0 where the ONNX spec gives none)
    Spec("RNN", "bidirectional", attrs=(("activations", ["ThresholdedRelu", "Affine"]),)),
    Spec("RNN", attrs=(("activations", ["ScaledTanh"]),)),
    Spec("GRU", attrs=(("activations", ["HardSigmoid", "LeakyRelu"]),)),
]


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.id)
def test_matches_onnxruntime(spec: Spec):
    m, feeds, want = onnxruntime_outputs(spec)
    got = run_float(import_onnx(m), feeds)
    assert set(got) == set(want)
    for k, v in want.items():
        assert got[k].shape == v.shape, k
        np.testing.assert_allclose(got[k], v, rtol=1e-5, atol=2e-6, err_msg=k)


def test_unrolled_nodes_are_named_after_the_node_and_step():
    g = import_onnx(build(Spec("LSTM", "bidirectional", steps=3))[0])
    names = {n.name for n in g.nodes}
    assert {"rnn1/fw/input_projection", "rnn1/bw/input_projection", "rnn1/fw/step2/gates",
            "rnn1/bw/step0/recurrence", "rnn1/fw/step1/h", "rnn1/bw/step1/c"} <= names
    assert "rnn1/fw/step0/recurrence" not in names    # no initial state: the first step has no R product
    single = {n.name for n in import_onnx(build(Spec("GRU", steps=2))[0]).nodes}
    assert {"rnn1/step1/recurrence", "rnn1/step1/zr", "rnn1/step1/n"} <= single


def _refusal(m) -> str:
    with pytest.raises(UnsupportedModelError) as e:
        import_onnx(m)
    return str(e.value)


def test_too_many_steps_is_refused_naming_the_node_and_the_limit():
    msg = _refusal(build(Spec("GRU", steps=MAX_STEPS + 1, batch=1, inputs=2, hidden=2))[0])
    assert "'rnn1'" in msg and f"at most {MAX_STEPS} steps" in msg and "--input-shape" in msg


def test_run_time_weights_and_lengths_are_refused():
    m, _ = build(Spec("LSTM"))
    w = next(t for t in m.graph.initializer if t.name == "W")
    m.graph.initializer.remove(w)
    m.graph.input.append(__import__("onnx").helper.make_tensor_value_info("W", 1, list(w.dims)))
    assert "W (input 1) is computed at run time" in _refusal(m)
    m, _ = build(Spec("RNN", lengths=(1, 2, 3)))
    seq = next(t for t in m.graph.initializer if t.name == "seq")
    m.graph.initializer.remove(seq)
    m.graph.input.append(__import__("onnx").helper.make_tensor_value_info("seq", 6, [3]))
    assert "sequence_lens (input 4) is computed at run time" in _refusal(m)


@pytest.mark.parametrize("spec,words", [
    (Spec("RNN", attrs=(("activations", ["Gelu"]),)), "activation 'Gelu' is not one of"),
    (Spec("GRU", attrs=(("activations", ["Sigmoid"]),)), "takes 2 (2 per direction)"),
    (Spec("LSTM", attrs=(("clip", -1.0),)), "clip -1.0 must be positive"),
    (Spec("RNN", attrs=(("hidden_size", 5),)), "hidden_size 5 disagrees"),
    (Spec("RNN", lengths=(0, 2, 3)), "must lie in 1..5"),
    (Spec("RNN", lengths=(6, 2, 3)), "must lie in 1..5"),
], ids=lambda v: v.id if isinstance(v, Spec) else "")
def test_bad_attributes_are_refused(spec, words):
    assert words in _refusal(build(spec)[0])


INT8_SPECS = [
    Spec("LSTM", "bidirectional", initial="input", peephole=True, lengths=(5, 2, 4), attrs=(("clip", 2.0),)),
    Spec("LSTM", "reverse", 1, attrs=(("input_forget", 1),)),
    Spec("GRU", "bidirectional", initial="const", lengths=(3, 5, 1), attrs=(("linear_before_reset", 1),)),
    Spec("GRU", "forward", 1, attrs=(("activations", ["HardSigmoid", "Softsign"]),)),
    Spec("RNN", "bidirectional", attrs=(("activations", ["Relu", "ScaledTanh"]), ("activation_alpha", [0.9]),
                                        ("activation_beta", [0.7]))),
    Spec("RNN", attrs=(("activations", ["Affine"]), ("activation_alpha", [0.5]), ("activation_beta", [0.1]))),
]


@pytest.mark.parametrize("spec", INT8_SPECS, ids=lambda s: s.id)
def test_int8_follows_float(spec: Spec):
    """Static int8 (calibrated on seeded inputs, lowered, run by the integer reference): every op of the
    unrolled cell has an integer form (no float region) and the result stays close to float."""
    from qcomp.passes.calibrate import calibrate
    from qcomp.passes.lower_integer import lower_integer
    from qcomp.passes.quantize import quantize
    from qcomp.ref import run_integer
    m, feeds = build(spec)
    g = import_onnx(m)
    rng = np.random.default_rng(5)
    calib = [{k: rng.normal(0, np.std(v), v.shape).astype(np.float32) for k, v in feeds.items()} for _ in range(8)]
    t = lower_integer(quantize(g, calibrate(g, calib + [feeds]).ranges))
    floats = [n.name for n in t.nodes if n.kind in ("Dense", "Add", "Sub", "Mul", "Sigmoid", "Tanh")]
    assert not floats, floats
    assert {"QDense", "QAdd", "Lut"} | ({"QMul"} if spec.cell != "RNN" else set()) <= {n.kind for n in t.nodes}
    want, got = run_float(g, feeds), run_integer(t, feeds)
    for k, b in want.items():
        a = got[k]
        cos = float(a.ravel() @ b.ravel() / (np.linalg.norm(a) * np.linalg.norm(b)))
        assert cos > 0.99, (k, cos)
