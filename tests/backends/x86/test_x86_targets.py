"""x86-avx2 and x86-avxvnni: the VPMADDUBSW saturation proof and the three forms of the AVX2 dot
step (fast, fast with residual steps, wide int16) bit-exact (weights crafted to defeat the proof at
single pairs, weights it proves safe, also through a narrow activation range, uniform random weights); no AVX-512 instruction in either target's model.so (objdump); x86-avxvnni's
VEX VPDPBUSD, its IR identical to the proxy's (x86_harness.py), and its clear refusal on a CPU
without AVX-VNNI, in Python and through the C ABI (never SIGILL)."""
import dataclasses
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import qcomp
from qcomp import abi, fixedpoint
from qcomp.codegen.llvm import dots_x86, emit, kernels_dot
from qcomp.codegen.llvm.isa import dot_spec
from qcomp.codegen.llvm.kernels_depthwise import _dot_layer
from qcomp.errors import QcompError
from qcomp.ir import DType, Graph, QuantParams, Stage, TensorType, qops, verify
from qcomp.ref import run_integer
from qcomp.target import get_target, host_cpu_flags, host_support

import x86_harness

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "llvm"))
from test_kernels_dot import CASES, layers_graph  # noqa: E402  (the dot kernels' variant table)

REPO = Path(__file__).resolve().parents[3]
AVX2, AVXVNNI = get_target("x86-avx2"), get_target("x86-avxvnni")
avx2_runs = pytest.mark.skipif(not host_support(AVX2).can_run, reason=f"x86-avx2: {host_support(AVX2).why}")
U_FULL = (0, 255)


def brute_force_safe(w0: int, w1: int, u_lo: int, u_hi: int) -> bool:
    return all(-32768 <= u0 * w0 + u1 * w1 <= 32767 for u0 in (u_lo, u_hi) for u1 in (u_lo, u_hi))


def test_the_proof_on_every_int8_pair():
    """The bound is exact: a pair is proved safe iff no corner of [u_lo, u_hi]^2 saturates (the sum
    is linear in each u), for the full u range and a narrow one; over [0, 255] that is: positive
    weights summing to at most 128, negative ones to at least -128."""
    w = np.arange(-128, 128)
    for u_lo, u_hi in (U_FULL, (0, 127), (100, 200)):
        for w0 in w[::5]:
            for w1 in w:
                got = dots_x86.saturation_free(np.array([w0, w1], np.int8), u_lo, u_hi)
                assert got == brute_force_safe(int(w0), int(w1), u_lo, u_hi), (w0, w1, u_lo, u_hi)
    assert dots_x86.saturation_free(np.array([64, 64], np.int8), *U_FULL)
    assert not dots_x86.saturation_free(np.array([127, 2], np.int8), *U_FULL)
    assert dots_x86.saturation_free(np.array([-128, 0], np.int8), *U_FULL)
    assert not dots_x86.saturation_free(np.array([-128, -1], np.int8), *U_FULL)
    assert dots_x86.saturation_free(np.array([127, 127], np.int8), 0, 127)


def test_main_and_residual_weights_are_safe_and_sum_to_the_weights():
    """plan_node's fast form with corrections: main + residual == w at every step, neither can
    saturate, and each block's residual rows are exactly its steps with an unsafe pair."""
    rng = np.random.default_rng(5)
    packed = rng.integers(-40, 41, size=(2, 5, 30, 8, 4)).astype(np.int8)        # [G][OB][KQ][lanes][depth]
    for g, ob, kq, lane, d, v in [(0, 0, 3, 1, 0, 127), (0, 0, 3, 1, 1, 100), (0, 4, 29, 7, 2, -128),
                                  (0, 4, 29, 7, 3, -50), (1, 2, 0, 0, 0, 90), (1, 2, 0, 0, 1, 90),
                                  (1, 2, 7, 3, 2, 70), (1, 2, 7, 3, 3, 70)]:
        packed[g, ob, kq, lane, d] = v
    node, graph = _one_conv()
    spec = dot_spec(AVX2)
    spec2, main, fix = dots_x86.plan_node(spec, node, graph, packed, -3)
    assert spec2 == spec and fix is not None
    assert not dots_x86.unsafe_pairs(main, *U_FULL).any()
    assert not dots_x86.unsafe_pairs(fix.panel.reshape(-1, 8, 4), *U_FULL).any()
    total = main.astype(int)
    for block, (first, count) in enumerate(fix.meta):
        for row in range(first, first + count):
            total[block // 5, block % 5, fix.idx[row]] += fix.panel[row].reshape(8, 4)
    np.testing.assert_array_equal(total, packed.astype(int))
    assert fix.idx.tolist() == [3, 29, 0, 7]
    assert fix.meta[:, 1].tolist() == [1, 0, 0, 0, 1, 0, 0, 2, 0, 0]


def test_the_wide_form_layout():
    """widen_weights: per step the int16 pairs (w[j, 0], w[j, 1]) of every lane, then (w[j, 2], w[j, 3])."""
    packed = np.arange(-64, 64, dtype=np.int8).reshape(1, 1, 4, 8, 4)
    wide = dots_x86.widen_weights(packed)
    assert wide.shape == (1, 1, 4, 2, 8, 2) and wide.dtype == np.int16
    for p in range(2):
        np.testing.assert_array_equal(wide[..., p, :, :], packed[..., 2 * p:2 * p + 2])


def _one_conv():
    g = Graph("one", Stage.TARGET)
    g.add_input("x", TensorType((1, 4, 4, 8), DType.INT8, QuantParams(0.05, -3)))
    _add_conv(g, "x", "c", np.ones((8, 3, 3, 8), np.int8), -3)
    g.outputs = ["c.y"]
    graph = verify(g)
    return graph.nodes[0], graph


def _add_conv(g: Graph, x: str, name: str, w: np.ndarray, zp_in: int, qmin: int = -128, qmax: int = 127,
              pads=(1, 1, 1, 1)) -> str:
    o, k = w.shape[0], int(np.prod(w.shape[1:]))
    rng = np.random.default_rng(o + k)
    m, s = fixedpoint.quantize_multipliers(rng.uniform(0.5, 2.0, o) * 40.0 / np.sqrt(k * 85 * 5400))
    names = [g.add_constant(f"{name}.w", w, QuantParams(np.full(o, 0.01, np.float32), 0, axis=0)),
             g.add_constant(f"{name}.bias", rng.integers(-3000, 3000, size=o).astype(np.int32)),
             g.add_constant(f"{name}.multiplier", m.astype(np.int32)), g.add_constant(f"{name}.shift", s.astype(np.int32))]
    op = qops.QConv2D(pads=pads, input_zero_point=zp_in, output_zero_point=-40, qmin=qmin, qmax=qmax)
    out_t = op.infer([g.types[v] for v in [x, *names]])[0]
    g.add_node(op, [x, *names], name, outputs=[f"{name}.y"],
               out_types=[TensorType(out_t.shape, DType.INT8, QuantParams(0.05, -40))])
    return f"{name}.y"


def forms_graph():
    """Convolutions whose weights the proof accepts or defeats, each fed inputs that reach the
    saturating corner (x = 127, u = 255, next to the crafted pairs), and a node proved safe only
    through its producer's clamp; a random dense layer (uniform weights: most steps unsafe). name ->
    expected form ("fast", "fast+fix": with residual steps, "wide")."""
    rng = np.random.default_rng(3)
    g = Graph("forms", Stage.TARGET)
    c = 16
    g.add_input("x", TensorType((1, 6, 6, c), DType.INT8, QuantParams(0.05, -3)))
    small = rng.integers(-64, 65, size=(24, 3, 3, c)).astype(np.int8)   # every pair within +-128
    defeated = rng.integers(-20, 21, size=(24, 3, 3, c)).astype(np.int8)
    defeated[5, 1, 1, 2:4] = 127                                         # one pair: 255 * 254 > 32767
    negative = rng.integers(-20, 21, size=(24, 3, 3, c)).astype(np.int8)
    negative[17, 0, 2, 6:8] = (-100, -60)                                # 255 * -160 < -32768
    outs = {"fast": _add_conv(g, "x", "fast", small, -3),
            "defeated": _add_conv(g, "x", "defeated", defeated, -3),
            "negative": _add_conv(g, "x", "negative", negative, -3)}
    # clamped to [-128, -1] (u in [0, 127]): 127 * (127 + 127) fits int16, so the big weights are safe
    clamped = _add_conv(g, "x", "clamped", small, -3, qmin=-128, qmax=-1)
    big = rng.integers(90, 128, size=(16, 1, 1, 24)).astype(np.int8) * rng.choice([-1, 1], size=(16, 1, 1, 24)).astype(np.int8)
    outs["narrow"] = _add_conv(g, clamped, "narrow", big, -60, pads=(0, 0, 0, 0))
    wide = rng.integers(-127, 128, size=(40, 3, 3, c)).astype(np.int8)
    outs["wide"] = _add_conv(g, "x", "wide", wide, -3)
    g.outputs = list(outs.values())
    x = rng.integers(-128, 128, size=(1, 6, 6, c)).astype(np.int8)
    x[..., 2:4] = 127
    x[..., 6:8] = 127
    return verify(g), {"x": x}, {"fast": "fast", "defeated": "fast+fix", "negative": "fast+fix", "narrow": "fast",
                                 "clamped": "fast", "wide": "wide"}


def node_forms(graph) -> dict[str, str]:
    """The form emit_dot gives each (non-depthwise) dot node."""
    spec = dot_spec(AVX2)
    out = {}
    for node in graph.nodes:
        if kernels_dot._is_depthwise(node, graph):
            continue
        taps, _, groups, pad_value, _ = _dot_layer(node, graph)
        packed, _, _ = kernels_dot.pack_weights(graph.constants[node.inputs[1]], groups, spec.lanes, spec.depth)
        form, _, fix = dots_x86.plan_node(spec, node, graph, packed, pad_value)
        out[node.name] = "wide" if form.weight_parts == 2 else "fast+fix" if fix is not None else "fast"
    return out


def test_each_node_gets_the_form_its_weights_allow():
    graph, _, expected = forms_graph()
    assert node_forms(graph) == expected
    graph, _ = layers_graph(np.random.default_rng(7))   # uniform random int8 weights: most steps unsafe
    assert set(node_forms(graph).values()) == {"wide"}


@pytest.fixture(scope="module")
def forms_built(tmp_path_factory):
    graph, feeds, _ = forms_graph()
    out = tmp_path_factory.mktemp("forms")
    emit(graph, AVX2, out)
    return out, graph, feeds, run_integer(graph, feeds)


@avx2_runs
def test_both_forms_bit_exact(forms_built):
    from qcomp.runtime.llvm import Runner
    out, graph, feeds, want = forms_built
    got = Runner(out / "model.so").run(feeds)
    for name, value in want.items():
        assert np.unique(value).size > 20, f"{name}: degenerate reference output"
        np.testing.assert_array_equal(got[name], value, err_msg=name)


@avx2_runs
def test_the_fast_form_where_the_proof_fails_would_be_wrong(tmp_path, monkeypatch):
    """The crafted pairs do saturate: a build that skips the proof (every step in the fast form, no
    residual steps) differs from the reference on them, so test_both_forms_bit_exact checks them."""
    from qcomp.runtime.llvm import Runner
    graph, feeds, _ = forms_graph()
    monkeypatch.setattr(dots_x86, "unsafe_pairs", lambda w, lo, hi: np.zeros(w.reshape(*w.shape[:-2], -1, 2).shape[:-1], bool))
    emit(graph, AVX2, tmp_path)
    got, want = Runner(tmp_path / "model.so").run(feeds), run_integer(graph, feeds)
    assert not np.array_equal(got["defeated.y"], want["defeated.y"])
    assert not np.array_equal(got["negative.y"], want["negative.y"])
    np.testing.assert_array_equal(got["fast.y"], want["fast.y"])


@pytest.fixture(scope="module")
def layers_built(tmp_path_factory):
    """The dot kernels' variant graph (test_kernels_dot) built for x86-avx2, x86-avxvnni and the proxy."""
    graph, feeds = layers_graph(np.random.default_rng(7))
    out = {}
    for target in (AVX2, AVXVNNI, x86_harness.avxvnni_proxy()):
        out[target.name] = tmp_path_factory.mktemp(target.name)
        emit(graph, target, out[target.name])
    return out, graph, feeds, run_integer(graph, feeds)


@avx2_runs
@pytest.mark.parametrize("threads", [1, 2])
def test_every_kernel_variant_bit_exact_on_avx2(layers_built, threads):
    from qcomp.runtime.llvm import Runner
    out, _, feeds, want = layers_built
    got = Runner(out["x86-avx2"] / "model.so", num_threads=threads).run(feeds)
    for name in CASES:
        np.testing.assert_array_equal(got[f"{name}.y"], want[f"{name}.y"], err_msg=f"{name}, {threads} threads")


def test_no_avx512_instruction_in_avx2_or_avxvnni(layers_built, forms_built):
    """objdump of model.so: x86-avx2 uses VPMADDUBSW (fast form), VPMADDWD (both forms) and nothing
    of AVX-512; x86-avxvnni
    uses VEX VPDPBUSD/VPDPWSSDS on ymm and nothing of AVX-512; the proxy is EVEX (the detector sees it)."""
    out, _, _, _ = layers_built
    text = {name: x86_harness.disassemble(path / "model.so") for name, path in out.items()}
    for name in ("x86-avx2", "x86-avxvnni"):
        assert x86_harness.avx512_instructions(text[name]) == [], name
    forms = x86_harness.disassemble(forms_built[0] / "model.so")   # the fast form's nodes
    assert x86_harness.avx512_instructions(forms) == []
    assert "vpmaddubsw" in forms and "vpmaddwd" in text["x86-avx2"]
    assert "vpdpbusd" not in text["x86-avx2"] and "vpdpwssd" not in text["x86-avx2"]
    vnni = [line for line in text["x86-avxvnni"].splitlines() if "vpdpbusd" in line]
    assert vnni and all("{vex} vpdpbusd" in line and "%ymm" in line for line in vnni)
    assert "{vex} vpdpwssds" in text["x86-avxvnni"]
    assert any("vpdpbusd" in line for line in x86_harness.avx512_instructions(text["x86-avxvnni-proxy"]))


def test_the_proxy_compiles_the_same_ir_as_avxvnni(layers_built):
    out, _, _, _ = layers_built
    assert (out["x86-avxvnni"] / "model.ll").read_text() == (out["x86-avxvnni-proxy"] / "model.ll").read_text()


@pytest.mark.skipif(not host_support(x86_harness.avxvnni_proxy()).can_run, reason="no AVX-512VL + VNNI here")
def test_the_proxy_runs_every_kernel_variant_bit_exact(layers_built):
    from qcomp.runtime.llvm import Runner
    out, _, feeds, want = layers_built
    got = Runner(out["x86-avxvnni-proxy"] / "model.so").run(feeds)
    for name in CASES:
        np.testing.assert_array_equal(got[f"{name}.y"], want[f"{name}.y"], err_msg=name)


DRIVER = r"""
#include <stdio.h>
#include <stdlib.h>
#include "model.h"
int main(void) {
  size_t size = qcomp_workspace_size();
  void *ws = aligned_alloc(QCOMP_WORKSPACE_ALIGN, (size + QCOMP_WORKSPACE_ALIGN - 1) / QCOMP_WORKSPACE_ALIGN * QCOMP_WORKSPACE_ALIGN);
  float x[28 * 28] = {0}, y[10];
  const void *ins[1] = {x};
  void *outs[1] = {y};
  int status = qcomp_run(ws, size, ins, outs);
  printf("status %d\n", status);
  return 0;
}
"""


def test_avxvnni_on_this_cpu(tmp_path):
    """Without AVX-VNNI (this machine's Zen 4): qcomp.load refuses the artifact naming avx_vnni, and
    a C program calling qcomp_run gets QCOMP_ERR_UNSUPPORTED_CPU from the library's own check, no
    SIGILL. With it: the artifact runs, bit-exact to ref."""
    example = REPO / "examples" / "fashion_mnist"
    art = qcomp.build(example / "model.onnx", target="x86-avxvnni", calib=example / "calib.npz", out=tmp_path / "art")
    x = {"input": np.load(example / "input.npz")["input"].astype(np.float32)}
    if "avx_vnni" in host_cpu_flags():
        qcomp.build(example / "model.onnx", target="ref", calib=example / "calib.npz", out=tmp_path / "ref")
        got, want = qcomp.load(art).run(x, raw=True), qcomp.load(tmp_path / "ref").run(x, raw=True)
        for name in want:
            np.testing.assert_array_equal(got[name], want[name])
        return
    with pytest.raises(QcompError, match=r"x86-avxvnni.*this CPU lacks avx_vnni"):
        qcomp.load(art).run(x)
    (tmp_path / "driver.c").write_text(DRIVER)
    subprocess.run(["gcc", "-O1", "-I", str(art), "-o", str(tmp_path / "driver"), str(tmp_path / "driver.c"),
                    str(art / "model.so"), f"-Wl,-rpath,{art}"], check=True, capture_output=True)
    run = subprocess.run([str(tmp_path / "driver")], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, f"driver died: {run.returncode} {run.stderr}"
    assert run.stdout.strip() == f"status {abi.STATUS_OF['QCOMP_ERR_UNSUPPORTED_CPU']}"


def test_register_count_comes_from_the_target():
    assert dot_spec(AVX2).registers == dot_spec(AVXVNNI).registers == 16
    assert dot_spec(get_target("x86-vnni")).registers == 32
    assert kernels_dot.gemm_plan(pixels=100, n_ob=8, groups=1, kpad=64, lanes=8, registers=16)["mr"] * \
        kernels_dot.gemm_plan(pixels=100, n_ob=8, groups=1, kpad=64, lanes=8, registers=16)["nr"] <= 10
    no_vnni = dataclasses.replace(AVXVNNI, features=("+avx2",))
    with pytest.raises(QcompError, match="needs features"):
        dot_spec(no_vnni)
