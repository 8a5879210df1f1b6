"""Concat slices (plan_memory) on the backends: conv, dense and requantize producers write straight
into their slice of a Concat's output (a workspace value, nested, or the caller's output buffer),
bit-exactly against the integer reference on x86-vnni, arm-sdot (QEMU), dsp-c and cuda --emulate;
a view Concat emits no kernel (no llvm node function, no C call, no cuda launch); the Concats
that must copy (strided channel concat in NHWC, a slice off the 64-byte grid, a graph input
operand) still do.
"""
from __future__ import annotations

import numpy as np
import pytest

from opcases.graphs import SPREAD, Builder, acc_rms, clamp_bounds, multipliers
from opcases.targets import TARGETS
from qcomp.ir import ops, qops
from qcomp.passes.plan_memory import plan_memory
from qcomp.ref import run_integer
from qcomp.target import get_target, host_support

VIEWS = {"cat_h", "f", "inner", "outer", "x_flat"}       # x_flat: a Reshape view of the input buffer
COPIES = {"strided", "misaligned", "with_input"}         # Concats that keep their kernel


def _weighted(b: Builder, op_of, x: str, w_shape, name: str, zp_in: int, zp_out: int) -> str:
    """A QConv2D / QDense `name` on x with seeded weights, folded bias and per-channel multipliers."""
    w = b.weights(f"{name}_w", w_shape)
    wv = b.g.constants[w].reshape(w_shape[0], -1).astype(np.int64)
    k = wv.shape[1]
    raw = b.rng.integers(-20 * k, 20 * k + 1, size=w_shape[0])
    proxy = b.rng.integers(-128, 128, size=(64, k))              # activations' spread, for the multipliers
    m, s = multipliers(SPREAD / acc_rms(k, proxy, zp_in, wv, raw) * b.rng.uniform(0.6, 1.6, w_shape[0]))
    consts = [b.const(f"{name}_bias", (raw - zp_in * wv.sum(axis=1)).astype(np.int32)),
              b.const(f"{name}_m", m), b.const(f"{name}_s", s)]
    qmin, qmax = clamp_bounds(zp_out, None)
    return b.node(op_of(zp_in, zp_out, qmin, qmax), [x, w, *consts], name, zp_out)


def _conv(pads):
    return lambda zi, zo, lo, hi: qops.QConv2D((1, 1), pads, (1, 1), 1, input_zero_point=zi, output_zero_point=zo,
                                               qmin=lo, qmax=hi)


def concat_graph(seed: int = 0):
    """Two convs concatenated along H (contiguous: a view), flattened into three Dense layers; two
    Dense outputs concatenated (a view) and nested with a Requantize of one of them into a graph
    output (views into the caller's buffer); plus the copy cases."""
    b = Builder("concat_views", np.random.default_rng(seed))
    x = b.input("x", (1, 4, 4, 8), -3)
    c1 = _weighted(b, _conv((0, 0, 0, 0)), x, (16, 1, 1, 8), "c1", -3, 5)
    c2 = _weighted(b, _conv((1, 1, 1, 1)), x, (16, 3, 3, 8), "c2", -3, 5)
    f = b.node(ops.Reshape((1, 512)), [b.node(ops.Concat(axis=1), [c1, c2], "cat_h")], "f")
    d1 = _weighted(b, qops.QDense, f, (64, 512), "d1", 5, -9)
    d2 = _weighted(b, qops.QDense, f, (64, 512), "d2", 5, -9)
    inner = b.node(ops.Concat(axis=1), [d1, d2], "inner")
    r = b.node(qops.QRequantize(-9, 1518500250, -1, 4), [d2], "r", -9)   # reads d2 in its slice
    outer = b.node(ops.Concat(axis=1), [inner, r], "outer")
    strided = b.node(ops.Concat(axis=3), [c1, c2], "strided")
    m1 = _weighted(b, qops.QDense, f, (40, 512), "m1", 5, 2)
    misaligned = b.node(ops.Concat(axis=1), [m1, b.node(qops.QRequantize(2, 1 << 30, 0, 2), [m1], "m2", 2)],
                        "misaligned")
    with_input = b.node(ops.Concat(axis=1), [b.node(ops.Reshape((1, 128)), [x], "x_flat"), d1], "with_input", 5)
    return b.done(outer, strided, misaligned, with_input)


@pytest.fixture(scope="module")
def graph_and_want():
    graph, feeds = concat_graph()
    want = run_integer(graph, feeds)
    for name, value in want.items():   # the case tests something: every output spreads over many codes
        assert len(np.unique(value)) >= 20, name
    return graph, feeds, want


def test_the_plan_makes_the_contiguous_concats_views():
    g = plan_memory(concat_graph()[0])
    assert {n.name for n in g.nodes if g.memory.is_view(n)} == VIEWS
    assert {n.name for n in g.nodes if isinstance(n.op, ops.Concat) and not g.memory.is_view(n)} == COPIES
    m = g.memory
    assert (m.storage("c2"), m.offset_in_storage("c2")) == ("cat_h", 256)
    assert {v: (m.storage(v), m.offset_in_storage(v)) for v in ("d1", "d2", "inner", "r")} == {
        "d1": ("outer", 0), "d2": ("outer", 64), "inner": ("outer", 0), "r": ("outer", 128)}
    before = plan_memory(concat_graph()[0], concats=False).memory
    assert m.activation_bytes < before.activation_bytes


@pytest.mark.parametrize("name", ["ref", "x86-vnni", "arm-sdot", "dsp-c", "cuda-emulated"])
def test_concat_views_run_bit_exact(name, graph_and_want):
    target = next(t for t in TARGETS if t.name == name)
    why = target.skip()
    if why is not None:
        pytest.skip(why)
    graph, feeds, want = graph_and_want
    got = target.run(graph, {k: v.copy() for k, v in feeds.items()})
    assert sorted(got) == sorted(want)
    for out, value in want.items():
        assert got[out].shape == value.shape and got[out].dtype == value.dtype, out
        np.testing.assert_array_equal(got[out], value, err_msg=f"output {out!r} on {name}")


def test_no_kernel_for_a_concat_view_llvm():
    from qcomp.codegen.llvm import build_module
    graph = plan_memory(concat_graph()[0])
    mod, _ = build_module(graph, get_target("x86-vnni"))
    kernels = {graph.nodes[int(f.name.split(".")[1])].name for f in mod.m.functions if f.name.startswith("node.")}
    assert kernels == {n.name for n in graph.nodes} - VIEWS and kernels >= COPIES


def test_no_launch_for_a_concat_view_cuda():
    from qcomp.codegen.cuda import generate
    ctx = generate(concat_graph()[0], get_target("cuda"))
    launched = {launch.node for launch in ctx.launches}
    assert not launched & VIEWS and launched >= COPIES


def test_no_copy_for_a_concat_view_c(tmp_path):
    from qcomp.codegen.c import emit
    target = get_target("dsp-c")
    if not host_support(target).can_build:
        pytest.skip(host_support(target).why)
    emit(concat_graph()[0], target, tmp_path)
    source = (tmp_path / "model.c").read_text()
    calls = [line.strip().split()[1] for line in source.splitlines() if line.strip().startswith("/*") and "(Concat)" in line]
    assert set(calls) == COPIES


# ---- strided slices: an NHWC channel Concat written in place by the llvm GEMMs -----------------------

def _conv_g(pads, group):
    return lambda zi, zo, lo, hi: qops.QConv2D((1, 1), pads, (1, 1), group, input_zero_point=zi,
                                               output_zero_point=zo, qmin=lo, qmax=hi)


def fire_graph(seed: int = 1):
    """A SqueezeNet fire module: squeeze 1x1, expand 1x1 (20 channels: a masked last block) and 3x3
    (24, then a Requantize to the Concat's params, as quantize makes it), concatenated on the channel
    axis and read by a 1x1 conv; a depthwise operand (its Concat
    copies); two QDense outputs concatenated on the last axis of (1, 36, N) into a graph output."""
    b = Builder("fire", np.random.default_rng(seed))
    x = b.input("x", (1, 6, 6, 8), -3)
    s = _weighted(b, _conv_g((0, 0, 0, 0), 1), x, (12, 1, 1, 8), "squeeze", -3, 5)
    e1 = _weighted(b, _conv_g((0, 0, 0, 0), 1), s, (20, 1, 1, 12), "e1", 5, 2)
    e3 = _weighted(b, _conv_g((1, 1, 1, 1), 1), s, (24, 3, 3, 12), "e3", 5, 2)
    e3r = b.node(qops.QRequantize(2, 1518500250, -1, 2), [e3], "e3r", 2)   # quantize's Requantize to cat's params
    cat = b.node(ops.Concat(axis=3), [e1, e3r], "cat")
    post = _weighted(b, _conv_g((0, 0, 0, 0), 1), cat, (16, 1, 1, 44), "post", 2, -4)
    dw = _weighted(b, _conv_g((1, 1, 1, 1), 12), s, (12, 3, 3, 1), "dw", 5, 1)
    e5 = _weighted(b, _conv_g((0, 0, 0, 0), 1), s, (16, 1, 1, 12), "e5", 5, 1)
    cat2 = b.node(ops.Concat(axis=3), [dw, e5], "cat2")
    rows = b.node(ops.Reshape((1, 36, 12)), [s], "rows")
    dcat = b.node(ops.Concat(axis=2), [_weighted(b, qops.QDense, rows, (20, 12), "da", 5, 3),
                                       _weighted(b, qops.QDense, rows, (8, 12), "db", 5, 3)], "dcat")
    return b.done(post, cat2, dcat)


@pytest.fixture(scope="module")
def fire_and_want():
    graph, feeds = fire_graph()
    want = run_integer(graph, feeds)
    for name, value in want.items():
        assert len(np.unique(value)) >= 20, name
    return graph, feeds, want


def test_llvm_plans_strided_slices_and_emits_no_copy():
    from qcomp.codegen.llvm import build_module
    from qcomp.codegen.llvm.strided import why_not_strided_output
    graph = plan_memory(fire_graph()[0], strided=why_not_strided_output)
    m = graph.memory
    assert {n.name for n in graph.nodes if m.is_view(n)} == {"cat", "dcat", "rows"}
    assert (m.storage("e3r"), m.offset_in_storage("e3r"), m.row_stride("e3r")) == ("cat", 20, 44)
    assert m.storage("e3") == "e3"                     # the conv writes dense, its Requantize the slice
    assert (m.storage("db"), m.offset_in_storage("db"), m.row_stride("db")) == ("dcat", 20, 28)
    mod, _ = build_module(fire_graph()[0], get_target("x86-vnni"))   # plans like this itself
    kernels = {graph.nodes[int(f.name.split(".")[1])].name for f in mod.m.functions if f.name.startswith("node.")}
    assert kernels == {n.name for n in graph.nodes} - {"cat", "dcat", "rows"}


@pytest.mark.parametrize("name", ["x86-vnni", "x86-avx2", "arm-sdot", "arm-i8mm"])
def test_strided_slices_run_bit_exact(name, fire_and_want):
    target = next(t for t in TARGETS if t.name == name)
    why = target.skip()
    if why is not None:
        pytest.skip(why)
    graph, feeds, want = fire_and_want
    got = target.run(graph, {k: v.copy() for k, v in feeds.items()})
    for out, value in want.items():
        np.testing.assert_array_equal(got[out], value, err_msg=f"output {out!r} on {name}")


def test_without_concat_views_the_same_outputs_x86(fire_and_want):
    target = next(t for t in TARGETS if t.name == "x86-vnni")
    if target.skip() is not None:
        pytest.skip(target.skip())
    graph, feeds, want = fire_and_want
    got = target.run(plan_memory(graph, concats=False), {k: v.copy() for k, v in feeds.items()})
    for out, value in want.items():
        np.testing.assert_array_equal(got[out], value, err_msg=f"output {out!r} without Concat views")


def test_the_build_plans_strided_slices_for_llvm_only():
    from qcomp.builder import plan_memory_strided, target_passes
    from qcomp.codegen.memory import planned
    assert target_passes(get_target("x86-vnni"))[-1] is plan_memory_strided
    assert target_passes(get_target("dsp-c"))[-1] is plan_memory and target_passes(get_target("cuda"))[-1] is plan_memory
    llvm_plan = plan_memory_strided(fire_graph()[0])
    assert llvm_plan.memory.view_rows
    assert not planned(llvm_plan).memory.view_rows          # what the C and cuda backends get: replanned
    assert llvm_plan.memory.concat_views == {"cat", "dcat"} and not planned(llvm_plan).memory.concat_views
