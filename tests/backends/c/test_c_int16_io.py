"""int16 graph inputs and outputs through the dsp-c artifact: the manifest's runner spec, the C ABI's
tensor info (QCOMP_INT16) and the runner's file I/O carry int16 arrays unchanged, raw or not.

The graph: an int16 input read by an A16W8 kernel (QConvert to int8, an int8 output) and by a
type-generic one (Transpose, an int16 output); one host build (about 2 s)."""
from __future__ import annotations

import numpy as np
import pytest

from qcomp.codegen.c import emit
from qcomp.ir import DType, Graph, QuantParams, Stage, TensorType, ops, qops16
from qcomp.ref import run_integer
from qcomp.runtime.c import load
from qcomp.target import get_target, host_support


def _graph() -> Graph:
    g = Graph(name="int16_io", stage=Stage.TARGET)
    q16 = QuantParams(0.0005, 0)
    g.add_input("x", TensorType((2, 3, 7), DType.INT16, q16))
    to_i8 = qops16.QConvert(0, 1 << 30, -7, 5, -128, 127, "i8")   # x / 256 (rounded) + 5
    g.add_node(to_i8, ["x"], "to_i8", out_types=[TensorType((2, 3, 7), DType.INT8, QuantParams(0.128, 5))])
    g.add_node(ops.Transpose((0, 2, 1)), ["x"], "xt", out_types=[TensorType((2, 7, 3), DType.INT16, q16)])
    g.outputs = ["to_i8", "xt"]
    return g


def test_int16_inputs_and_outputs_on_dsp_c(tmp_path):
    target = get_target("dsp-c")
    support = host_support(target)
    if not support.can_run:
        pytest.skip(f"target dsp-c: {support.why}")
    graph = _graph()
    manifest = emit(graph, target, tmp_path)
    spec = manifest["c_runner"]
    assert [(t["name"], t["dtype"], t["bytes"]) for t in spec["inputs"]] == [("x", "int16", 2 * 42)]
    assert [(t["name"], t["dtype"], t["raw_dtype"]) for t in spec["outputs"]] == [("to_i8", "int8", "int8"),
                                                                                 ("xt", "int16", "int16")]
    model_c = (tmp_path / "model.c").read_text()
    assert "QCOMP_INT16" in model_c.split("static const qcomp_tensor_info input_info")[1].split(";")[0]
    x = np.random.default_rng(0).integers(-32768, 32768, size=(2, 3, 7)).astype(np.int16)
    x.flat[:2] = (-32768, 32767)   # the type's extremes travel unchanged
    want = run_integer(graph, {"x": x})
    runner = load(tmp_path, manifest, target)
    for raw in (False, True):
        got = runner.run({"x": x}, raw=raw)
        assert got["xt"].dtype == np.int16 and got["to_i8"].dtype == np.int8
        np.testing.assert_array_equal(got["xt"], want["xt"])
        np.testing.assert_array_equal(got["to_i8"], want["to_i8"])
    assert len(np.unique(want["to_i8"])) > 30   # 42 values spread over the int8 range, not saturated
