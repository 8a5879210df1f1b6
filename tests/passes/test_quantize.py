"""quantize: Before/After on printed IR, the integer numbers it writes, numeric equivalence through
lower_integer + the integer reference, and ranges that must not match.

The tolerance follows from the scales. Through Conv+Relu -> Add -> Sigmoid -> Softmax, with the
input quantized (error <= s_x / 2 inside its range), weights w_hat = w_q * s_w (error <= s_w / 2)
and bias at scale s_b = s_x * s_w:

  e_conv = s_x/2 * sum|w_hat| + s_w/2 * sum_window |x| + s_b/2 + s_conv/2     (x_hat w_hat - x w)
  e_add  = e_conv + s_r/2 + s_add/2                                            (plus 2^-20 terms)
  e_sig  = e_add / 4 + s_sig/2                                                 (sigmoid' <= 1/4; Lut rounding)
  e_out  = e_sig / 2                                                            (softmax: inf-norm Lipschitz 1/2)

per element, computed from the data. Clamps only move a value toward the calibrated range, which
holds the float value, so they never add error.
"""
from __future__ import annotations

import numpy as np
import pytest

from qcomp.ir import DType, Graph, TensorType, format_graph, ops, verify
from qcomp.passes import run_passes
from qcomp.passes.calibrate import calibrate
from qcomp.passes.fuse_activations import fuse_activations
from qcomp.passes.lower_integer import lower_integer
from qcomp.passes.quantize import QuantOptions, quantize
from qcomp.ref import run_float, run_integer

from .helpers import CHAIN_RANGES, F, body, quant_chain_graph

AFTER = """\
graph "chain" QUANTIZED
  input  %x: f32[1x5x5x3]
  input  %r: f32[1x1x1x4]
  const  %w_q: i8[4x3x3x3] q(axis=0, n=4, scale=[0.002..0.02], zp=[0..0])
  const  %b_q: i32[4] q(axis=0, n=4, scale=[2e-05..0.0002], zp=[0..0]) = [ 1000,-4000, 2500, 1500]
  const  %sigmoid_table: i8[256] q(scale=0.00392157, zp=-128)
  %x_q = Quantize(%x) {dtype=i8} : i8[1x5x5x3] q(scale=0.01, zp=0)   # 'x_quantize'
  %relu = Conv2D(%x_q, %w_q, %b_q) {strides=(1, 1), pads=(1, 1, 1, 1), dilations=(1, 1), group=1, act_min=0} \
: i8[1x5x5x4] q(scale=0.01, zp=-128)   # 'conv'
  %r_q = Quantize(%r) {dtype=i8} : i8[1x1x1x4] q(scale=0.01, zp=-64)   # 'r_quantize'
  %add = Add(%relu, %r_q) : i8[1x5x5x4] q(scale=0.02, zp=-78)
  %sigmoid = Lut(%add, %sigmoid_table) {source=Sigmoid(), scalar_first=False} : i8[1x5x5x4] \
q(scale=0.00392157, zp=-128)
  %softmax_q = Softmax(%sigmoid) {axis=3} : i8[1x5x5x4] q(scale=0.00390625, zp=-128)   # 'softmax'
  %softmax = Dequantize(%softmax_q) : f32[1x5x5x4]   # 'softmax_dequantize'
  output %softmax: f32[1x5x5x4]"""


def _fused() -> Graph:
    return run_passes(quant_chain_graph(), (fuse_activations,))


def test_before_after_printed():
    before = _fused()
    assert body(before) == [
        "%relu = Conv2D(%x, %w, %b) {strides=(1, 1), pads=(1, 1, 1, 1), dilations=(1, 1), group=1, act_min=0} "
        ": f32[1x5x5x4]   # 'conv'",
        "%add = Add(%relu, %r) : f32[1x5x5x4]",
        "%sigmoid = Sigmoid(%add) : f32[1x5x5x4]",
        "%softmax = Softmax(%sigmoid) {axis=3} : f32[1x5x5x4]"]
    after = verify(quantize(before, CHAIN_RANGES))
    assert format_graph(after) == AFTER


def test_weights_int8_per_channel_and_bias_int32_at_input_times_weight_scale():
    g = _fused()
    q = quantize(g, CHAIN_RANGES)
    w, b = g.constants["w"], g.constants["b"]
    wt, bt = q.types["w_q"], q.types["b_q"]
    s_w = np.abs(w).reshape(4, -1).max(axis=1) / 127
    assert wt.dtype is DType.INT8 and wt.quant.axis == 0
    np.testing.assert_array_equal(wt.quant.scale, s_w.astype(np.float32))
    np.testing.assert_array_equal(wt.quant.zero_point, 0)
    w_q = q.constants["w_q"]
    np.testing.assert_array_equal(w_q, np.rint(w / wt.quant.scale[:, None, None, None]))
    np.testing.assert_array_equal(np.abs(w_q).reshape(4, -1).max(axis=1), 127)   # symmetric, [-127, 127]
    assert bt.dtype is DType.INT32 and bt.quant.axis == 0
    s_x = float(q.types["x_q"].quant.scale[0])
    np.testing.assert_array_equal(bt.quant.scale, (s_x * wt.quant.scale.astype(np.float64)).astype(np.float32))
    np.testing.assert_array_equal(q.constants["b_q"], [1000, -4000, 2500, 1500])


def test_requantize_only_where_concat_inputs_differ():
    """Concat of two max-pooled int8 values (input params kept): the one whose params differ from
    the output's is requantized, the other is not."""
    g = Graph(name="cat")
    g.add_input("a", TensorType((1, 4, 4, 2), F))
    g.add_input("b", TensorType((1, 4, 4, 3), F))
    g.add_node(ops.MaxPool2D(kernel=(2, 2), strides=(2, 2)), ["a"], "pool_a")
    g.add_node(ops.MaxPool2D(kernel=(2, 2), strides=(2, 2)), ["b"], "pool_b")
    g.add_node(ops.Concat(axis=3), ["pool_a", "pool_b"], "cat")
    g.outputs = ["cat"]
    ranges = {"a": (-1.0, 1.55), "b": (-2.0, 3.1), "pool_a": (-1.0, 1.55), "pool_b": (-2.0, 3.1), "cat": (-2.0, 3.1)}
    assert body(verify(quantize(g, ranges))) == [
        "%a_q = Quantize(%a) {dtype=i8} : i8[1x4x4x2] q(scale=0.01, zp=-28)   # 'a_quantize'",
        "%pool_a = MaxPool2D(%a_q) {kernel=(2, 2), strides=(2, 2), pads=(0, 0, 0, 0), dilations=(1, 1), "
        "ceil_mode=False} : i8[1x2x2x2] q(scale=0.01, zp=-28)",
        "%b_q = Quantize(%b) {dtype=i8} : i8[1x4x4x3] q(scale=0.02, zp=-28)   # 'b_quantize'",
        "%pool_b = MaxPool2D(%b_q) {kernel=(2, 2), strides=(2, 2), pads=(0, 0, 0, 0), dilations=(1, 1), "
        "ceil_mode=False} : i8[1x2x2x3] q(scale=0.02, zp=-28)",
        "%pool_a_rq = Requantize(%pool_a) {dtype=i8} : i8[1x2x2x2] q(scale=0.02, zp=-28)",
        "%cat_q = Concat(%pool_a_rq, %pool_b) {axis=3} : i8[1x2x2x5] q(scale=0.02, zp=-28)   # 'cat'",
        "%cat = Dequantize(%cat_q) : f32[1x2x2x5]   # 'cat_dequantize'"]


def test_skip_keeps_a_node_in_float():
    q = verify(quantize(_fused(), CHAIN_RANGES, QuantOptions(skip=frozenset({"sigmoid"}))))
    assert body(q)[-5:-2] == [
        "%add_dq = Dequantize(%add) : f32[1x5x5x4]   # 'add_dequantize'",
        "%sigmoid = Sigmoid(%add_dq) : f32[1x5x5x4]",
        "%sigmoid_q = Quantize(%sigmoid) {dtype=i8} : i8[1x5x5x4] q(scale=0.00392157, zp=-128)   # 'sigmoid_quantize'"]
    assert "sigmoid_table" not in q.constants


def test_per_tensor_option():
    q = verify(quantize(_fused(), CHAIN_RANGES, QuantOptions(per_channel=False)))
    assert format_graph(q).splitlines()[3:5] == [
        "  const  %w_q: i8[4x3x3x3] q(scale=0.02, zp=0)",
        "  const  %b_q: i32[4] q(scale=0.0002, zp=0) = [  500,-1000,  250, 1500]"]


# ---- numeric equivalence ---------------------------------------------------------------------

def _samples(n: int, r_zero: bool = False, seed: int = 0) -> list[dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    return [{"x": rng.normal(0.0, 0.6, (1, 5, 5, 3)).astype(np.float32),
             "r": (np.zeros((1, 1, 1, 4)) if r_zero else rng.normal(0.3, 0.5, (1, 1, 1, 4))).astype(np.float32)}
            for _ in range(n)]


def _scale(t: Graph, value: str) -> float:
    q = t.types[value].quant
    return 0.0 if q is None else float(q.scale[0])


def _window_abs_sum(x: np.ndarray) -> np.ndarray:
    """sum over each 3x3 window (pads 1) and channel of |x|: [1, 5, 5, 1]."""
    g = Graph()
    g.add_input("x", TensorType(x.shape, F))
    ones = g.add_constant("ones", np.ones((1, 3, 3, x.shape[3]), np.float32))
    g.add_node(ops.Conv2D(pads=(1, 1, 1, 1)), ["x", ones, g.add_constant("zero", np.zeros(1, np.float32))], "s")
    g.outputs = ["s"]
    return run_float(g, {"x": np.abs(x)})["s"]


def chain_bounds(t: Graph, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Per-element error bounds (module docstring) of the lowered chain's values, in real units."""
    wt = t.types["w_q"].quant
    s_w = np.broadcast_to(wt.scale.astype(np.float64), (4,))
    w_hat = t.constants["w_q"] * s_w[:, None, None, None]
    s_x, s_r = _scale(t, "x_q"), _scale(t, "r_q")
    e_conv = (s_x / 2 * np.abs(w_hat).reshape(4, -1).sum(axis=1) + s_w / 2 * _window_abs_sum(feeds["x"])
              + s_x * s_w / 2 + _scale(t, "relu") * (0.5 + 1e-4))
    e_add = e_conv + s_r / 2 + _scale(t, "add") * (0.5 + 1e-3)
    e_sig = e_add / 4 + _scale(t, "sigmoid") / 2 + 1e-6     # a float Sigmoid (skip) has scale 0
    return {"relu": e_conv, "add": e_add, "sigmoid": e_sig, "softmax": e_sig / 2 + 1e-6}


def chain_errors(t: Graph, g: Graph, feeds) -> dict[str, np.ndarray]:
    """|integer - float| of the chain's values, the int8 ones dequantized."""
    got: dict[str, np.ndarray] = {}
    run_integer(t, feeds, on_value=lambda k, v: got.__setitem__(k, v))
    want: dict[str, np.ndarray] = {}
    run_float(g, feeds, on_value=lambda k, v: want.__setitem__(k, v))
    errs = {}
    for v in ("relu", "add", "sigmoid", "softmax"):
        q = t.types[v].quant
        real = got[v] if q is None else (got[v].astype(np.float64) - int(q.zero_point[0])) * float(q.scale[0])
        errs[v] = np.abs(real - want[v].astype(np.float64))
    return errs


def _lowered(options: QuantOptions = QuantOptions(), samples=None, ranges=None):
    g = _fused()
    samples = samples or _samples(6)
    ranges = ranges or calibrate(g, samples).ranges
    return g, verify(lower_integer(verify(quantize(g, ranges, options)))), samples


@pytest.mark.parametrize("options", [QuantOptions(), QuantOptions(per_channel=False),
                                     QuantOptions(skip=frozenset({"sigmoid"}))],
                         ids=["per_channel", "per_tensor", "skip_sigmoid"])
def test_integer_reference_matches_float_within_the_scale_bound(options):
    g, t, samples = _lowered(options)
    worst = {}
    for feeds in samples:
        errs, bounds = chain_errors(t, g, feeds), chain_bounds(t, feeds)
        for v, e in errs.items():
            assert np.all(e <= bounds[v]), f"{v}: error {e.max():.4g} over the bound at {np.argmax(e - bounds[v])}"
            worst[v] = max(worst.get(v, 0.0), float(e.max()))
    assert worst["relu"] > 0 and worst["softmax"] > 0      # the comparison sees quantization at all
    bounds = chain_bounds(t, samples[0])    # and the bound is a few LSB of the int8 values, not a blanket
    assert bounds["relu"].max() < 10 * _scale(t, "relu")
    assert bounds["add"].max() < 10 * _scale(t, "add")


def test_all_zero_input_gets_scale_zero_and_still_matches():
    samples = _samples(4, r_zero=True)
    g, t, _ = _lowered(samples=samples)
    assert _scale(t, "r_q") == 0.0
    for feeds in samples:
        errs, bounds = chain_errors(t, g, feeds), chain_bounds(t, feeds)
        for v, e in errs.items():
            assert np.all(e <= bounds[v]), v


def test_all_zero_weight_channel_outputs_its_bias():
    g = _fused()
    w = g.constants["w"].copy()
    w[2] = 0.0
    g.constants["w"] = w
    w.flags.writeable = False
    samples = _samples(4)
    t = lower_integer(quantize(g, calibrate(g, samples).ranges))
    np.testing.assert_array_equal(t.constants["w_q"][2], 0)
    assert t.types["w_q"].quant.scale[2] > 0                # any positive scale, never 0
    got: dict[str, np.ndarray] = {}
    run_integer(t, samples[0], on_value=lambda k, v: got.__setitem__(k, v))
    q = t.types["relu"].quant
    relu = (got["relu"][..., 2].astype(np.float64) - int(q.zero_point[0])) * float(q.scale[0])
    np.testing.assert_allclose(relu, 0.05, atol=float(q.scale[0]) / 2 + 1e-7)   # relu(bias 0.05)


def test_wrong_ranges_do_not_match():
    """The negative case: a conv range 8x too narrow clips, far beyond the bound."""
    g = _fused()
    samples = _samples(6)
    ranges = dict(calibrate(g, samples).ranges)
    lo, hi = ranges["relu"]
    ranges["relu"] = (lo, hi / 8)
    _, t, _ = _lowered(samples=samples, ranges=ranges)
    errs, bounds = chain_errors(t, g, samples[0]), chain_bounds(t, samples[0])
    assert (errs["relu"] - bounds["relu"]).max() > 20 * _scale(t, "relu")
    assert (errs["softmax"] > bounds["softmax"]).any()


def test_all_zero_intermediate_gets_scale_zero_and_multiplier_zero():
    """Zero weights and bias: the conv's output is all zero (scale 0, multiplier 0, the output is its
    zero point), and the Add after it passes r through (its multiplier for the zero operand is 0)."""
    g = _fused()
    for c in ("w", "b"):
        zero = np.zeros_like(g.constants[c])
        zero.flags.writeable = False
        g.constants[c] = zero
    samples = _samples(3)
    t = verify(lower_integer(verify(quantize(g, calibrate(g, samples).ranges))))
    assert _scale(t, "relu") == 0.0
    np.testing.assert_array_equal(t.constants["conv_multiplier"], 0)
    assert t.node("add").op.a_multiplier == 0
    for feeds in samples:
        errs = chain_errors(t, g, feeds)
        assert errs["relu"].max() == 0.0
        assert errs["add"].max() <= _scale(t, "r_q") / 2 + _scale(t, "add") * (0.5 + 1e-3)
