"""Residual fusion in llvm builds (passes/fuse_residual.py, kernels_residual.py): two ResNet BasicBlocks
(one with a strided 1x1 shortcut conv) built from ONNX for x86-vnni and for ref.

The x86-vnni artifact runs the fused QConv2DAdd nodes: its profiler names no Add, it times one node
fewer per residual Add than the unfused TARGET graph has, `qcomp bench --per-layer` reports the
QConv2DAdd kind; its raw int8 output equals the ref artifact's (which runs the unfused pair)."""
import importlib
import importlib.util
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest

import qcomp
from qcomp.builder import target_passes
from qcomp.ir.serialize import load_graph
from qcomp.layer_profile import profile_layers
from qcomp.passes import run_passes
from qcomp.passes.lower_integer import lower_integer
from qcomp.target import get_target, host_support

MODELS = Path(__file__).resolve().parents[2] / "models"
X86 = host_support(get_target("x86-vnni"))


def _zoo():
    """tests/models/cnn_zoo.py, loaded as part of its package (tests/ is not a package)."""
    name = "qcomp_test_models_fusion"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, MODELS / "__init__.py",
                                                      submodule_search_locations=[str(MODELS)])
        sys.modules[name] = module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    return importlib.import_module(f"{name}.cnn_zoo"), importlib.import_module(f"{name}.onnx_builder")


def _two_blocks() -> onnx.ModelProto:
    zoo, builder = _zoo()
    b = builder.OnnxBuilder("two_blocks", seed=0)
    x = b.relu(b.bn(b.conv("input", 3, 16, 3, 1, bias=False), 16))
    x = zoo._basic_block(b, x, 16, 16, 1)      # identity shortcut: Add(conv, x)
    x = zoo._basic_block(b, x, 16, 24, 2)      # strided 1x1 shortcut conv: Add(conv, conv)
    return b.model([("input", (1, 3, 12, 12))], [x])


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    if not X86.can_run:
        pytest.skip(f"target x86-vnni: {X86.why}")
    work = tmp_path_factory.mktemp("fusion")
    onnx.save(_two_blocks(), work / "model.onnx")
    rng = np.random.default_rng(0)
    np.savez(work / "calib.npz", input=rng.standard_normal((4, 3, 12, 12)).astype(np.float32))
    for target in ("ref", "x86-vnni"):
        qcomp.build(work / "model.onnx", target=target, calib=work / "calib.npz", out=work / target)
    return work


def test_llvm_build_runs_the_fused_nodes(built):
    unfused = lower_integer(load_graph(built / "x86-vnni" / "model.qir"))
    adds = [n.name for n in unfused.nodes if n.kind == "QAdd"]
    assert len(adds) == 2
    art = qcomp.load(built / "x86-vnni")
    names = art._runner.profiled_nodes()
    assert not set(adds) & set(names)
    fused = run_passes(load_graph(built / "x86-vnni" / "model.qir"), target_passes(get_target("x86-vnni")))
    assert len(fused.nodes) == len(unfused.nodes) - 2
    assert names == [n.name for n in fused.nodes if not fused.memory.is_view(n)]
    kinds = {layer.name: layer.op for layer in profile_layers(built / "x86-vnni", threads=1, runs=2, warmup=0).layers}
    assert list(kinds.values()).count("QConv2DAdd") == 2 and "QAdd" not in kinds.values()


def test_fused_build_is_bit_exact_to_ref(built):
    rng = np.random.default_rng(3)
    distinct = set()
    for _ in range(2):
        feeds = {"input": rng.standard_normal((1, 3, 12, 12)).astype(np.float32)}
        want = qcomp.load(built / "ref").run(feeds, raw=True)
        got = qcomp.load(built / "x86-vnni").run(feeds, raw=True)
        for k in want:
            np.testing.assert_array_equal(got[k], want[k])
            distinct |= set(np.unique(want[k]).tolist())
    assert len(distinct) >= 20
