"""fold_pad: an explicit constant Pad folded into the Conv2D / pooling padding after it.

Each foldable case: the After graph as printed IR, float results equal to the unfolded graph's, and
the quantized graphs (calibrated on the same samples) bit-exact: the folded TARGET graph's integer
results equal the unfolded one's, on ref and on x86-vnni. Each non-foldable case: the graph is
returned unchanged, with the reason why_not_foldable gives."""
import math

import numpy as np
import pytest

from qcomp.ir import DType, Graph, TensorType, ops, verify
from qcomp.passes import run_passes
from qcomp.passes.calibrate import calibrate
from qcomp.passes.observers import CalibrationError
from qcomp.passes.fold_pad import fold_pad, why_not_foldable
from qcomp.passes.fuse_activations import fuse_activations
from qcomp.passes.lower_integer import lower_integer
from qcomp.passes.quantize import quantize
from qcomp.ref import run_float, run_integer

from .helpers import body

F = DType.FLOAT32
SPATIAL = (0, 1, 2, 0, 0, 2, 1, 0)   # NHWC: top 1, left 2, bottom 2, right 1


def _graph(consumer: str, *, mode="constant", value=0.0, pads=SPATIAL, relu=False, conv_first=False,
           second_reader=False, pool_pads=(0, 0, 0, 0), count_include_pad=False, ceil_mode=False) -> Graph:
    """x -> [Conv2D (+Relu)] -> Pad -> consumer -> y, on a 1x7x6x5 input (seeded weights)."""
    rng = np.random.default_rng(0)
    g = Graph(name=f"pad_{consumer}")
    g.add_input("x", TensorType((1, 7, 6, 5), F))
    src = "x"
    if conv_first:
        g.add_constant("w0", (rng.standard_normal((5, 1, 1, 5)) * 0.5).astype(np.float32))
        g.add_constant("b0", rng.standard_normal(5).astype(np.float32))
        g.add_node(ops.Conv2D(), ["x", "w0", "b0"], "conv0")
        src = "conv0"
        if relu:
            g.add_node(ops.Relu(), ["conv0"], "relu0")
            src = "relu0"
    g.add_node(ops.Pad(pads=pads, mode=mode, value=value), [src], "pad")
    if consumer in ("conv", "depthwise"):
        group, cg = (5, 1) if consumer == "depthwise" else (1, 5)
        g.add_constant("w", (rng.standard_normal((5, 3, 3, cg)) * 0.4).astype(np.float32))
        g.add_constant("b", (rng.standard_normal(5) * 0.1).astype(np.float32))
        g.add_node(ops.Conv2D(strides=(2, 1), pads=(0, 1, 0, 0), group=group), ["pad", "w", "b"], "y")
    elif consumer == "avgpool":
        g.add_node(ops.AvgPool2D(kernel=(3, 3), strides=(2, 2), pads=pool_pads, ceil_mode=ceil_mode,
                                 count_include_pad=count_include_pad), ["pad"], "y")
    else:
        g.add_node(ops.MaxPool2D(kernel=(3, 3), strides=(2, 2), ceil_mode=ceil_mode), ["pad"], "y")
    g.outputs = ["y"]
    if second_reader:
        g.add_node(ops.Sigmoid(), ["pad"], "side")
        g.outputs.append("side")
    return run_passes(g, (fuse_activations,))


def _samples(n=6):
    rng = np.random.default_rng(1)
    return [{"x": (2 * rng.standard_normal((1, 7, 6, 5))).astype(np.float32)} for _ in range(n)]


def _lowered(g: Graph, samples) -> Graph:
    return verify(lower_integer(verify(quantize(g, calibrate(g, samples).ranges))))


FOLDS = {
    "conv": (dict(), "%y = Conv2D(%x, %w, %b) {strides=(2, 1), pads=(1, 3, 2, 1), dilations=(1, 1), group=1} "
                     ": f32[1x4x8x5]"),
    "depthwise": (dict(), "%y = Conv2D(%x, %w, %b) {strides=(2, 1), pads=(1, 3, 2, 1), dilations=(1, 1), "
                          "group=5} : f32[1x4x8x5]"),
    "avgpool": (dict(), "%y = AvgPool2D(%x) {kernel=(3, 3), strides=(2, 2), pads=(1, 2, 2, 1), ceil_mode=False, "
                        "count_include_pad=True, dilations=(1, 1)} : f32[1x4x4x5]"),
    "avgpool_counting": (dict(pool_pads=(1, 1, 1, 1), count_include_pad=True),
                         "%y = AvgPool2D(%x) {kernel=(3, 3), strides=(2, 2), pads=(2, 3, 3, 2), ceil_mode=False, "
                         "count_include_pad=True, dilations=(1, 1)} : f32[1x5x5x5]"),
    "maxpool": (dict(value=-math.inf), "%y = MaxPool2D(%x) {kernel=(3, 3), strides=(2, 2), pads=(1, 2, 2, 1), "
                                       "dilations=(1, 1), ceil_mode=False} : f32[1x4x4x5]"),
    "maxpool_after_relu": (dict(conv_first=True, relu=True),
                           "%y = MaxPool2D(%relu0) {kernel=(3, 3), strides=(2, 2), pads=(1, 2, 2, 1), "
                           "dilations=(1, 1), ceil_mode=False} : f32[1x4x4x5]"),
}


def _consumer(case: str) -> str:
    return case.split("_")[0]


@pytest.mark.parametrize("case", sorted(FOLDS))
def test_pad_folds_and_results_are_unchanged(case):
    kwargs, line = FOLDS[case]
    before = _graph(_consumer(case), **kwargs)
    after = run_passes(before, (fold_pad,))
    assert "Pad" not in [n.kind for n in after.nodes]
    assert body(after)[-1] == line
    samples = _samples()
    for feeds in samples[:3]:
        np.testing.assert_array_equal(run_float(after, feeds)["y"], run_float(before, feeds)["y"])
    if case == "maxpool":   # the -inf padding cannot be calibrated: without the fold this graph has no int8 form
        with pytest.raises(CalibrationError, match="'pad' has Inf values"):
            _lowered(before, samples)
        return
    unfolded, folded = _lowered(before, samples), _lowered(after, samples)
    assert folded.types["y"].quant == unfolded.types["y"].quant
    distinct = set()
    for feeds in samples:
        want = run_integer(unfolded, feeds, raw=True)["y"]
        np.testing.assert_array_equal(run_integer(folded, feeds, raw=True)["y"], want)
        distinct |= set(np.unique(want).tolist())
    assert len(distinct) >= 20, f"{case}: the case yields too few distinct int8 values to test anything"


def test_folded_graphs_run_bit_exact_on_x86_vnni():
    from tests.opcases.targets import host_skip, run_x86_vnni
    why = host_skip("x86-vnni")()
    if why:
        pytest.skip(why)
    samples = _samples()
    for case in ("conv", "depthwise", "avgpool", "maxpool_after_relu"):
        folded = _lowered(run_passes(_graph(_consumer(case), **FOLDS[case][0]), (fold_pad,)), samples)
        for feeds in samples[:2]:
            np.testing.assert_array_equal(run_x86_vnni(folded, feeds)["y"], run_integer(folded, feeds)["y"])


NOT_FOLDED = {
    "reflect": (dict(consumer="conv", mode="reflect"), "mode 'reflect' pads with copies"),
    "edge": (dict(consumer="conv", mode="edge"), "mode 'edge' pads with copies"),
    "nonzero_value": (dict(consumer="conv", value=0.5), "value 0.5 is not the 0"),
    "nonzero_value_avgpool": (dict(consumer="avgpool", value=-1.0), "value -1.0 is not the 0"),
    "channel_pads": (dict(consumer="maxpool", value=-math.inf, pads=(0, 1, 1, 0, 0, 1, 1, 2)), "batch or channel"),
    "batch_pads": (dict(consumer="maxpool", value=-math.inf, pads=(1, 1, 1, 0, 0, 1, 1, 0)), "batch or channel"),
    "two_readers": (dict(consumer="conv", second_reader=True), "2 readers"),
    "avgpool_ceil_mode_shape": (dict(consumer="avgpool", ceil_mode=True), "would give shape (1, 4, 4, 5)"),
    "avgpool_not_counting": (dict(consumer="avgpool", pool_pads=(1, 1, 1, 1)), "without counting them"),
    "maxpool_zero_after_graph_input": (dict(consumer="maxpool"), "could exceed values"),
    "maxpool_zero_after_negative_range": (dict(consumer="maxpool", conv_first=True), "could exceed values"),
}


@pytest.mark.parametrize("case", sorted(NOT_FOLDED))
def test_pad_is_not_folded(case):
    kwargs, reason = NOT_FOLDED[case]
    kwargs = dict(kwargs)
    g = _graph(kwargs.pop("consumer"), **kwargs)
    pad = g.node("pad")
    assert reason in why_not_foldable(g, pad, g.producers(), g.consumers())
    assert fold_pad(g) is g


def test_not_folding_before_maxpool_is_needed():
    """Why a 0 pad before MaxPool on values that go negative must stay: the results differ."""
    g = _graph("maxpool", conv_first=True)
    wrong = g.copy()
    wrong.nodes = [n for n in wrong.nodes if n.name != "pad"]
    wrong.node("y").inputs = ("conv0",)
    wrong.node("y").op = ops.MaxPool2D(kernel=(3, 3), strides=(2, 2), pads=(1, 2, 2, 1))
    wrong.prune()
    feeds = _samples(1)[0]
    assert not np.array_equal(run_float(verify(wrong), feeds)["y"], run_float(g, feeds)["y"])


def test_pad_of_an_nchw_input_folds_through_the_transpose():
    """Pad(NCHW x) -> Transpose to NHWC -> Conv2D: the pads, permuted, go into the conv."""
    rng = np.random.default_rng(2)
    g = Graph(name="pad_transpose")
    g.add_input("x", TensorType((1, 5, 7, 6), F))
    g.add_node(ops.Pad(pads=(0, 0, 0, 1, 0, 0, 1, 0)), ["x"], "pad")          # NCHW: H end 1, W begin 1
    g.add_node(ops.Transpose(perm=(0, 2, 3, 1)), ["pad"], "nhwc")
    g.add_constant("w", (rng.standard_normal((4, 3, 3, 5)) * 0.4).astype(np.float32))
    g.add_constant("b", (rng.standard_normal(4) * 0.1).astype(np.float32))
    g.add_node(ops.Conv2D(strides=(2, 2)), ["nhwc", "w", "b"], "y")
    g.outputs = ["y"]
    after = run_passes(g, (fold_pad,))
    assert body(after) == ["%nhwc = Transpose(%x) {perm=(0, 2, 3, 1)} : f32[1x7x6x5]",
                           "%y = Conv2D(%nhwc, %w, %b) {strides=(2, 2), pads=(0, 1, 1, 0), dilations=(1, 1), "
                           "group=1} : f32[1x3x3x4]"]
    samples = [{"x": (2 * rng.standard_normal((1, 5, 7, 6))).astype(np.float32)} for _ in range(4)]
    np.testing.assert_array_equal(run_float(after, samples[0])["y"], run_float(g, samples[0])["y"])
    unfolded, folded = _lowered(g, samples), _lowered(after, samples)
    for feeds in samples:
        np.testing.assert_array_equal(run_integer(folded, feeds, raw=True)["y"],
                                      run_integer(unfolded, feeds, raw=True)["y"])


def test_pad_of_a_prequantized_model_with_its_own_output_params_is_not_folded():
    from qcomp.ir import QuantParams
    from qcomp.ir.prequant import PreQuant, set_prequant
    g = _graph("conv")
    same, other = QuantParams(np.float32(0.02), 3), QuantParams(np.float32(0.05), -7)
    set_prequant(g, PreQuant({"x": same, "pad": same}, source="QDQ"))
    assert why_not_foldable(g, g.node("pad"), g.producers(), g.consumers()) is None
    set_prequant(g, PreQuant({"x": same, "pad": other}, source="QDQ"))
    assert "different quantization parameters" in why_not_foldable(g, g.node("pad"), g.producers(), g.consumers())
    assert fold_pad(g) is g
