"""fuse_residual: a QConv2D feeding one QAdd becomes one QConv2DAdd (llvm builds only).

Each fusable case: the After graph as printed IR, integer results of the fused graph equal to the
unfused one's on ref and on x86-vnni (and on arm-sdot, the aarch64 micro-kernel's epilogue).
Each non-fusable case: the graph comes back unchanged, with the reason why_not_fusable gives.
A build for x86-vnni fuses (its profiler names no Add node) and a ref build does not."""
import numpy as np
import pytest

from qcomp.ir import DType, Graph, TensorType, ops, verify
from qcomp.passes import run_passes
from qcomp.passes.calibrate import calibrate
from qcomp.passes.fuse_activations import fuse_activations
from qcomp.passes.fuse_residual import fuse_residual, why_not_fusable
from qcomp.passes.lower_integer import lower_integer
from qcomp.passes.quantize import quantize
from qcomp.ref import run_integer

from .helpers import body

F = DType.FLOAT32


def _graph(*, residual_first=False, relu=True, second_reader=False, broadcast=False, sub=False,
           shortcut_conv=False) -> Graph:
    """x -> conv1 (+Relu) -> conv2; y = Add(conv2, x or shortcut(x)) (+Relu), on 1x6x5x8 (seeded weights)."""
    rng = np.random.default_rng(0)
    g = Graph(name="residual")
    g.add_input("x", TensorType((1, 6, 5, 8), F))
    for name, k in (("conv1", 3), ("conv2", 3), ("shortcut", 1)):
        g.add_constant(f"w_{name}", (rng.standard_normal((8, k, k, 8)) * 0.3).astype(np.float32))
        g.add_constant(f"b_{name}", (rng.standard_normal(8) * 0.1).astype(np.float32))
    g.add_node(ops.Conv2D(pads=(1, 1, 1, 1)), ["x", "w_conv1", "b_conv1"], "conv1")
    g.add_node(ops.Relu(), ["conv1"], "relu1")
    g.add_node(ops.Conv2D(pads=(1, 1, 1, 1)), ["relu1", "w_conv2", "b_conv2"], "conv2")
    other = "x"
    if shortcut_conv:
        g.add_node(ops.Conv2D(), ["x", "w_shortcut", "b_shortcut"], "shortcut")
        other = "shortcut"
    if broadcast:
        g.add_node(ops.ReduceMean(axes=(1, 2), keepdims=True), ["x"], "pooled")
        other = "pooled"
    pair = [other, "conv2"] if residual_first else ["conv2", other]
    g.add_node(ops.Sub() if sub else ops.Add(), pair, "add")
    g.outputs = ["add"]
    if relu:
        g.add_node(ops.Relu(), ["add"], "y")
        g.outputs = ["y"]
    if second_reader:
        g.add_node(ops.Sigmoid(), ["conv2"], "side")
        g.outputs.append("side")
    return run_passes(g, (fuse_activations,))


def _samples(n=4):
    rng = np.random.default_rng(1)
    return [{"x": (2 * rng.standard_normal((1, 6, 5, 8))).astype(np.float32)} for _ in range(n)]


def _lowered(g: Graph) -> Graph:
    return verify(lower_integer(verify(quantize(g, calibrate(g, _samples()).ranges))))


FUSES = {
    "conv_then_x": dict(),
    "x_then_conv": dict(residual_first=True),
    "no_relu": dict(relu=False),
    "two_convs": dict(shortcut_conv=True),
}


def _fused_line(g: Graph) -> str:
    return next(line for line in body(g) if "QConv2DAdd" in line)


@pytest.mark.parametrize("case", sorted(FUSES))
def test_residual_add_fuses_and_results_are_unchanged(case):
    unfused = _lowered(_graph(**FUSES[case]))
    fused = run_passes(unfused, (fuse_residual,))
    kinds = [n.kind for n in fused.nodes]
    assert "QAdd" not in kinds and kinds.count("QConv2DAdd") == 1
    assert len(fused.nodes) == len(unfused.nodes) - 1
    out = fused.outputs[0]
    # the later conv fuses (two_convs: the shortcut, whose input is x, reads conv2's output as the residual)
    add = next(n for n in unfused.nodes if n.kind == "QAdd")
    conv = unfused.node("shortcut" if case == "two_convs" else "conv2")
    residual = next(v for v in add.inputs if v != conv.outputs[0])
    node = fused.node(conv.name)
    assert node.kind == "QConv2DAdd" and node.inputs == (*conv.inputs, residual) and node.outputs == add.outputs
    assert node.op.conv() == conv.op and (node.op.qmin, node.op.qmax) == (add.op.qmin, add.op.qmax)
    line = _fused_line(fused)
    assert line.startswith(f"%{add.outputs[0]} = QConv2DAdd(%{conv.inputs[0]}, ") and f", %{residual}) {{" in line
    distinct = set()
    for feeds in _samples():
        want = run_integer(unfused, feeds, raw=True)[out]
        np.testing.assert_array_equal(run_integer(fused, feeds, raw=True)[out], want)
        distinct |= set(np.unique(want).tolist())
    assert len(distinct) >= 20, f"{case}: too few distinct int8 values to test anything"


@pytest.mark.parametrize("target", ["x86-vnni", "arm-sdot"])
def test_fused_graphs_run_bit_exact_on_llvm(target):
    from tests.opcases.targets import host_skip, run_arm, run_x86_vnni
    why = host_skip(target)()
    if why:
        pytest.skip(why)
    run = run_x86_vnni if target == "x86-vnni" else run_arm(target)
    for case in ("x_then_conv", "two_convs"):
        unfused = _lowered(_graph(**FUSES[case]))
        fused = run_passes(unfused, (fuse_residual,))
        feeds = _samples()[0]
        out = fused.outputs[0]
        np.testing.assert_array_equal(run(fused, feeds)[out], run_integer(unfused, feeds)[out])


NOT_FUSED = {
    "two_readers": (dict(second_reader=True), "has 2 readers"),
    "broadcast": (dict(broadcast=True), "broadcast"),
    "sub": (dict(sub=True), "QSub, not a QAdd"),
}


@pytest.mark.parametrize("case", sorted(NOT_FUSED))
def test_residual_add_is_not_fused(case):
    kwargs, reason = NOT_FUSED[case]
    g = _lowered(_graph(**kwargs))
    assert run_passes(g, (fuse_residual,)) is g
    add = next(n for n in g.nodes if n.kind in ("QAdd", "QSub"))
    side = add.inputs.index("conv2")
    assert reason in why_not_fusable(g, add, side, g.producers(), g.consumers())
