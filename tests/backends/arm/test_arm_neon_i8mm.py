"""arm-neon (no dotprod: SMULL/SMLAL2/SADALP) and arm-i8mm (SMMLA) artifacts on an x86 host.

arm-neon runs under qemu-aarch64 -cpu cortex-a72 (a core without dotprod), where an arm-sdot
artifact is refused by its runner's HWCAP check and an arm-i8mm one likewise on cortex-a76 (dotprod,
no i8mm): clear errors, never SIGILL. Both int16 forms of the arm-neon dot step are bit-exact (the
fast SMLAL2 form where the weights prove it cannot overflow, the exact SMULL2 form elsewhere), and
the fast form would be wrong on the weights that the proof rejects. SMMLA's micro-kernel is
bit-exact on odd pixel counts and channel counts that are not multiples of 4. The op-case table
(tests/opcases/targets.py) runs every case on both targets. About 15 s."""
from __future__ import annotations

import dataclasses
import importlib.util
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import qcomp
from qcomp import fixedpoint
from qcomp.codegen.llvm import emit, kernels_neon
from qcomp.errors import QcompError
from qcomp.ir import DType, Graph, QuantParams, Stage, TensorType, qops, verify
from qcomp.ref import run_integer
from qcomp.runtime.llvm_cross import CrossRunner
from qcomp.target import get_target, host_support

REPO = Path(__file__).resolve().parents[3]
EXAMPLE = REPO / "examples" / "fashion_mnist"
NEON, SDOT, I8MM = (get_target(t) for t in ("arm-neon", "arm-sdot", "arm-i8mm"))
pytestmark = pytest.mark.skipif(not host_support(NEON).can_run, reason=f"target arm-neon: {host_support(NEON).why}")


def _arm_cost():
    if "arm_cost" not in sys.modules:
        spec = importlib.util.spec_from_file_location("arm_cost", REPO / "benchmarks" / "arm_cost.py")
        sys.modules["arm_cost"] = module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    return sys.modules["arm_cost"]


def _qemu(*args, cpu: str) -> subprocess.CompletedProcess:
    return subprocess.run(["qemu-aarch64", "-cpu", cpu, *map(str, args)], capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def example(tmp_path_factory) -> dict:
    """The bundled example built for ref, arm-neon, arm-sdot and arm-i8mm (same calibration)."""
    out = tmp_path_factory.mktemp("arm-targets")
    calib = EXAMPLE / "calib.npz"
    arts = {t: Path(qcomp.build(EXAMPLE / "model.onnx", target=t, calib=calib, out=out / t))
            for t in ("ref", "arm-neon", "arm-sdot", "arm-i8mm")}
    feeds = dict(np.load(EXAMPLE / "input.npz"))
    return {"arts": arts, "feeds": feeds, "want": qcomp.load(arts["ref"]).run(feeds, raw=True)}


def conv_graph(w: np.ndarray, size: int, zp_in: int = 3) -> Graph:
    """A 3x3 QConv2D (pads 1) of weights w [O, 3, 3, C] on a size x size input."""
    c_out, c_in = w.shape[0], w.shape[3]
    rng = np.random.default_rng(1)
    g = Graph("conv", Stage.TARGET)
    g.add_input("x", TensorType((1, size, size, c_in), DType.INT8, QuantParams(0.05, zp_in)))
    m, s = fixedpoint.quantize_multipliers(np.full(c_out, 40.0 / np.sqrt(9 * c_in * 85 * 5400)))
    names = [g.add_constant("w", w, QuantParams(np.full(c_out, 0.01, np.float32), 0, axis=0)),
             g.add_constant("bias", rng.integers(-3000, 3000, size=c_out).astype(np.int32)),
             g.add_constant("multiplier", m.astype(np.int32)), g.add_constant("shift", s.astype(np.int32))]
    op = qops.QConv2D(pads=(1, 1, 1, 1), input_zero_point=zp_in, output_zero_point=-5)
    out_t = op.infer([g.types[v] for v in ["x", *names]])[0]
    g.add_node(op, ["x", *names], "conv", outputs=["y"],
               out_types=[TensorType(out_t.shape, DType.INT8, QuantParams(0.05, -5))])
    g.outputs = ["y"]
    return verify(g)


def _run(graph: Graph, target, feeds: dict, out: Path) -> tuple[dict, list[str]]:
    """The artifact's outputs under the target's emulator, and the mnemonics of node 0's hot loops
    (of all its code where LLVM unrolled the reduction completely)."""
    out.mkdir()
    emit(graph, target, out)
    got = CrossRunner(out / "runner", target, graph.inputs, graph.outputs).run(feeds)
    arm_cost = _arm_cost()
    functions = arm_cost.disassemble(out / "model.so", target.toolchain["objdump"])
    names = arm_cost.node_functions(functions, 0)
    hot = [loop for f in names for loop in arm_cost.hot_loops(functions[f], arm_cost.DOT_MACS[target.name])]
    body = [i.mnemonic for f in names for i in functions[f]
            if not hot or any(loop.start <= i.address <= loop.end for loop in hot)]
    return got, body


# ---- the CPU checks ----------------------------------------------------------------------------

def test_arm_neon_runs_on_a_core_without_dotprod(example, tmp_path):
    """arm-neon's runner command is qemu-aarch64 -cpu cortex-a72 (no asimddp): bit-exact to ref there,
    through the API and the runner itself; its code has no SDOT or SMMLA at all."""
    assert NEON.runner["command"] == ["qemu-aarch64", "-cpu", "cortex-a72"]
    art = example["arts"]["arm-neon"]
    got = qcomp.load(art).run(example["feeds"], raw=True)
    np.testing.assert_array_equal(got["logits"], example["want"]["logits"])
    np.save(tmp_path / "x.npy", example["feeds"]["input"])
    r = _qemu(art / "runner", "--raw", "-i", tmp_path / "x.npy", "-o", tmp_path / "y.npy", cpu="cortex-a53")
    assert r.returncode == 0, r.stderr
    np.testing.assert_array_equal(np.load(tmp_path / "y.npy"), example["want"]["logits"])
    mnemonics = {i.mnemonic for insns in _arm_cost().disassemble(art / "model.so").values() for i in insns}
    assert not {"sdot", "udot", "smmla"} & mnemonics and {"smull", "sadalp"} <= mnemonics


def test_arm_sdot_artifact_is_refused_on_cortex_a72(example, tmp_path):
    """The arm-sdot artifact on arm-neon's core: the runner's HWCAP check names asimddp (exit 4, no
    output, no SIGILL), and qcomp's runtime turns it into a QcompError."""
    np.save(tmp_path / "x.npy", example["feeds"]["input"])
    r = _qemu(example["arts"]["arm-sdot"] / "runner", "-i", tmp_path / "x.npy", "-o", tmp_path / "y.npy",
              cpu="cortex-a72")
    assert r.returncode == 4 and "this CPU lacks asimddp" in r.stderr, (r.returncode, r.stderr)
    assert not (tmp_path / "y.npy").exists()
    a72 = dataclasses.replace(SDOT, runner=NEON.runner)
    with pytest.raises(QcompError, match="cannot run on this CPU.*lacks asimddp"):
        CrossRunner(example["arts"]["arm-sdot"] / "runner", a72, ["input"], ["logits"]).run(example["feeds"])


def test_arm_i8mm_runs_with_i8mm_and_is_refused_without(example, tmp_path):
    """arm-i8mm under -cpu max is bit-exact to ref (one thread and three); on cortex-a76 (dotprod, no i8mm) the runner names
    i8mm, and qcomp_run in libmodel.a returns QCOMP_ERR_UNSUPPORTED_CPU (5) for a C caller."""
    art = example["arts"]["arm-i8mm"]
    for threads in (None, 3):   # the pool's jobs split the SMMLA tiles as they split SDOT's
        got = qcomp.load(art, num_threads=threads).run(example["feeds"], raw=True)
        np.testing.assert_array_equal(got["logits"], example["want"]["logits"])
    np.save(tmp_path / "x.npy", example["feeds"]["input"])
    r = _qemu(art / "runner", "-i", tmp_path / "x.npy", "-o", tmp_path / "y.npy", cpu="cortex-a76")
    assert r.returncode == 4 and "this CPU lacks i8mm" in r.stderr, (r.returncode, r.stderr)
    assert "Cortex-A710" in r.stderr and "arm-neon runs on every aarch64 core" in r.stderr, r.stderr
    (tmp_path / "main.c").write_text(
        '#include <stdio.h>\n#include <stdlib.h>\n#include "model.h"\nint main(void) {\n'
        '  static float x[28 * 28], y[10];\n'
        '  void *ws = aligned_alloc(QCOMP_WORKSPACE_ALIGN, QCOMP_MODEL_WORKSPACE_SIZE + QCOMP_WORKSPACE_ALIGN);\n'
        '  const void *ins[1] = {x};\n  void *outs[1] = {y};\n'
        '  printf("status %d\\n", (int)qcomp_run(ws, qcomp_workspace_size(), ins, outs));\n  return 0;\n}\n')
    subprocess.run(["aarch64-linux-gnu-gcc", "-O2", "-static", "-pthread", "-I", art, "-o", tmp_path / "app",
                    tmp_path / "main.c", art / "libmodel.a", "-lm"], check=True, capture_output=True, text=True)
    assert _qemu(tmp_path / "app", cpu="cortex-a76").stdout.strip() == "status 5"
    assert _qemu(tmp_path / "app", cpu="max").stdout.strip() == "status 0"


# ---- arm-neon: the two int16 forms -------------------------------------------------------------

def test_int16_pairs_proof():
    """The fast form is refused exactly when some channel's pair (w[e], w[e+2]) is (-128, -128)."""
    w = np.full((1, 1, 1, 4, 4), -127, np.int8)
    assert kernels_neon.int16_pairs_safe(w)
    w[0, 0, 0, 2, [0, 3]] = -128            # (d0, d3): not a pair
    assert kernels_neon.int16_pairs_safe(w)
    w[0, 0, 0, 2, 2] = -128                 # (d0, d2) of channel 2
    assert not kernels_neon.int16_pairs_safe(w)


def test_arm_neon_fast_form_is_bit_exact_at_its_bound(tmp_path):
    """Weights in [-127, 127] with -128 in half of each pair, half the activations -128 (int16 sums up
    to 16384 + 16256 = 32640): the SMLAL2 form, bit-exact."""
    rng = np.random.default_rng(0)
    w = rng.integers(-127, 128, size=(12, 3, 3, 8)).astype(np.int8)
    w.reshape(12, -1)[:, 0::4] = -128
    x = np.where(rng.random((1, 6, 6, 8)) < 0.5, -128, rng.integers(-128, 128, size=(1, 6, 6, 8))).astype(np.int8)
    graph = conv_graph(w, 6)
    got, body = _run(graph, NEON, {"x": x}, tmp_path / "fast")
    assert "smlal2" in body and "smull2" not in body and "sadalp" in body, sorted(set(body))
    want = run_integer(graph, {"x": x})
    assert np.unique(want["y"]).size > 20
    np.testing.assert_array_equal(got["y"], want["y"])


def test_arm_neon_exact_form_where_the_proof_fails(tmp_path, monkeypatch):
    """Weight pairs of -128 (pre-quantized weights may hold them) and activations of -128: the build
    picks the exact SMULL2 form, bit-exact; forcing the fast form on the same node gives wrong
    results (so the proof is what keeps it exact)."""
    rng = np.random.default_rng(0)
    w = rng.integers(-128, 128, size=(12, 3, 3, 8)).astype(np.int8)
    w[:6] = -128
    x = np.where(rng.random((1, 6, 6, 8)) < 0.8, -128, rng.integers(-128, 128, size=(1, 6, 6, 8))).astype(np.int8)
    graph = conv_graph(w, 6, zp_in=-128)
    want = run_integer(graph, {"x": x})
    assert np.unique(want["y"]).size > 20
    got, body = _run(graph, NEON, {"x": x}, tmp_path / "exact")
    assert "smull2" in body and "smlal2" not in body, sorted(set(body))
    np.testing.assert_array_equal(got["y"], want["y"])
    monkeypatch.setattr(kernels_neon, "int16_pairs_safe", lambda packed: True)
    forced, body = _run(graph, NEON, {"x": x}, tmp_path / "forced")
    assert "smlal2" in body
    assert not np.array_equal(forced["y"], want["y"]), "the fast form should overflow int16 on these weights"


# ---- arm-i8mm: SMMLA tiles ---------------------------------------------------------------------

@pytest.mark.parametrize("size,c_in,c_out", [(5, 13, 21), (7, 16, 8), (1, 9, 5)], ids=["25px", "49px", "1px"])
def test_smmla_odd_pixels_and_channels_bit_exact(size, c_in, c_out, tmp_path):
    """Odd pixel counts (the last pixel of a pair alone), channels not multiples of 4 (masked
    stores), K not a multiple of 8: SMMLA in the hot loop, no SDOT there, bit-exact."""
    rng = np.random.default_rng(size)
    w = rng.integers(-127, 128, size=(c_out, 3, 3, c_in)).astype(np.int8)
    graph = conv_graph(w, size)
    x = rng.integers(-128, 128, size=(1, size, size, c_in)).astype(np.int8)
    got, body = _run(graph, I8MM, {"x": x}, tmp_path / "i8mm")
    assert "smmla" in body and "sdot" not in body, sorted(set(body))
    want = run_integer(graph, {"x": x})
    assert np.unique(want["y"]).size >= min(20, want["y"].size // 2)
    np.testing.assert_array_equal(got["y"], want["y"])


def test_dot_specs_and_feature_checks():
    """The targets' [dot] tables give SMMLA depth 8 and the neon step depth 4; a toml without the
    extension its instruction needs is a clear error before LLVM sees it (never SIGABRT)."""
    from qcomp.codegen.llvm.isa import dot_spec
    assert (dot_spec(I8MM).instruction, dot_spec(I8MM).lanes, dot_spec(I8MM).depth) == ("smmla", 4, 8)
    assert (dot_spec(NEON).instruction, dot_spec(NEON).depth, dot_spec(NEON).activation_offset) == ("smlal", 4, 0)
    with pytest.raises(QcompError, match=r"smmla at 128 bits needs features \+i8mm"):
        dot_spec(dataclasses.replace(I8MM, features=("+neon", "+dotprod")))
    with pytest.raises(QcompError, match="has 4 lanes of depth 8, but the toml says 4 x 4"):
        dot_spec(dataclasses.replace(I8MM, dot=dataclasses.replace(I8MM.dot, depth=4)))
