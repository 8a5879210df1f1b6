"""The llvm backend's code generation: VPDPBUSD in the hot loop, clean errors for unsupported ops,
bad target settings and LLVM failures (never a crash), and the int8 I/O of the ABI."""
import ctypes
import dataclasses

import numpy as np
import pytest

from qcomp import fixedpoint
from qcomp.codegen.llvm import check, emit
from qcomp.codegen.llvm.compile import compile_object
from qcomp.errors import QcompError, UnsupportedModelError
from qcomp.ir import DType, Graph, QuantParams, Stage, TensorType, ops, qops, verify
from qcomp.ref import run_integer
from qcomp.target import get_target, host_support

I8 = DType.INT8
VNNI = get_target("x86-vnni")
runs_here = pytest.mark.skipif(not host_support(VNNI).can_run, reason=f"target x86-vnni: {host_support(VNNI).why}")


def conv_graph(rng, c_in=19, c_out=7) -> tuple[Graph, dict]:
    g = Graph("conv", Stage.TARGET)
    g.add_input("x", TensorType((1, 6, 5, c_in), I8, QuantParams(0.05, 3)))
    w = rng.integers(-127, 128, size=(c_out, 3, 3, c_in)).astype(np.int8)
    bias = rng.integers(-3000, 3000, size=c_out).astype(np.int32)
    m, s = fixedpoint.quantize_multipliers(np.full(c_out, 40.0 / np.sqrt(9 * c_in * 85 * 5400)))
    names = [g.add_constant("w", w, QuantParams(np.full(c_out, 0.01, np.float32), 0, axis=0)),
             g.add_constant("bias", bias), g.add_constant("multiplier", m.astype(np.int32)),
             g.add_constant("shift", s.astype(np.int32))]
    op = qops.QConv2D(pads=(1, 1, 1, 1), input_zero_point=3, output_zero_point=-5)
    out_t = op.infer([g.types[v] for v in ["x", *names]])[0]
    g.add_node(op, ["x", *names], "conv", outputs=["y"],
               out_types=[TensorType(out_t.shape, I8, QuantParams(0.05, -5))])
    g.outputs = ["y"]
    return verify(g), {"x": rng.integers(-128, 128, size=(1, 6, 5, c_in)).astype(np.int8)}


def test_conv_hot_loop_is_vpdpbusd(tmp_path, rng):
    graph, _ = conv_graph(rng)
    emit(graph, VNNI, tmp_path, assembly=True)
    asm = (tmp_path / "model.s").read_text()
    assert "vpdpbusd" in asm and "zmm" in asm
    assert "qcomp_run_raw" in asm


@runs_here
def test_conv_bit_exact_and_ws_checks(tmp_path, rng):
    from qcomp.runtime.llvm import Runner
    graph, feeds = conv_graph(rng, c_out=300)   # 19 channel blocks, 5 chunks: A packed whole, in the workspace
    emit(graph, VNNI, tmp_path)
    runner = Runner(tmp_path / "model.so")
    assert runner._size > 0
    want = run_integer(graph, feeds)["y"]
    assert np.unique(want).size > 20
    np.testing.assert_array_equal(runner.run(feeds)["y"], want)
    lib = runner._lib
    ins = (ctypes.c_void_p * 1)(feeds["x"].ctypes.data)
    out = np.empty_like(want)
    outs = (ctypes.c_void_p * 1)(out.ctypes.data)
    assert lib.qcomp_run_ex(runner._workspace, runner._size - 1, ins, outs, 0) == 3   # too small
    assert lib.qcomp_run_ex(None, runner._size, ins, outs, 0) == 1                    # NULL
    assert lib.qcomp_run_ex(runner._workspace + 8, runner._size, ins, outs, 0) == 4   # misaligned
    assert lib.qcomp_run_ex(runner._workspace, runner._size, ins, outs, 1) == 0       # int8 I/O already
    np.testing.assert_array_equal(out, want)


def test_unsupported_op_names_target_node_op_and_dtypes(tmp_path):
    g = Graph("gate", Stage.TARGET)
    g.add_input("a", TensorType((1, 3, 3, 2), DType.FLOAT32))
    w = g.add_constant("w", np.ones((2, 2, 2, 2), np.float32))
    bias = g.add_constant("bias", np.zeros(2, np.float32))
    g.add_node(ops.ConvTranspose2D(), ["a", w, bias], "attention_gate", outputs=["y"])
    g.outputs = ["y"]
    g = verify(g)
    problems = check(g, VNNI)
    assert [(p.node, p.op, p.dtypes) for p in problems] == [
        ("attention_gate", "ConvTranspose2D", "f32, f32, f32 -> f32")]
    assert "no emitter for ConvTranspose2D" in problems[0].reason and "--target ref" in problems[0].advice
    with pytest.raises(UnsupportedModelError) as e:
        emit(g, VNNI, tmp_path)
    assert "target x86-vnni" in str(e.value) and str(problems[0]) in str(e.value)


def test_target_without_vnni_feature_is_refused_before_llvm_runs(tmp_path, rng):
    graph, _ = conv_graph(rng)
    bad = dataclasses.replace(VNNI, name="x86-no-vnni", cpu="x86-64-v3", features=("+avx2",))
    with pytest.raises(QcompError, match=r"needs features \+avx512f, \+avx512bw, \+avx512vnni"):
        emit(graph, bad, tmp_path)


def test_llvm_failure_in_the_child_is_a_clean_error(tmp_path):
    (tmp_path / "bad.ll").write_text("define i32 @f() { ret i64 0 }\n")
    with pytest.raises(QcompError, match="LLVM failed to compile"):
        compile_object(tmp_path / "bad.ll", tmp_path / "bad.o", VNNI)


def test_same_backend_emits_sdot_for_the_arm_target(tmp_path, rng):
    """The target data alone switches the dot instruction: arm-sdot's module compiles to SDOT
    (object and assembly only; linking and running it belong to the cross toolchain)."""
    from qcomp.codegen.llvm import build_module
    graph, _ = conv_graph(rng, c_out=70)   # several channel chunks: A packed whole, in the workspace
    arm = get_target("arm-sdot")
    mod, entries = build_module(graph, arm)
    (tmp_path / "model.ll").write_text(str(mod.m))
    compile_object(tmp_path / "model.ll", tmp_path / "model.o", arm, tmp_path / "model.s")
    asm = (tmp_path / "model.s").read_text()
    assert "sdot" in asm and "vpdpbusd" not in asm
    assert entries["workspace_bytes"] > 0


@runs_here
def test_library_refuses_a_cpu_without_the_targets_features(tmp_path, rng):
    """A library built for a feature this CPU lacks (AMX here) returns QCOMP_ERR_UNSUPPORTED_CPU
    from its own CPUID check, so C callers get an error code instead of SIGILL."""
    from qcomp.runtime.llvm import Runner
    graph, feeds = conv_graph(rng)
    if "amx_tile" in open("/proc/cpuinfo").read():
        pytest.skip("this CPU has AMX; the negative case needs a feature it lacks")
    amx = dataclasses.replace(VNNI, name="x86-vnni-amx", features=VNNI.features + ("+amx-tile",))
    emit(graph, amx, tmp_path)
    with pytest.raises(QcompError, match="the CPU lacks a feature the code needs"):
        Runner(tmp_path / "model.so").run(feeds)


def _dense_graph(rng, n: int, k: int = 13, pixels: int = 6) -> tuple[Graph, dict]:
    g = Graph("dense", Stage.TARGET)
    g.add_input("x", TensorType((pixels, k), I8, QuantParams(0.05, 3)))
    m, s = fixedpoint.quantize_multipliers(np.full(n, 40.0 / np.sqrt(k * 85 * 5400)) * rng.uniform(0.5, 2, n))
    assert s.max() <= -1   # every shift a right shift: the int32-clamp form of the requantize
    names = [g.add_constant("w", rng.integers(-127, 128, size=(n, k)).astype(np.int8),
                            QuantParams(np.full(n, 0.01, np.float32), 0, axis=0)),
             g.add_constant("bias", rng.integers(-3000, 3000, size=n).astype(np.int32)),
             g.add_constant("multiplier", m.astype(np.int32)), g.add_constant("shift", s.astype(np.int32))]
    op = qops.QDense(input_zero_point=3, output_zero_point=-5)
    out_t = op.infer([g.types[v] for v in ["x", *names]])[0]
    g.add_node(op, ["x", *names], "dense", outputs=["y"],
               out_types=[TensorType(out_t.shape, I8, QuantParams(0.05, -5))])
    g.outputs = ["y"]
    return verify(g), {"x": rng.integers(-128, 128, size=(pixels, k)).astype(np.int8)}


def _depthwise_graph(rng, c: int, hw: int = 5) -> tuple[Graph, dict]:
    g = Graph("dw", Stage.TARGET)
    g.add_input("x", TensorType((1, hw, hw, c), I8, QuantParams(0.05, -3)))
    m, s = fixedpoint.quantize_multipliers(np.full(c, 40.0 / np.sqrt(9 * 85 * 5400)) * rng.uniform(0.5, 2, c))
    names = [g.add_constant("w", rng.integers(-127, 128, size=(c, 3, 3, 1)).astype(np.int8),
                            QuantParams(np.full(c, 0.01, np.float32), 0, axis=0)),
             g.add_constant("bias", rng.integers(-3000, 3000, size=c).astype(np.int32)),
             g.add_constant("multiplier", m.astype(np.int32)), g.add_constant("shift", s.astype(np.int32))]
    op = qops.QConv2D(pads=(1, 1, 1, 1), group=c, input_zero_point=-3, output_zero_point=2, qmin=2)
    out_t = op.infer([g.types[v] for v in ["x", *names]])[0]
    g.add_node(op, ["x", *names], "dw", outputs=["y"], out_types=[TensorType(out_t.shape, I8, QuantParams(0.05, 2))])
    g.outputs = ["y"]
    return verify(g), {"x": rng.integers(-128, 128, size=(1, hw, hw, c)).astype(np.int8)}


@runs_here
@pytest.mark.parametrize("kind,channels", [("dense", 1), ("dense", 17), ("dense", 33), ("dense", 50),
                                           ("depthwise", 1), ("depthwise", 33), ("depthwise", 97),
                                           ("depthwise", 160)])
def test_partial_channel_blocks_write_only_the_output(tmp_path, rng, kind, channels):
    """The last channel block of a node (fewer than a vector's channels) is a masked store: no byte
    after the output's end changes (LLVM once lowered a one-lane masked store to a 4-byte store),
    and the values are the integer reference's."""
    from qcomp.runtime.llvm import Runner
    graph, feeds = (_dense_graph if kind == "dense" else _depthwise_graph)(rng, channels)
    emit(graph, VNNI, tmp_path)
    runner = Runner(tmp_path / "model.so")
    want = run_integer(graph, feeds)["y"]
    guarded = np.full(want.size + 256, 0x5A, np.uint8)
    x = feeds["x"]
    ins = (ctypes.c_void_p * 1)(x.ctypes.data)
    outs = (ctypes.c_void_p * 1)(guarded.ctypes.data)
    assert runner._lib.qcomp_run_ex(runner._workspace, runner._size, ins, outs, 3) == 0
    assert (guarded[want.size:] == 0x5A).all(), "bytes after the output were written"
    np.testing.assert_array_equal(guarded[:want.size].view(np.int8).reshape(want.shape), want)
