"""lower_integer: the integers of a lowered layer worked out by hand, the accumulator-overflow
refusal, run_integer of a lowered graph against the independent evaluation of tests/opcases/naive.py,
and a lowering that must not match (the zero-point fold left out)."""
from __future__ import annotations

import numpy as np
import pytest

from opcases import naive
from qcomp.errors import QcompError
from qcomp.ir import DType, Graph, TensorType, format_node, ops, verify
from qcomp.passes.calibrate import calibrate
from qcomp.passes.lower_integer import lower_integer
from qcomp.passes.quantize import quantize
from qcomp.ref import run_integer

from .helpers import F, quantized_weighted_graph

# w[o, kh, kw, c] of a 2x1 conv over 2 channels; sum(w[o]) = 6, 5, 6
W = np.array([[[[1, -2]], [[3, 4]]],
              [[[-127, 127]], [[0, 5]]],
              [[[7, 7]], [[-7, -1]]]])


def _conv(act_min=0.0, act_max=6.0, s_in=0.5):
    op = ops.Conv2D(pads=(1, 0, 0, 0), act_min=act_min, act_max=act_max)
    return quantized_weighted_graph(op, (1, 3, 3, 2), W, np.array([100, -7, 0]), s_in, 3,
                                    [0.25, 0.0625, 0.1875], 0.125, -10)


def test_conv_integers_by_hand():
    """M = s_in * s_w / s_out = 0.5 * [1/4, 1/16, 3/16] / (1/8) = [1, 1/4, 3/4]
         = 2^30 * 2^(1 - 31), 2^30 * 2^(-1 - 31), (3 * 2^29) * 2^(0 - 31)
    bias' = bias - zp_in * sum(w) = [100 - 3 * 6, -7 - 3 * 5, 0 - 3 * 6] = [82, -22, -18]
    Relu6 at s_out = 1/8, zp_out = -10: [qmin, qmax] = [-10 + 0, -10 + 6 * 8] = [-10, 38]."""
    t = verify(lower_integer(_conv()))
    node = t.node("layer")
    assert format_node(t, node) == (
        "%layer = QConv2D(%x, %w, %b_folded, %layer_multiplier, %layer_shift) {strides=(1, 1), "
        "pads=(1, 0, 0, 0), dilations=(1, 1), group=1, input_zero_point=3, output_zero_point=-10, qmin=-10, "
        "qmax=38} : i8[1x3x3x3] q(scale=0.125, zp=-10)")
    np.testing.assert_array_equal(t.constants["layer_multiplier"], [1 << 30, 1 << 30, 3 << 29])
    np.testing.assert_array_equal(t.constants["layer_shift"], [1, -1, 0])
    np.testing.assert_array_equal(t.constants["b_folded"], [82, -22, -18])
    assert all(t.constants[c].dtype == np.int32 for c in ("layer_multiplier", "layer_shift", "b_folded"))


def test_all_zero_input_scale_uses_unit_accumulator_scale():
    """s_in = 0 (an all-zero input): the bias alone is the result, at scale 1 * s_w, so
    M = s_w / s_out = [2, 1/2, 3/2]."""
    t = lower_integer(_conv(s_in=0.0))
    np.testing.assert_array_equal(t.constants["layer_multiplier"], [1 << 30, 1 << 30, 3 << 29])
    np.testing.assert_array_equal(t.constants["layer_shift"], [2, 0, 1])


def test_conv_transpose_keeps_its_bias_unfolded():
    g = quantized_weighted_graph(ops.ConvTranspose2D(strides=(2, 2)), (1, 3, 3, 2), W, np.array([100, -7, 0]),
                                 0.5, 3, [0.25, 0.0625, 0.1875], 0.125, -10)
    t = lower_integer(g)
    assert t.node("layer").kind == "QConvTranspose2D" and t.node("layer").op.input_zero_point == 3
    np.testing.assert_array_equal(t.constants["b_folded"], [100, -7, 0])


@pytest.mark.parametrize("act,s_out,zp_out,bounds", [
    ((None, None), 0.125, -10, (-128, 127)),
    ((0.0, None), 0.125, -10, (-10, 127)),             # Relu: real 0 is the zero point
    ((0.0, 6.0), 0.125, -10, (-10, 38)),               # Relu6: 6 / (1/8) = 48 steps above it
    ((0.0, 6.0), 0.1, 0, (0, 60)),                     # 6 / float32(0.1) = 59.99999911 -> 60
    ((0.0, 100.0), 0.125, -10, (-10, 127)),            # beyond the int8 range: int8 wins
    ((-100.0, 1.0), 0.125, -10, (-128, -2)),
])
def test_clamp_bounds_by_hand(act, s_out, zp_out, bounds):
    g = quantized_weighted_graph(ops.Dense(*act), (2, 4), np.ones((3, 4)), np.zeros(3), 0.5, 0, [0.1] * 3,
                                 s_out, zp_out)
    op = lower_integer(g).node("layer").op
    assert (op.qmin, op.qmax) == bounds


# ---- accumulator overflow --------------------------------------------------------------------

def _dense(k: int, bias: int) -> Graph:
    g = quantized_weighted_graph(ops.Dense(), (1, k), np.ones((2, k)), np.array([bias, 0]), 0.01, 0,
                                 [0.01, 0.01], 1.0, 0)
    g.nodes[0].name = "fc_huge"
    return g


def test_overflow_refusal_names_the_node():
    """K * 127 * 255 + |bias| must fit int32: K = 66311 does (2147481735), K = 66312 does not."""
    lower_integer(_dense(66311, 0))
    with pytest.raises(QcompError, match=r"node 'fc_huge' \(Dense\).*66312 terms.*--skip fc_huge"):
        lower_integer(_dense(66312, 0))


def test_overflow_refusal_counts_the_bias():
    room = (1 << 31) - 1 - 16 * 127 * 255
    lower_integer(_dense(16, room))
    lower_integer(_dense(16, -room))
    with pytest.raises(QcompError, match=rf"node 'fc_huge'.*bias of {room + 1}"):
        lower_integer(_dense(16, room + 1))


def test_matmul_overflow_refusal():
    """Two activations: K * 255 * 255 must fit int32: K = 33025 does, 33026 does not."""
    def graph(k):
        g = Graph(name="mm")
        for name, shape in (("a", (1, k)), ("b", (k, 1))):
            g.add_input(name, TensorType(shape, F))
        g.add_node(ops.MatMul(), ["a", "b"], "scores")
        g.outputs = ["scores"]
        return quantize(g, {"a": (-1.0, 1.0), "b": (-1.0, 1.0), "scores": (-2.0, 2.0)})
    lower_integer(graph(33025))
    with pytest.raises(QcompError, match=r"node 'scores' \(MatMul\).*--skip scores"):
        lower_integer(graph(33026))


# ---- numeric: run_integer == the naive evaluation ---------------------------------------------

def _float_model() -> Graph:
    """conv+relu -> (avgpool, pad+maxpool) -> add, mul, sub -> concat -> tanh -> mean -> dense -> matmul."""
    rng = np.random.default_rng(0)
    g = Graph(name="mix")
    g.add_input("x", TensorType((1, 7, 7, 3), F))
    g.add_input("z", TensorType((5, 3), F))

    def const(name, shape, std):
        return g.add_constant(name, (rng.standard_normal(shape) * std).astype(np.float32))

    g.add_node(ops.Conv2D(pads=(1, 1, 1, 1), act_min=0.0), ["x", const("w1", (8, 3, 3, 3), 0.4),
                                                           const("b1", (8,), 0.2)], "conv")
    g.add_node(ops.AvgPool2D(kernel=(3, 3), strides=(2, 2), pads=(1, 1, 1, 1)), ["conv"], "avg")
    g.add_node(ops.Pad(pads=(0, 0, 0, 0, 0, 1, 1, 0)), ["conv"], "pad")
    g.add_node(ops.MaxPool2D(kernel=(2, 2), strides=(2, 2)), ["pad"], "max")
    g.add_node(ops.Add(), ["avg", "max"], "add")
    g.add_node(ops.Mul(), ["avg", "max"], "mul")
    g.add_node(ops.Sub(), ["add", "mul"], "sub")
    g.add_node(ops.Concat(axis=3), ["add", "sub"], "cat")
    g.add_node(ops.Tanh(), ["cat"], "tanh")
    g.add_node(ops.ReduceMean(axes=(1, 2), keepdims=False), ["tanh"], "gap")
    g.add_node(ops.Dense(), ["gap", const("w2", (5, 16), 0.5), const("b2", (5,), 0.1)], "fc")
    g.add_node(ops.MatMul(), ["fc", "z"], "mm")
    g.outputs = ["mm", "tanh"]
    return verify(g)


def _samples(n: int, seed: int):
    rng = np.random.default_rng(seed)
    return [{"x": rng.normal(0.5, 1.0, (1, 7, 7, 3)).astype(np.float32),
             "z": rng.normal(0.0, 1.0, (5, 3)).astype(np.float32)} for _ in range(n)]


def _lowered():
    g = _float_model()
    return verify(lower_integer(verify(quantize(g, calibrate(g, _samples(4, 1)).ranges))))


def test_run_integer_of_the_lowered_graph_equals_naive():
    t = _lowered()
    kinds = {n.kind for n in t.nodes}
    assert {"QConv2D", "QAvgPool2D", "Pad", "MaxPool2D", "QAdd", "QMul", "QSub", "QRequantize", "Concat",
            "Lut", "QMean", "QDense", "QMatMul"} <= kinds, kinds
    assert t.node("pad").op.value == t.types["conv"].quant.zero_point[0]   # the int8 encoding of 0.0
    for feeds in _samples(2, 2):
        got, want = run_integer(t, feeds), naive.run(t, feeds)
        for name in t.outputs:
            np.testing.assert_array_equal(got[name], want[name], err_msg=name)


def test_without_the_zero_point_fold_results_differ():
    """The negative case: the conv's raw bias instead of bias - zp_in * sum(w) shifts the results."""
    t = _lowered()
    node = t.node("conv")
    assert node.op.input_zero_point != 0
    wrong = t.copy()
    raw = _float_model()
    q = quantize(raw, calibrate(raw, _samples(4, 1)).ranges)
    wrong.constants[node.inputs[2]] = q.constants[q.node("conv").inputs[2]]
    feeds = _samples(1, 2)[0]
    right_out, wrong_out = naive.run(t, feeds)["tanh"], naive.run(wrong, feeds)["tanh"]
    assert np.abs(right_out - wrong_out).max() > 0.1
