"""Reshape views (plan_memory) on every backend: chains of Reshapes at inputs, inside and at outputs
run bit-exactly against the integer reference, and a view emits no kernel (no llvm node function,
no cuda launch, no C call); the Reshapes that must stay copies (caller buffer -> caller buffer) do.

The ONNX model goes the user's way (Flatten / Squeeze / Unsqueeze / Reshape, float I/O, `qcomp
build` for each target) and is compared with the ref artifact's raw int8 outputs.
"""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import qcomp
from opcases.graphs import Builder
from opcases.targets import TARGETS
from qcomp.ir import ops, qops
from qcomp.passes.plan_memory import plan_memory
from qcomp.ref import run_integer
from qcomp.target import get_target, host_support

VIEWS = {"x_flat", "x_unsq", "h_sq", "h_back", "k_view", "mid", "y"}   # Reshapes that become views
COPIES = {"y2", "x_copy"}    # a second output from the same value; input buffer -> output buffer


def alias_graph(name="aliases", seed=0):
    """int8 I/O (as the op cases): Reshape chains on the input, on workspace values, on a constant,
    into a graph output, and the two copy cases."""
    b = Builder(name, np.random.default_rng(seed))
    x = b.input("x", (1, 4, 6, 8), 3)
    xu = b.node(ops.Reshape((1, 1, 192)), [b.node(ops.Reshape((1, 192)), [x], "x_flat")], "x_unsq")
    h = b.node(qops.QRequantize(3, 1518500250, -1, -7), [xu], "h", -7)
    hs = b.node(ops.Reshape((1, 192)), [h], "h_sq")
    h2 = b.node(qops.QRequantize(-7, 1 << 30, 1, 5), [hs], "h2", 5)
    h2b = b.node(ops.Reshape((1, 4, 6, 8)), [b.node(ops.Reshape((1, 4, 48)), [h2], "h_back")], "h_back4")
    k = b.const("k", np.random.default_rng(seed + 1).integers(-128, 128, (8, 24)).astype(np.int8),
                b.g.types[h2].quant)
    cat = b.node(ops.Concat(axis=3), [h2b, x, b.node(ops.Reshape((1, 4, 6, 8)), [k], "k_view")], "cat", 5)
    y = b.node(ops.Reshape((1, 576)), [b.node(ops.Reshape((1, 24, 24)), [cat], "mid")], "y")
    y2 = b.node(ops.Reshape((4, 144)), [cat], "y2")
    x_copy = b.node(ops.Reshape((192,)), [x], "x_copy")
    return b.done(y, y2, x_copy, hs)


def test_the_plan_makes_views_and_keeps_the_copies():
    g = plan_memory(alias_graph()[0])
    views = {n.name for n in g.nodes if g.memory.is_view(n)}
    assert views == VIEWS | {"h_back4"}
    assert {n.name for n in g.nodes if isinstance(n.op, ops.Reshape)} - views == COPIES
    # the input chain lives in the input buffer, cat's chain in output y, the constant stays a constant
    assert g.memory.storage("x_unsq") == "x" and g.memory.storage("k_view") == "k"
    assert g.memory.storage("cat") == g.memory.storage("mid") == "y"
    # h reaches a graph output (h_sq): h is written straight into it; only h2 needs the workspace
    assert g.memory.storage("h") == "h_sq" and set(g.memory.offsets) == {"h2"}
    assert g.memory.workspace_bytes == 192 < plan_memory(alias_graph()[0], aliases=False).memory.workspace_bytes


@pytest.mark.parametrize("target", TARGETS, ids=lambda t: t.name)
def test_views_run_bit_exact(target):
    why = target.skip()
    if why is not None:
        pytest.skip(why)
    graph, feeds = alias_graph()
    want = run_integer(graph, feeds)
    got = target.run(graph, {k: v.copy() for k, v in feeds.items()})
    assert sorted(got) == sorted(want)
    for name, value in want.items():
        assert got[name].shape == value.shape and got[name].dtype == value.dtype, name
        np.testing.assert_array_equal(got[name], value, err_msg=f"output {name!r} on {target.name}")


def test_no_kernel_for_a_view_llvm():
    from qcomp.codegen.llvm import build_module
    graph = plan_memory(alias_graph()[0])
    mod, _ = build_module(graph, get_target("x86-vnni"))
    names = {f.name for f in mod.m.functions if f.name.startswith("node.")}
    want = {f"node.{i}" for i, n in enumerate(graph.nodes) if n.name not in VIEWS | {"h_back4"}}
    assert names == want
    assert {graph.nodes[int(f.split(".")[1])].name for f in names} >= COPIES


def test_no_launch_for_a_view_cuda():
    from qcomp.codegen.cuda import generate
    ctx = generate(alias_graph()[0], get_target("cuda"))
    launched = {launch.node for launch in ctx.launches}
    assert not launched & VIEWS and launched >= COPIES
    assert sum("Reshape" in src for src in ctx.sources) == len(COPIES)


def test_no_copy_for_a_view_c(tmp_path):
    from qcomp.codegen.c import emit
    target = get_target("dsp-c")
    if not host_support(target).can_build:
        pytest.skip(host_support(target).why)
    emit(alias_graph()[0], target, tmp_path)
    source = (tmp_path / "model.c").read_text()
    reshape_calls = [line for line in source.splitlines() if line.strip().startswith("/*") and "(Reshape)" in line]
    assert sorted(line.strip().split()[1] for line in reshape_calls) == sorted(COPIES)


# ---- the user's way: an ONNX model through `qcomp build` on every target -----------------------

def _model(path):
    """Flatten on the input, Unsqueeze/Squeeze, Gemm, Reshape to an image, Conv, Flatten, and
    Reshape / Unsqueeze at the two outputs."""
    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.normal(0, 0.1, (64, 192)).astype(np.float32), "fc_w"),
             numpy_helper.from_array(rng.normal(0, 0.1, 64).astype(np.float32), "fc_b"),
             numpy_helper.from_array(rng.normal(0, 0.3, (8, 4, 3, 3)).astype(np.float32), "conv_w"),
             numpy_helper.from_array(np.array([1], np.int64), "axis1"),
             numpy_helper.from_array(np.array([1, 4, 4, 4], np.int64), "img"),
             numpy_helper.from_array(np.array([1, 8, 16], np.int64), "out_shape")]
    nodes = [helper.make_node("Flatten", ["x"], ["flat"], axis=1),
             helper.make_node("Unsqueeze", ["flat", "axis1"], ["unsq"]),
             helper.make_node("Squeeze", ["unsq", "axis1"], ["sq"]),
             helper.make_node("Gemm", ["sq", "fc_w", "fc_b"], ["fc"], transB=1),
             helper.make_node("Relu", ["fc"], ["act"]),
             helper.make_node("Reshape", ["act", "img"], ["image"]),
             helper.make_node("Conv", ["image", "conv_w"], ["conv"], pads=[1, 1, 1, 1]),
             helper.make_node("Flatten", ["conv"], ["conv_flat"], axis=1),
             helper.make_node("Reshape", ["conv_flat", "out_shape"], ["y"]),
             helper.make_node("Unsqueeze", ["act", "axis1"], ["z"])]
    graph = helper.make_graph(nodes, "aliases", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 8, 16]),
                               helper.make_tensor_value_info("z", TensorProto.FLOAT, [1, 1, 64])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, path)


@pytest.fixture(scope="module")
def onnx_model(tmp_path_factory):
    d = tmp_path_factory.mktemp("aliases")
    _model(d / "model.onnx")
    np.savez(d / "calib.npz", x=np.random.default_rng(1).normal(0, 1, (16, 1, 3, 8, 8)).astype(np.float32))
    x = np.random.default_rng(2).normal(0, 1, (1, 3, 8, 8)).astype(np.float32)
    ref = qcomp.load(qcomp.build(d / "model.onnx", "ref", d / "calib.npz", d / "ref")).run({"x": x}, raw=True)
    return d, x, ref


def test_onnx_reshapes_are_views(onnx_model):
    """Flatten/Unsqueeze/Squeeze on the (quantized) input, Reshape/Flatten/Unsqueeze before the
    outputs' Dequantize: every one a view, none a copy. fold_reshapes (a FLOAT pass) has made each
    chain one Reshape: Flatten -> Unsqueeze -> Squeeze is x -> sq, Flatten -> Reshape is conv -> y."""
    from qcomp.api import load_model
    from qcomp.builder import TARGET_PASSES, BuildOptions, quantize_model
    from qcomp.passes import run_passes
    d = onnx_model[0]
    q, _ = quantize_model(load_model(d / "model.onnx"), BuildOptions(calib=str(d / "calib.npz")))
    g = run_passes(q, TARGET_PASSES)
    reshapes = [n for n in g.nodes if isinstance(n.op, ops.Reshape)]
    assert len(reshapes) == 4 and all(g.memory.is_view(n) for n in reshapes)
    assert "flat" not in g.types and g.memory.storage("sq") == "x_q"
    before = plan_memory(g, aliases=False).memory
    assert g.memory.workspace_bytes < before.workspace_bytes and g.memory.activation_bytes < before.activation_bytes


@pytest.mark.parametrize("target", ["x86-vnni", "arm-sdot", "cuda", "dsp-c", "cortex-m4"])
def test_onnx_model_with_reshape_chains_matches_ref(onnx_model, target):
    d, x, ref = onnx_model
    support = host_support(get_target(target))
    if not support.can_build or not (support.can_run or target == "cuda"):
        pytest.skip(support.why)
    art = qcomp.build(d / "model.onnx", target, d / "calib.npz", d / target)
    got = qcomp.load(art, emulate=target == "cuda").run({"x": x}, raw=True)
    assert sorted(got) == sorted(ref) == ["y", "z"]
    for name in ref:
        np.testing.assert_array_equal(got[name], ref[name], err_msg=f"{name} on {target}")
