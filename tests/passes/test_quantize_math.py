"""Quantization rules of the math ops: every unary one is a Lut equal to its float op within 1 LSB;
Min / Max requantize their operands to the output's params and are then exact; Mod stays float."""
from __future__ import annotations

import numpy as np
import pytest

from qcomp.frontend.export_qdq import export_qdq
from qcomp.ir import DType, Graph, IRError, QuantParams, Stage, TensorType, ops, verify
from qcomp.ir import qops
from qcomp.passes.calibrate import calibrate
from qcomp.passes.lower_integer import lower_integer
from qcomp.passes.quantize import quantize
from qcomp.ref import run_float, run_integer

F = DType.FLOAT32
UNARY = [ops.Elu(0.7), ops.Selu(), ops.Celu(0.5), ops.Softplus(), ops.Softsign(), ops.Mish(), ops.Log(), ops.Abs(),
         ops.Floor(), ops.Ceil(), ops.Round(), ops.Sign(), ops.Sin(), ops.Cos(), ops.ThresholdedRelu(0.4),
         ops.Shrink(0.2, 0.3)]


def _samples(shapes: dict[str, tuple], n: int, seed: int, scale: dict[str, float] | None = None, positive=False):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        s = {k: (rng.standard_normal(v) * (scale or {}).get(k, 2.0)).astype(np.float32) for k, v in shapes.items()}
        out.append({k: np.abs(v) + 0.05 if positive else v for k, v in s.items()})
    return out


def _quantized(g: Graph, samples):
    ranges = calibrate(verify(g), samples).ranges
    return verify(quantize(g, ranges))


def _int8_of(t: Graph, feeds, name):
    got = {}
    run_integer(t, feeds, on_value=lambda k, v: got.__setitem__(k, v))
    return got[name]


@pytest.mark.parametrize("op", UNARY, ids=lambda o: o.kind)
def test_unary_math_op_is_a_lut_within_one_lsb_of_its_float_op(op):
    g = Graph(name="unary")
    g.add_input("x", TensorType((3, 7, 11), F))
    g.add_node(op, ["x"], "y")
    g.outputs = ["y"]
    samples = _samples({"x": (3, 7, 11)}, 4, 0, positive=isinstance(op, ops.Log))
    q = _quantized(g, samples)
    node = next(n for n in q.nodes if n.name == "y")
    assert isinstance(node.op, qops.Lut) and node.op.source == op
    t = verify(lower_integer(q))
    qin, qout = t.types[node.inputs[0]].quant, t.types[node.outputs[0]].quant
    one = Graph(name="float_op")     # the float op on the int8 input's real values: Dequantize -> op -> Quantize
    one.add_input("x", TensorType((3, 7, 11), F))
    one.add_node(op, ["x"], "y")
    one.outputs = ["y"]
    for feeds in samples:
        x_real = ((_int8_of(t, feeds, node.inputs[0]).astype(np.float32) - np.float32(qin.zero_point[0]))
                  * np.float32(qin.scale[0]))
        y = run_float(one, {"x": x_real})["y"]
        want = np.clip(np.rint(y / qout.scale[0]) + qout.zero_point[0], -128, 127)
        got = _int8_of(t, feeds, node.outputs[0]).astype(np.int64)
        assert np.abs(got - want).max() <= 1, op.kind
        assert np.unique(got).size >= 3           # the table maps to more than a constant


def _minmax_graph() -> Graph:
    g = Graph(name="minmax")
    g.add_input("a", TensorType((2, 5, 3), F))
    g.add_input("b", TensorType((5, 1), F))
    g.add_node(ops.Max(), ["a", "b"], "max")
    g.add_node(ops.Min(), ["max", "a"], "min")
    g.add_node(ops.Mod(1), ["min", "a"], "mod")
    g.outputs = ["min", "mod"]
    return g


def test_min_max_requantize_their_operands_and_are_exact():
    g = _minmax_graph()
    samples = _samples({"a": (2, 5, 3), "b": (5, 1)}, 4, 1, {"a": 1.0, "b": 5.0})
    q = _quantized(g, samples)
    by_name = {n.name: n for n in q.nodes}
    for name in ("max", "min"):
        n = by_name[name]
        assert all(q.types[i].quant == q.types[n.outputs[0]].quant for i in n.inputs)
    assert any(isinstance(n.op, ops.Requantize) for n in q.nodes)      # 'max' -> min's params
    assert isinstance(by_name["mod"].op, ops.Mod) and q.types[by_name["mod"].outputs[0]].dtype is F  # float region
    t = verify(lower_integer(q))
    for feeds in samples:
        ints = {}
        run_integer(t, feeds, on_value=lambda k, v: ints.__setitem__(k, v))
        for name in ("max", "min"):
            n = next(n for n in t.nodes if n.name == name)
            ins = [ints[i].astype(np.int64) for i in n.inputs]
            want = np.maximum(*ins) if name == "max" else np.minimum(*ins)
            np.testing.assert_array_equal(ints[n.outputs[0]], want)
        qp = t.types[n.outputs[0]].quant
        real = (ints[n.outputs[0]].astype(np.float64) - qp.zero_point[0]) * qp.scale[0]
        assert np.abs(real - run_float(g, feeds)["min"]).max() <= 2.5 * float(qp.scale[0])


def test_verifier_refuses_int8_max_with_operands_of_other_params():
    g = Graph(name="bad", stage=Stage.TARGET)
    g.add_input("a", TensorType((4,), DType.INT8, QuantParams(0.1, 0)))
    g.add_input("b", TensorType((4,), DType.INT8, QuantParams(0.2, 0)))
    g.add_node(ops.Max(), ["a", "b"], "max", out_types=[TensorType((4,), DType.INT8, QuantParams(0.1, 0))])
    g.outputs = ["max"]
    with pytest.raises(IRError, match="share its output's quant params"):
        verify(g)


def test_qdq_export_of_math_ops_agrees_with_onnxruntime_within_one_lsb():
    import onnxruntime as ort
    g = Graph(name="math_export")
    g.add_input("a", TensorType((2, 5, 3), F))
    g.add_input("b", TensorType((5, 1), F))
    names = []
    for op in UNARY:
        x = "a"
        if isinstance(op, ops.Log):          # log of a positive value
            g.add_node(ops.Softplus(), ["a"], "log_in")
            x = "log_in"
        names.append(f"{op.kind.lower()}_of_a")
        g.add_node(op, [x], names[-1])
    g.add_node(ops.Max(), ["a", "b"], "max")
    g.add_node(ops.Min(), ["max", "elu_of_a"], "min")
    g.outputs = names + ["min"]
    samples = _samples({"a": (2, 5, 3), "b": (5, 1)}, 4, 2)
    q = _quantized(g, samples)
    t = verify(lower_integer(q))
    sess = ort.InferenceSession(export_qdq(q).SerializeToString(), providers=["CPUExecutionProvider"])
    out_names = [o.name for o in sess.get_outputs()]
    for feeds in samples:
        ours = run_integer(t, feeds)
        theirs = dict(zip(out_names, sess.run(None, feeds)))
        for name in g.outputs:
            producer = next(n for n in q.nodes if n.name == name)
            step = float(q.types[producer.outputs[0]].quant.scale[0])
            assert np.abs(ours[name] - theirs[name]).max() <= step * 1.01, name
