"""arm-sdot artifacts on an x86 host: the files (aarch64 model.so, libmodel.a, model.h with the
qcomp.h ABI, a static runner), SDOT in the conv and dense hot loops, runs under qemu-aarch64
bit-exact to the integer reference (Python API, `qcomp run --raw`, a C program linked with
libmodel.a), the dotprod check on a core without it (qemu-aarch64 -cpu cortex-a53: a clear error,
never SIGILL), and the errors for a missing emulator or cross compiler (naming the Debian package).
About 40 s: two example builds, a few small graphs, short QEMU runs."""
from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import qcomp
from qcomp import fixedpoint
from qcomp.codegen.llvm import emit
from qcomp.errors import QcompError
from qcomp.ir import DType, Graph, QuantParams, Stage, TensorType, qops, verify
from qcomp.ref import run_integer
from qcomp.runtime.llvm_cross import CrossRunner
from qcomp.target import get_target, host_support

REPO = Path(__file__).resolve().parents[3]
EXAMPLE = REPO / "examples" / "fashion_mnist"
ARM = get_target("arm-sdot")
pytestmark = pytest.mark.skipif(not host_support(ARM).can_run, reason=f"target arm-sdot: {host_support(ARM).why}")
EM_AARCH64, ET_EXEC, ET_DYN, PT_INTERP = 183, 2, 3, 3
QEMU_TIMEOUT = 120


def _arm_cost():
    """benchmarks/arm_cost.py (its disassembly parser is what the assembly checks use)."""
    if "arm_cost" not in sys.modules:
        spec = importlib.util.spec_from_file_location("arm_cost", REPO / "benchmarks" / "arm_cost.py")
        sys.modules["arm_cost"] = module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    return sys.modules["arm_cost"]


def _elf(path: Path) -> tuple[int, int, bool]:
    """(e_type, e_machine, has PT_INTERP) of a little-endian ELF64 file."""
    data = path.read_bytes()
    assert data[:4] == b"\x7fELF" and data[4] == 2 and data[5] == 1, f"{path.name} is not ELF64 LE"
    e_type, e_machine = struct.unpack_from("<HH", data, 16)
    phoff, = struct.unpack_from("<Q", data, 32)
    phentsize, phnum = struct.unpack_from("<HH", data, 54)
    interp = any(struct.unpack_from("<I", data, phoff + k * phentsize)[0] == PT_INTERP for k in range(phnum))
    return e_type, e_machine, interp


@pytest.fixture(scope="module")
def example(tmp_path_factory) -> dict:
    """The bundled example built for arm-sdot and for ref (same calibration), and its input."""
    out = tmp_path_factory.mktemp("arm-example")
    calib = EXAMPLE / "calib.npz"
    arm = qcomp.build(EXAMPLE / "model.onnx", target="arm-sdot", calib=calib, out=out / "arm-sdot")
    ref = qcomp.build(EXAMPLE / "model.onnx", target="ref", calib=calib, out=out / "ref")
    feeds = dict(np.load(EXAMPLE / "input.npz"))
    return {"arm": Path(arm), "ref": Path(ref), "feeds": feeds, "dir": out,
            "want_raw": qcomp.load(ref).run(feeds, raw=True), "want": qcomp.load(ref).run(feeds)}


def _qemu(*args, cpu: str = "max", env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["qemu-aarch64", "-cpu", cpu, *map(str, args)], capture_output=True, text=True,
                          timeout=QEMU_TIMEOUT, env=env)


# ---- the artifact ------------------------------------------------------------------------------

def test_artifact_holds_aarch64_library_archive_header_and_static_runner(example):
    art = example["arm"]
    manifest = json.loads((art / "manifest.json").read_text())
    files = manifest["files"]
    assert manifest["target"] == "arm-sdot" and manifest["features"] == ["asimd", "asimddp"]
    assert {files["library"], files["static_library"], files["header"], files["runner"]} == \
        {"model.so", "libmodel.a", "model.h", "runner"}
    assert _elf(art / "model.so") == (ET_DYN, EM_AARCH64, False)
    e_type, machine, interp = _elf(art / "runner")
    assert (e_type, machine, interp) == (ET_EXEC, EM_AARCH64, False), "the runner must be a static aarch64 program"
    assert (art / "libmodel.a").read_bytes()[:8] == b"!<arch>\n"
    members = subprocess.run(["aarch64-linux-gnu-ar", "t", art / "libmodel.a"], capture_output=True, text=True,
                             check=True).stdout.split()
    assert {"model.o", "weights.o", "cpu_check.o"} <= set(members)
    # model.h: the same ABI as every llvm artifact (runtime/qcomp.h verbatim after the model's comment)
    header = (art / "model.h").read_text()
    assert header.endswith((REPO / "runtime" / "qcomp.h").read_text())
    symbols = subprocess.run(["aarch64-linux-gnu-nm", "-D", "--defined-only", art / "model.so"], capture_output=True,
                             text=True, check=True).stdout
    for name in ("qcomp_run", "qcomp_run_raw", "qcomp_run_ex", "qcomp_input_info", "qcomp_workspace_size"):
        assert f" {name}\n" in symbols


def test_example_bit_exact_to_ref_through_the_api(example):
    art = qcomp.load(example["arm"])
    got_raw = art.run(example["feeds"], raw=True)
    np.testing.assert_array_equal(got_raw["logits"], example["want_raw"]["logits"])
    assert got_raw["logits"].dtype == np.int8 and np.unique(got_raw["logits"]).size >= 8
    got = art.run(example["feeds"])
    assert got["logits"].dtype == np.float32
    np.testing.assert_array_equal(got["logits"], example["want"]["logits"])


def test_qcomp_run_raw_cli_under_qemu(example, tmp_path):
    r = subprocess.run([sys.executable, "-m", "qcomp", "run", example["arm"], "--input", EXAMPLE / "input.npz",
                        "-o", tmp_path / "out.npz", "--raw"], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert r.returncode == 0, r.stderr
    np.testing.assert_array_equal(np.load(tmp_path / "out.npz")["logits"], example["want_raw"]["logits"])


def test_two_threads_under_qemu_are_bit_exact(example, tmp_path):
    """The thread pool on aarch64 (several runs: a start-up race between the pool's workers and the
    first batch once hung here)."""
    np.save(tmp_path / "x.npy", example["feeds"]["input"])
    for k in range(4):
        r = _qemu(example["arm"] / "runner", "--raw", "-i", tmp_path / "x.npy", "-o", tmp_path / f"y{k}.npy",
                  env={**os.environ, "QCOMP_NUM_THREADS": "2"})
        assert r.returncode == 0, r.stderr
        np.testing.assert_array_equal(np.load(tmp_path / f"y{k}.npy"), example["want_raw"]["logits"])
    # qcomp.load(num_threads=) / `qcomp run --threads` reach the runner as QCOMP_NUM_THREADS
    got = qcomp.load(example["arm"], num_threads=3).run(example["feeds"], raw=True)
    np.testing.assert_array_equal(got["logits"], example["want_raw"]["logits"])
    runner = qcomp.load(example["arm"], num_threads=2)._runner
    assert isinstance(runner, CrossRunner) and runner.num_threads == 2
    with pytest.raises(QcompError, match="num_threads must be an integer >= 0"):
        qcomp.load(example["arm"], num_threads=-1)


DRIVER_SRC = REPO / "tests" / "backends" / "llvm" / "driver.c"


def test_libmodel_a_links_into_a_c_program(example, tmp_path):
    """libmodel.a + model.h serve a device program of its own: the llvm tests' ABI driver, linked
    statically for aarch64, gives the reference's int8 logits and passes its error-code checks."""
    art = example["arm"]
    exe = tmp_path / "driver"
    subprocess.run(["aarch64-linux-gnu-gcc", "-O2", "-static", "-pthread", "-I", art, "-o", exe, DRIVER_SRC,
                    art / "libmodel.a", "-lm"], check=True, capture_output=True, text=True)
    example["feeds"]["input"].astype(np.float32).tofile(tmp_path / "x.f32")
    r = _qemu(exe, tmp_path / "x.f32", "raw")
    assert r.returncode == 0 and "abi-checks ok" in r.stdout, r.stdout + r.stderr
    values = [int(line.split()[2]) for line in r.stdout.splitlines() if line.startswith("logits ")]
    np.testing.assert_array_equal(np.array(values, np.int8), example["want_raw"]["logits"].ravel())


# ---- the runner program ------------------------------------------------------------------------

def test_runner_files_raw_bytes_info_and_clear_errors(example, tmp_path):
    runner, x = example["arm"] / "runner", example["feeds"]["input"]
    info = _qemu(runner, "--info")
    assert info.returncode == 0 and "input 0 input float32 (1,1,28,28)" in info.stdout
    assert "output 0 logits float32 (1,10) raw int8" in info.stdout
    x.tofile(tmp_path / "x.bin")   # raw bytes work as well as .npy
    r = _qemu(runner, "--raw", "-i", tmp_path / "x.bin", "-o", tmp_path / "y.npy")
    assert r.returncode == 0, r.stderr
    np.testing.assert_array_equal(np.load(tmp_path / "y.npy"), example["want_raw"]["logits"])
    # raw int8 inputs (after the model's Quantize) give the same logits
    q = next(t["quant"] for t in json.loads((example["arm"] / "manifest.json").read_text())["inputs"])
    xq = np.clip(np.rint(x / np.float32(q["scale"])) + q["zero_point"], -128, 127).astype(np.int8)
    np.save(tmp_path / "xq.npy", xq)
    r = _qemu(runner, "--raw", "--raw-inputs", "-i", tmp_path / "xq.npy", "-o", tmp_path / "yq.npy")
    assert r.returncode == 0, r.stderr
    np.testing.assert_array_equal(np.load(tmp_path / "yq.npy"), example["want_raw"]["logits"])
    bad = {"shape": (np.zeros((1, 1, 28, 27), np.float32), 3, "has shape (1,1,28,27), the model expects (1,1,28,28)"),
           "dtype": (np.zeros((1, 1, 28, 28), np.float64), 3, "must be float32"),
           "size": (np.zeros(100, np.uint8), 3, "needs 3136 bytes")}
    for name, (array, code, message) in bad.items():
        path = tmp_path / (f"bad_{name}.bin" if name == "size" else f"bad_{name}.npy")
        array.tofile(path) if name == "size" else np.save(path, array)
        r = _qemu(runner, "-i", path, "-o", tmp_path / "z.npy")
        assert r.returncode == code and message in r.stderr, (name, r.returncode, r.stderr)
        assert r.stderr.startswith("qcomp runner: error:")
    r = _qemu(runner, "-i", tmp_path / "missing.npy", "-o", tmp_path / "z.npy")
    assert r.returncode == 3 and "cannot open input file" in r.stderr
    r = _qemu(runner, "-i", tmp_path / "x.bin")
    assert r.returncode == 2 and "1 input(s) and 1 output(s); got 1 -i and 0 -o" in r.stderr


def test_runner_refuses_a_core_without_dotprod(example, tmp_path):
    """qemu-aarch64 -cpu cortex-a53 (Armv8.0: no SDOT): the runner's HWCAP check stops it with a
    message naming asimddp, before any model code runs (no SIGILL, no output file)."""
    np.save(tmp_path / "x.npy", example["feeds"]["input"])
    r = _qemu(example["arm"] / "runner", "-i", tmp_path / "x.npy", "-o", tmp_path / "y.npy", cpu="cortex-a53")
    assert r.returncode == 4, (r.returncode, r.stderr)
    assert "this CPU lacks asimddp" in r.stderr and "Cortex-A55" in r.stderr
    assert not (tmp_path / "y.npy").exists()
    # through qcomp's runtime, with the emulator of a target copy pointing at the old core
    a53 = dataclasses.replace(ARM, runner={**ARM.runner, "command": ["qemu-aarch64", "-cpu", "cortex-a53"]})
    with pytest.raises(QcompError, match="cannot run on this CPU.*lacks asimddp"):
        CrossRunner(example["arm"] / "runner", a53, ["input"], ["logits"]).run(example["feeds"])


LIBRARY_CHECK_SRC = r"""
#include <stdio.h>
#include <stdlib.h>
#include "model.h"
int main(void) {
  static float x[28 * 28], y[10];
  void *ws = aligned_alloc(QCOMP_WORKSPACE_ALIGN, QCOMP_MODEL_WORKSPACE_SIZE + QCOMP_WORKSPACE_ALIGN);
  const void *ins[1] = {x};
  void *outs[1] = {y};
  printf("status %d\n", (int)qcomp_run(ws, qcomp_workspace_size(), ins, outs));
  return 0;
}
"""


def test_library_refuses_a_core_without_dotprod(example, tmp_path):
    """A C program that calls qcomp_run from libmodel.a itself (no runner) gets
    QCOMP_ERR_UNSUPPORTED_CPU on cortex-a53 and QCOMP_OK on a dotprod core."""
    art = example["arm"]
    (tmp_path / "main.c").write_text(LIBRARY_CHECK_SRC)
    subprocess.run(["aarch64-linux-gnu-gcc", "-O2", "-static", "-pthread", "-I", art, "-o", tmp_path / "app",
                    tmp_path / "main.c", art / "libmodel.a", "-lm"], check=True, capture_output=True, text=True)
    assert _qemu(tmp_path / "app", cpu="cortex-a53").stdout.strip() == "status 5"
    assert _qemu(tmp_path / "app", cpu="max").stdout.strip() == "status 0"


# ---- missing tools, native hosts ----------------------------------------------------------------

def test_missing_qemu_names_the_debian_package(example, monkeypatch):
    import qcomp.runtime.llvm_cross as cross
    monkeypatch.setattr(cross.platform, "machine", lambda: "x86_64")
    no_qemu = dataclasses.replace(ARM, runner={**ARM.runner, "command": ["qemu-aarch64-absent", "-cpu", "max"]})
    with pytest.raises(QcompError, match="emulator 'qemu-aarch64-absent', which is missing: apt-get install qemu-user"):
        CrossRunner(example["arm"] / "runner", no_qemu, ["input"], ["logits"]).run(example["feeds"])
    support = host_support(no_qemu)
    assert not support.can_run and "qemu-aarch64-absent" in support.why and "qemu-user" in support.why


def test_missing_cross_compiler_names_the_debian_package(tmp_path):
    graph, _ = conv_graph(np.random.default_rng(0), c_in=8, c_out=8, size=4)
    no_gcc = dataclasses.replace(ARM, toolchain={**ARM.toolchain, "linker": "aarch64-linux-gnu-gcc-absent"})
    with pytest.raises(QcompError, match="linker 'aarch64-linux-gnu-gcc-absent' is missing "
                                         r"\(apt-get install gcc-aarch64-linux-gnu .*libc6-dev-arm64-cross\)"):
        emit(graph, no_gcc, tmp_path)
    support = host_support(no_gcc)
    assert not support.can_build and "gcc-aarch64-linux-gnu" in support.why


def test_cross_gcc_without_its_c_library_names_the_debian_packages(tmp_path):
    """gcc-aarch64-linux-gnu installed without libc6-dev-arm64-cross fails at link time ("cannot find
    crti.o"); the error says which packages complete the toolchain (a stand-in linker fails that way)."""
    fake = tmp_path / "aarch64-gcc-without-libc"
    fake.write_text("#!/bin/sh\necho '/usr/bin/ld: cannot find crti.o: No such file or directory' >&2\nexit 1\n")
    fake.chmod(0o755)
    graph, _ = conv_graph(np.random.default_rng(0), c_in=8, c_out=8, size=4)
    broken = dataclasses.replace(ARM, toolchain={**ARM.toolchain, "linker": str(fake)})
    with pytest.raises(QcompError, match="cannot find crti.o(.|\n)*looks incomplete: apt-get install "
                                         "gcc-aarch64-linux-gnu .*libc6-dev-arm64-cross"):
        emit(graph, broken, tmp_path)


def test_an_aarch64_host_runs_the_runner_natively(example, monkeypatch):
    """The native path (this x86 host can only check the command line it would use)."""
    import qcomp.runtime.llvm_cross as cross
    import qcomp.target as target_module
    monkeypatch.setattr(cross.platform, "machine", lambda: "aarch64")
    monkeypatch.setattr(target_module.platform, "machine", lambda: "aarch64")
    runner = example["arm"] / "runner"
    no_qemu = dataclasses.replace(ARM, runner={**ARM.runner, "command": ["qemu-aarch64-absent"]})
    assert CrossRunner(runner, no_qemu, ["input"], ["logits"]).command() == [str(runner)]
    assert "qemu-aarch64-absent" not in target_module._tools(no_qemu)


# ---- SDOT in the hot loops ---------------------------------------------------------------------

def conv_graph(rng, c_in=32, c_out=32, size=8) -> tuple[Graph, dict]:
    g = Graph("conv", Stage.TARGET)
    g.add_input("x", TensorType((1, size, size, c_in), DType.INT8, QuantParams(0.05, 3)))
    w = rng.integers(-127, 128, size=(c_out, 3, 3, c_in)).astype(np.int8)
    m, s = fixedpoint.quantize_multipliers(np.full(c_out, 40.0 / np.sqrt(9 * c_in * 85 * 5400)))
    names = [g.add_constant("w", w, QuantParams(np.full(c_out, 0.01, np.float32), 0, axis=0)),
             g.add_constant("bias", rng.integers(-3000, 3000, size=c_out).astype(np.int32)),
             g.add_constant("multiplier", m.astype(np.int32)), g.add_constant("shift", s.astype(np.int32))]
    op = qops.QConv2D(pads=(1, 1, 1, 1), input_zero_point=3, output_zero_point=-5)
    out_t = op.infer([g.types[v] for v in ["x", *names]])[0]
    g.add_node(op, ["x", *names], "conv", outputs=["y"], out_types=[TensorType(out_t.shape, DType.INT8,
                                                                               QuantParams(0.05, -5))])
    g.outputs = ["y"]
    return verify(g), {"x": rng.integers(-128, 128, size=(1, size, size, c_in)).astype(np.int8)}


def dense_graph(rng, k=512, n=64) -> tuple[Graph, dict]:
    g = Graph("dense", Stage.TARGET)
    g.add_input("x", TensorType((1, k), DType.INT8, QuantParams(0.05, -2)))
    m, s = fixedpoint.quantize_multipliers(np.full(n, 30.0 / np.sqrt(k * 85 * 5400)))
    names = [g.add_constant("w", rng.integers(-127, 128, size=(n, k)).astype(np.int8),
                            QuantParams(np.full(n, 0.01, np.float32), 0, axis=0)),
             g.add_constant("bias", rng.integers(-3000, 3000, size=n).astype(np.int32)),
             g.add_constant("multiplier", m.astype(np.int32)), g.add_constant("shift", s.astype(np.int32))]
    op = qops.QDense(input_zero_point=-2, output_zero_point=4)
    out_t = op.infer([g.types[v] for v in ["x", *names]])[0]
    g.add_node(op, ["x", *names], "dense", outputs=["y"], out_types=[TensorType(out_t.shape, DType.INT8,
                                                                                QuantParams(0.05, 4))])
    g.outputs = ["y"]
    return verify(g), {"x": rng.integers(-128, 128, size=(1, k)).astype(np.int8)}


@pytest.mark.parametrize("make", [conv_graph, dense_graph], ids=["conv3x3", "dense"])
def test_hot_loop_is_sdot_and_bit_exact(make, tmp_path, rng):
    """The innermost loops of the node's code (node.0 and its parallel_for jobs) that hold the MACs
    are SDOT loops: SDOT present, no widening scalar/NEON multiply (smull, smlal, mul on int8
    products) beside it, and the loop's other instructions few per SDOT. Then the same model.so's
    runner under QEMU equals the integer reference."""
    arm_cost = _arm_cost()
    graph, feeds = make(rng)
    emit(graph, ARM, tmp_path)
    functions = arm_cost.disassemble(tmp_path / "model.so", ARM.toolchain["objdump"])
    names = arm_cost.node_functions(functions, 0)
    hot = [loop for f in names for loop in arm_cost.hot_loops(functions[f])]
    assert hot, f"no loop around SDOT in {names}"
    for loop in hot:
        body = [i.mnemonic for f in names for i in functions[f] if loop.start <= i.address <= loop.end]
        assert body.count("sdot") == loop.sdot >= 1
        assert not {"smull", "smull2", "smlal", "smlal2", "mul", "mla"} & set(body), body
        assert loop.instructions <= 6 * loop.sdot, f"{loop.instructions} instructions for {loop.sdot} SDOT"
    assert "vpdpbusd" not in (tmp_path / "model.ll").read_text()
    got = CrossRunner(tmp_path / "runner", ARM, graph.inputs, graph.outputs).run(feeds)
    want = run_integer(graph, feeds)
    assert np.unique(want["y"]).size > 20
    np.testing.assert_array_equal(got["y"], want["y"])
