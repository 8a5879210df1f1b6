"""Raw I/O at a float <-> int16 model boundary: the raw form of an int16 boundary is its int16 values.

A graph input quantized to int16 (Quantize float32 -> int16) takes, with raw inputs, the int16
values that Quantize would have written; a graph output dequantized from int16 gives, with raw
outputs, the int16 values before that Dequantize. That is what the reference's `run_integer(raw=True)`
(`qcomp run --raw`) returns, and what the llvm (qcomp_run_ex, qcomp_output_raw_dtype = QCOMP_INT16),
C (qcomp_run_mode, the manifest's raw_dtype "int16") and cuda (raw:i buffers of int16_t) artifacts
exchange. Compared by exact equality with the reference, on three op cases of cases16.py: an int16
input, an int16 output, and a mix of int8 and int16 inputs and outputs. About 10 s (one build per
case and target; the C ABI's raw inputs through one host shared library).
"""
from __future__ import annotations

import ctypes
import functools
import subprocess

import numpy as np
import pytest

from qcomp import abi, fixedpoint
from qcomp.ir import DType, ops
from qcomp.ref import run_integer
from qcomp.target import get_target, host_support

from .cases import CASES, materialize

NAMES = ("i16f_depthwise_from_int16_input", "i16f_dense_int16_output", "i16f_residual_mixed_int8_int16")
BY_NAME = {c.name: c for c in CASES}


def _skip_unless(target: str) -> None:
    support = host_support(get_target(target))
    if not support.can_run:
        pytest.skip(f"target {target}: {support.why}")


@functools.cache
def _case(name: str):
    graph, feeds = materialize(BY_NAME[name])
    return graph, feeds, run_integer(graph, feeds, raw=True)


def _raw_inputs(graph, feeds) -> dict[str, np.ndarray]:
    """Each float input as its Quantize writes it (int8 or int16): what raw inputs take."""
    out = {}
    for v in graph.inputs:
        node = next(n for n in graph.nodes if isinstance(n.op, ops.Quantize) and n.inputs[0] == v)
        t = graph.types[node.outputs[0]]
        lo, hi = t.dtype.qrange
        out[v] = fixedpoint.quantize(feeds[v], t.quant.scale[0], int(t.quant.zero_point[0]), lo, hi).astype(t.dtype.np)
    return out


def test_the_cases_cross_int16_boundaries():
    """Not vacuous: among the cases, float inputs quantized to int16 and an int16 raw output."""
    inputs16 = outputs16 = 0
    for name in NAMES:
        graph, feeds, raw = _case(name)
        inputs16 += sum(a.dtype == np.int16 for a in _raw_inputs(graph, feeds).values())
        outputs16 += sum(a.dtype == np.int16 for a in raw.values())
        assert all(graph.types[v].dtype is DType.FLOAT32 for v in graph.inputs + graph.outputs), name
    assert inputs16 >= 2 and outputs16 >= 1


def _assert_same(got: dict, want: dict, where: str) -> None:
    assert sorted(got) == sorted(want), where
    for k, v in want.items():
        assert got[k].dtype == v.dtype, f"{where}: {k} is {got[k].dtype}, the reference's raw form {v.dtype}"
        np.testing.assert_array_equal(got[k], v, err_msg=f"{where}: {k}")


@pytest.mark.parametrize("name", NAMES)
def test_llvm_raw_inputs_and_outputs(name, tmp_path):
    """qcomp_run_ex(.., QCOMP_RAW_INPUTS | QCOMP_RAW_OUTPUTS) on int8 / int16 values."""
    _skip_unless("x86-vnni")
    from qcomp.codegen.llvm import emit
    from qcomp.runtime.llvm import Runner
    graph, feeds, want = _case(name)
    emit(graph, get_target("x86-vnni"), tmp_path)
    runner = Runner(str(tmp_path / "model.so"))
    _assert_same(runner.run(dict(feeds), raw=True), want, f"{name} on x86-vnni, raw outputs")
    ins = _raw_inputs(graph, feeds)
    in_arrays = [np.ascontiguousarray(ins[i.name.decode()]) for i in runner.inputs]
    outs = {k: np.empty_like(v) for k, v in want.items()}
    out_arrays = [outs[o.name.decode()] for o in runner.outputs]
    in_ptrs = (ctypes.c_void_p * len(in_arrays))(*[a.ctypes.data for a in in_arrays])
    out_ptrs = (ctypes.c_void_p * len(out_arrays))(*[a.ctypes.data for a in out_arrays])
    status = runner._lib.qcomp_run_ex(runner._workspace, runner._size, in_ptrs, out_ptrs,
                                      abi.RAW_INPUTS | abi.RAW_OUTPUTS)
    assert status == 0, runner._lib.qcomp_status_string(status).decode()
    _assert_same(outs, want, f"{name} on x86-vnni, raw inputs and outputs")


@pytest.mark.parametrize("name", NAMES)
def test_c_raw_inputs_and_outputs(name, tmp_path):
    """The dsp-c runner's raw outputs; raw inputs through qcomp_run_mode(.., 1, 1, 0) of the same sources
    built as a host shared library (the runner itself passes float inputs)."""
    _skip_unless("dsp-c")
    from qcomp.codegen.c import emit
    from qcomp.runtime.c import load
    target = get_target("dsp-c")
    graph, feeds, want = _case(name)
    manifest = emit(graph, target, tmp_path)
    spec = manifest["c_runner"]
    assert [t["raw_dtype"] for t in spec["outputs"]] == [str(want[t["name"]].dtype) for t in spec["outputs"]]
    _assert_same(load(tmp_path, manifest, target).run(dict(feeds), raw=True), want, f"{name} on dsp-c, raw outputs")
    sources = [s for s in (tmp_path / "Makefile").read_text().split("SOURCES = ")[1].split("\n")[0].split()
               if s != "runner.c"]
    subprocess.run(["cc", "-O1", "-shared", "-fPIC", "-o", "model.so", *sources, "-lm"], cwd=tmp_path, check=True)
    lib = ctypes.CDLL(str(tmp_path / "model.so"))
    lib.qcomp_run_mode.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_void_p, ctypes.c_void_p,
                                   ctypes.c_int32, ctypes.c_int32, ctypes.c_int32]
    size = max(manifest["workspace_bytes"], 1)
    arena = np.zeros(size + abi.WORKSPACE_ALIGN, np.uint8)
    ws = arena.ctypes.data + (-arena.ctypes.data) % abi.WORKSPACE_ALIGN
    ins = _raw_inputs(graph, feeds)
    in_arrays = [np.ascontiguousarray(ins[t["name"]]) for t in spec["inputs"]]
    outs = {k: np.empty_like(v) for k, v in want.items()}
    in_ptrs = (ctypes.c_void_p * len(in_arrays))(*[a.ctypes.data for a in in_arrays])
    out_ptrs = (ctypes.c_void_p * len(outs))(*[outs[t["name"]].ctypes.data for t in spec["outputs"]])
    assert lib.qcomp_run_mode(ws, size, in_ptrs, out_ptrs, 1, 1, 0) == 0
    _assert_same(outs, want, f"{name} on dsp-c, raw inputs and outputs")


@pytest.mark.parametrize("name", NAMES)
def test_cuda_emulated_raw_outputs(name):
    from .targets import _cuda_harness
    why = _cuda_harness().emulation_skip()
    if why is not None:
        pytest.skip(why)
    graph, feeds, want = _case(name)
    _assert_same(_cuda_harness().run_cuda_emulated(graph, dict(feeds), raw=True), want,
                 f"{name} on cuda --emulate, raw outputs")
