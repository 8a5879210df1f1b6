"""The per-node profiler (qcomp_set_profiler, runtime/qcomp.h ABI version 2) and `qcomp bench --per-layer`.

Structure, not speed: every node kernel of the TARGET graph is timed, MACs of the conv and dense
nodes equal the ones computed here from the ONNX model, shares add up to 100 %, the node times of a
run fit inside the run's wall time; with the profiler off, on, and off again the outputs are the
same bits; the CLI prints the table; the C backend refuses a buffer; the peak follows the vendor."""
import ctypes
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest

import qcomp
from qcomp import abi
from qcomp.codegen.memory import planned
from qcomp.errors import QcompError
from qcomp.ir.serialize import load_graph
from qcomp.layer_profile import cpu_peak, format_profile, profile_layers
from qcomp.passes.lower_integer import lower_integer
from qcomp.target import get_target, host_support

REPO = Path(__file__).resolve().parents[3]
MODEL = REPO / "examples" / "fashion_mnist" / "model.onnx"
CALIB = REPO / "examples" / "fashion_mnist" / "calib.npz"
X86 = host_support(get_target("x86-vnni"))
needs_x86 = pytest.mark.skipif(not X86.can_run, reason=f"target x86-vnni: {X86.why}")


@pytest.fixture(scope="module")
def artifact(tmp_path_factory) -> Path:
    if not X86.can_run:
        pytest.skip(f"target x86-vnni: {X86.why}")
    out = tmp_path_factory.mktemp("prof") / "fm.x86-vnni"
    qcomp.build(MODEL, target="x86-vnni", calib=CALIB, out=out)
    return out


def _onnx_macs(model: Path) -> dict[str, int]:
    """MACs of every Conv and Gemm node, from the ONNX model's own shapes (shape inference)."""
    m = onnx.shape_inference.infer_shapes(onnx.load(model))
    shapes = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim]
              for v in list(m.graph.value_info) + list(m.graph.output) + list(m.graph.input)}
    shapes |= {t.name: list(t.dims) for t in m.graph.initializer}
    macs = {}
    for n in m.graph.node:
        if n.op_type == "Conv":
            o, cg, kh, kw = shapes[n.input[1]]
            batch, _, oh, ow = shapes[n.output[0]]
            macs[n.name] = batch * o * oh * ow * cg * kh * kw
        elif n.op_type == "Gemm":
            rows, k = shapes[n.input[0]]
            trans_b = next((a.i for a in n.attribute if a.name == "transB"), 0)
            cols = shapes[n.input[1]][0 if trans_b else 1]
            macs[n.name] = rows * cols * k
    return macs


@needs_x86
def test_every_node_is_timed_with_exact_macs(artifact):
    p = profile_layers(artifact, threads=1, runs=5, warmup=1, hz=3e9)
    g = planned(lower_integer(load_graph(artifact / "model.qir")))
    assert [layer.name for layer in p.layers] == [n.name for n in g.nodes if not g.memory.is_view(n)]
    want = _onnx_macs(MODEL)
    assert len(want) == 4
    got = {layer.name: layer.macs for layer in p.layers if layer.macs}
    assert got == want
    assert sum(p.share(layer) for layer in p.layers) == pytest.approx(100.0, abs=1e-9)
    assert all(layer.ms > 0 for layer in p.layers)
    assert p.total_ms <= p.run_ms and p.nodes_run_ms <= p.run_ms
    assert p.threads == 1 and p.peak.threads == 1 and p.peak.hz == 3e9


@needs_x86
def test_node_times_of_each_run_fit_in_its_wall_time(artifact):
    art = qcomp.load(artifact, num_threads=1)
    feeds = {"input": np.random.default_rng(0).standard_normal((1, 1, 28, 28)).astype(np.float32)}
    names, ns, walls = art._runner.profile(feeds, runs=8, warmup=1)
    assert ns.shape == (8, len(names)) and ns.dtype == np.uint64
    per_run = ns.sum(axis=1) / 1e9
    assert np.all(per_run <= np.asarray(walls)) and np.all(per_run > 0)


@needs_x86
def test_outputs_are_the_same_bits_with_the_profiler_off_on_and_off_again(artifact):
    art = qcomp.load(artifact)
    lib = art._runner._lib
    feeds = {"input": np.random.default_rng(1).standard_normal((1, 1, 28, 28)).astype(np.float32)}
    off = art.run(feeds, raw=True)["logits"]
    buffer = np.zeros(lib.qcomp_profiled_nodes(), np.uint64)
    assert lib.qcomp_set_profiler(buffer.ctypes.data, buffer.size) == abi.STATUS_OF["QCOMP_OK"]
    on = art.run(feeds, raw=True)["logits"]
    assert np.all(buffer > 0)
    assert lib.qcomp_set_profiler(None, 0) == abi.STATUS_OF["QCOMP_OK"]
    before = buffer.copy()
    again = art.run(feeds, raw=True)["logits"]
    np.testing.assert_array_equal(buffer, before)      # off: nothing written
    np.testing.assert_array_equal(on, off)
    np.testing.assert_array_equal(again, off)
    assert np.unique(off).size > 5


@needs_x86
def test_abi_refuses_a_short_buffer_and_bad_indices(artifact):
    lib = ctypes.CDLL(str(artifact / "model.so"))
    lib.qcomp_profiled_node_name.restype = ctypes.c_char_p
    n = lib.qcomp_profiled_nodes()
    assert lib.qcomp_abi_version() >= 2 and n == 8   # the profiler is version 2
    buffer = (ctypes.c_uint64 * n)()
    assert lib.qcomp_set_profiler(buffer, n - 1) == abi.STATUS_OF["QCOMP_ERR_BUFFER_TOO_SMALL"]
    assert lib.qcomp_profiled_node_name(n) is None and lib.qcomp_profiled_node_name(-1) is None
    assert lib.qcomp_profiled_node_name(0) == b"input_quantize"


@needs_x86
def test_cli_prints_the_table(artifact):
    r = subprocess.run([sys.executable, "-m", "qcomp", "bench", str(artifact), "--per-layer", "--runs", "3",
                        "--warmup", "1", "--threads", "1"], capture_output=True, text=True, cwd=REPO, timeout=300)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert "per-node time, median of 3 runs after 1 warm-up runs, 1 thread" in lines[0]
    assert "VNNI peak = " in lines[1] and "ops/cycle/core" in lines[1] and "GOPS" in lines[1]
    assert lines[2].split() == ["node", "op", "ms", "%", "MMACs", "GOPS", "%", "peak"]
    g = planned(lower_integer(load_graph(artifact / "model.qir")))
    for n in (n for n in g.nodes if not g.memory.is_view(n)):
        assert any(line.split()[:2] == [n.name, n.kind] for line in lines), n.name
    rows = [line.split() for line in lines[4:12]]
    times = [float(row[2]) for row in rows]
    assert times == sorted(times, reverse=True)
    assert any(line.split()[:2] == ["nodes", "8"] for line in lines)


def test_cli_refuses_per_layer_with_vs(tmp_path):
    art = tmp_path / "fm.ref"
    qcomp.build(MODEL, target="ref", calib=CALIB, out=art)
    r = subprocess.run([sys.executable, "-m", "qcomp", "bench", str(art), "--per-layer", "--vs", "onnxruntime"],
                       capture_output=True, text=True, cwd=REPO, timeout=300)
    assert r.returncode == 2 and "--per-layer times qcomp's own nodes" in r.stderr
    with pytest.raises(QcompError, match="per-layer profiling is available for llvm targets that run on this host"):
        profile_layers(art, runs=1)


def test_c_artifacts_time_no_node_and_refuse_a_buffer(tmp_path):
    support = host_support(get_target("dsp-c"))
    if not support.can_run:
        pytest.skip(f"target dsp-c: {support.why}")
    art = tmp_path / "fm.dsp-c"
    qcomp.build(MODEL, target="dsp-c", calib=CALIB, out=art)
    (tmp_path / "harness.c").write_text(
        '#include <stdio.h>\n#include "model.h"\nint main(void) {\n  uint64_t ns[4];\n'
        '  printf("%d %d %d %d\\n", (int)qcomp_profiled_nodes(), qcomp_profiled_node_name(0) == NULL,\n'
        '         (int)qcomp_set_profiler(ns, 4), (int)qcomp_set_profiler(NULL, 0));\n  return 0;\n}\n')
    exe = tmp_path / "harness"
    cmd = ["cc", "-std=c99", "-Wall", "-Wextra", "-Wpedantic", "-Werror", "-I", str(art), "-o", str(exe),
           str(tmp_path / "harness.c"), *(str(art / f) for f in ("model.c", "weights.c", "qcomp_kernels.c",
                                                                 "qcomp_kernels_conv.c", "qcomp_kernels_elem.c", "qcomp_kernels_rows.c")), "-lm"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    out = subprocess.run([str(exe)], capture_output=True, text=True, check=True, timeout=60).stdout.split()
    assert out == ["0", "1", str(abi.STATUS_OF["QCOMP_ERR_UNSUPPORTED"]), str(abi.STATUS_OF["QCOMP_OK"])]


@pytest.mark.parametrize("vendor, family, per_cycle", [("GenuineIntel", 6, 256), ("AuthenticAMD", 25, 128),
                                                       ("AuthenticAMD", 26, 256)])
def test_peak_follows_the_vendor(vendor, family, per_cycle):
    info = {"vendor_id": vendor, "cpu family": str(family), "cpu MHz": "2000.000"}
    peak = cpu_peak(2, info=info, hz=3.0e9)
    assert (peak.ops_per_cycle, peak.gops, peak.clock_source) == (per_cycle, per_cycle * 3.0 * 2, "measured")


def test_unknown_vendor_is_a_clear_error():
    with pytest.raises(QcompError, match="no VNNI peak is known for CPU vendor 'HygonGenuine'"):
        cpu_peak(1, info={"vendor_id": "HygonGenuine", "cpu family": "24"}, hz=1e9)


def test_table_totals_add_up():
    from qcomp.layer_profile import Layer, LayerProfile, Peak
    peak = Peak("AuthenticAMD", 25, 128, "Zen 4", 2.5e9, "measured", 1)
    layers = [Layer("a", "QConv2D", 1_000_000, 0.02), Layer("b", "MaxPool2D", 0, 0.01)]
    p = LayerProfile("art", "x86-vnni", 1, 3, 1, layers, 0.04, peak, "cpu", 0.031)
    lines = format_profile(p)
    assert lines[4].split()[:4] == ["a", "QConv2D", "0.0200", "66.7%"]
    assert lines[4].split()[5:] == ["100.0", "31.2%"]          # 2 MMAC ops in 20 us; of 320 GOPS
    assert lines[5].split()[:4] == ["b", "MaxPool2D", "0.0100", "33.3%"]
    assert lines[7].split()[:4] == ["nodes", "2", "0.0300", "100.0%"]
    assert lines[-1] == ("  per run (medians): nodes 0.0310 ms, whole run call 0.0400 ms, outside the nodes "
                         "(input checks, ctypes) 0.0090 ms")
