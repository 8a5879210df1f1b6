"""The plain per-op reference C (emit(plain=True), the baseline of benchmarks/dsp_cost.py) is real
generated code, bit-exact like the optimized build; and the models the C backend does not take
(dynamic quantization, float ops left by --quant weight) are refused at build with an
UnsupportedModelError naming the node and saying to quantize statically."""
from __future__ import annotations

import importlib
import importlib.util
import re
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from qcomp.api import build, load_model
from qcomp.builder import BuildOptions, quantize_model
from qcomp.codegen.c import emit
from qcomp.errors import UnsupportedModelError
from qcomp.ir import qops, verify
from qcomp.passes.lower_integer import lower_integer
from qcomp.ref import run_integer
from qcomp.runtime.c import load
from qcomp.target import get_target, host_support

TESTS = Path(__file__).resolve().parents[2]
EXAMPLE = TESTS.parent / "examples" / "fashion_mnist"


def _target(name: str):
    target = get_target(name)
    support = host_support(target)
    if not support.can_run:
        pytest.skip(f"target {name}: {support.why}")
    return target


def _opcases():
    """tests/opcases as a package (loaded by path: tests/ is not a package)."""
    name = "qcomp_test_opcases_c"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, TESTS / "opcases" / "__init__.py",
                                                      submodule_search_locations=[str(TESTS / "opcases")])
        sys.modules[name] = module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    return importlib.import_module(f"{name}.cases")


def run_together(run, parts):
    """tests/opcases/batch.py's run_together (the package loaded by path, as in _opcases)."""
    _opcases()
    return importlib.import_module("qcomp_test_opcases_c.batch").run_together(run, parts)


# The op-table cases that exercise the plain Conv / Dense loops' geometry (the plain form changes
# only qcomp_conv2d_int8 and qcomp_dense_int8): padding, stride, dilation, depthwise with a channel
# multiplier, groups, batch, extreme zero points, rank-3 and K=1 dense (all in one build).
PLAIN_CASES = ("conv3x3_s2_pad_asym", "conv3x3_dil2_s2_nopad", "conv1x5_pad_w", "conv_depthwise3x3_s2_mult2",
               "conv_grouped3_c15_o33", "conv_batch2_c3_o17", "conv3x3_zp_in_127_zp_out_m128",
               "dense_rank3_k13_n33", "dense_k1_n3_zp127")


@pytest.fixture(scope="module")
def example_graph():
    q, _ = quantize_model(load_model(EXAMPLE / "model.onnx", {}), BuildOptions(calib=str(EXAMPLE / "calib.npz")))
    return verify(lower_integer(q))


def test_plain_build_is_the_plain_form(example_graph, tmp_path):
    """No patch scratch, one arena slice per activation, -DQCOMP_PLAIN in the artifact's Makefile."""
    target = _target("dsp-c")
    plain = emit(example_graph, target, tmp_path / "plain", plain=True)
    opt = emit(example_graph, target, tmp_path / "opt")
    assert plain["c_variant"] == "plain" and opt["c_variant"] == "optimized"
    assert plain["workspace_bytes"] >= plain["activation_bytes"] > opt["workspace_bytes"]
    assert "-DQCOMP_PLAIN" in (tmp_path / "plain" / "Makefile").read_text()
    assert "-DQCOMP_PLAIN" not in (tmp_path / "opt" / "Makefile").read_text()
    assert "((int8_t *)0)" in (tmp_path / "plain" / "model.c").read_text()   # the conv's unused patch


@pytest.mark.parametrize("target_name,count", [("dsp-c", 20), ("cortex-m4", 1), ("cortex-m55", 1)])
def test_plain_example_equals_run_integer(example_graph, tmp_path, target_name, count):
    target = _target(target_name)
    runner = load(tmp_path, emit(example_graph, target, tmp_path, plain=True), target)
    samples = np.load(EXAMPLE / "samples.npz")["input"].astype(np.float32)
    for i in range(0, len(samples), len(samples) // count)[:count]:
        x = {"input": samples[i:i + 1]}
        np.testing.assert_array_equal(runner.run(x, raw=True)["logits"], run_integer(example_graph, x, raw=True)["logits"],
                                      err_msg=f"sample {i}")
    if target_name.startswith("cortex-"):
        assert runner.last_instructions > 0


def test_plain_weighted_op_cases_equal_run_integer(tmp_path):
    """PLAIN_CASES of the shared op table through the plain kernels on the host."""
    target = _target("dsp-c")
    cases = _opcases()
    by_name = {c.name: c for c in cases.CASES}
    parts = [cases.materialize(by_name[name]) for name in PLAIN_CASES]

    def run(graph, feeds):
        out = tmp_path / graph.name
        return load(out, emit(graph, target, out, plain=True), target).run(dict(feeds))

    # the cases in one plain build: their disjoint union (tests/opcases/batch.py)
    for (graph, feeds), got in zip(parts, run_together(run, parts)):
        assert any(isinstance(n.op, (qops.QConv2D, qops.QDense)) for n in graph.nodes)
        want = run_integer(graph, feeds)
        assert sorted(got) == sorted(want), graph.name
        for name in want:
            np.testing.assert_array_equal(got[name], want[name], err_msg=f"{graph.name}: {name}")


def _matmul_model(path: Path) -> None:
    rng = np.random.default_rng(0)
    w = numpy_helper.from_array(rng.normal(0, 0.3, (6, 4)).astype(np.float32), "w")
    nodes = [helper.make_node("MatMul", ["x", "w"], ["y"], name="proj \"q\"")]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [2, 6])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [2, 4])], [w])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    np.save(path.parent / "calib.npy", rng.normal(0, 1, (8, 2, 6)).astype(np.float32))


@pytest.mark.parametrize("target_name", ["dsp-c", "cortex-m4", "cortex-m7", "cortex-m55"])
def test_dynamic_quantization_is_refused_with_advice(tmp_path, target_name):
    if not host_support(get_target(target_name)).can_build:
        pytest.skip(f"target {target_name}: {host_support(get_target(target_name)).why}")
    _matmul_model(tmp_path / "m.onnx")
    with pytest.raises(UnsupportedModelError) as e:
        build(tmp_path / "m.onnx", target=target_name, quant="dynamic", out=tmp_path / "out")
    msg = str(e.value)
    assert f"target {target_name}" in msg and "'proj \"q\"'" in msg and "DynamicDense" in msg, msg
    assert "dynamic quantization" in msg and "--quant full" in msg and "--calib" in msg, msg
    # the same model quantized statically builds and matches the reference
    art = build(tmp_path / "m.onnx", target=target_name, calib=tmp_path / "calib.npy", out=tmp_path / "static")
    assert (art / "model.c").is_file()


def test_float_ops_left_by_weight_only_quantization_are_refused_with_advice(tmp_path):
    if not host_support(get_target("dsp-c")).can_build:
        pytest.skip(f"target dsp-c: {host_support(get_target('dsp-c')).why}")
    with pytest.raises(UnsupportedModelError) as e:
        build(EXAMPLE / "model.onnx", target="dsp-c", quant="weight", out=tmp_path / "out")
    msg = str(e.value)
    assert re.search(r"node '/conv1/Conv' \(Conv2D f32", msg), msg
    assert "computes in float" in msg and "--quant full" in msg, msg
