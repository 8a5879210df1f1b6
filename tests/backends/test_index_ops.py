"""Run-time indices on every backend (qcomp/ir/ops_index.py, Gather with run-time indices):
- an index out of range is one InputError on every target (the reference raises it; llvm and C
  return QCOMP_ERR_BAD_INPUT from qcomp_run, cuda sets the run's status word), never a read or
  write outside a buffer; the same run with the index in range gives the reference's result;
- the float forms llvm and cuda run (ScatterElements add and mul, ScatterND max of float32, a float
  GatherElements) equal the reference bit for bit: every backend applies the updates in the
  reference's order, one float32 operation each.
"""
from __future__ import annotations

import numpy as np
import pytest

from qcomp.errors import InputError
from qcomp.ir import DType, Graph, QuantParams, Stage, TensorType, ops, verify
from qcomp.ir.ops_index import GatherElements, ScatterElements, ScatterND

from opcases.targets import TARGETS

ERROR_TARGETS = [t for t in TARGETS if t.name in ("ref", "x86-vnni", "dsp-c", "cuda-emulated")]
FLOAT_TARGETS = [t for t in TARGETS if t.name in ("x86-vnni", "cuda-emulated")]
Q = QuantParams(0.05, 3)


def _int8_graph() -> Graph:
    g = Graph(name="index_errors", stage=Stage.TARGET)
    g.add_input("ids", TensorType((2, 3), DType.INT64))
    g.add_input("x", TensorType((4, 5), DType.INT8, Q))
    g.add_input("rows", TensorType((3, 1), DType.INT32))
    g.add_input("u", TensorType((3, 5), DType.INT8, Q))
    table = g.add_constant("table", np.arange(-60, 60, 3, dtype=np.int8).reshape(10, 4), Q)
    g.add_node(ops.Gather(axis=0), [table, "ids"], "tokens", out_types=[TensorType((2, 3, 4), DType.INT8, Q)])
    g.add_node(ScatterND(reduction="max"), ["x", "rows", "u"], "scattered", out_types=[TensorType((4, 5), DType.INT8, Q)])
    g.outputs = ["tokens", "scattered"]
    return verify(g)


def _feeds(rng) -> dict[str, np.ndarray]:
    return {"ids": np.array([[0, 9, -10], [3, 3, -1]], np.int64),
            "x": rng.integers(-128, 128, (4, 5)).astype(np.int8),
            "rows": np.array([[1], [-4], [1]], np.int32),
            "u": rng.integers(-128, 128, (3, 5)).astype(np.int8)}


@pytest.mark.parametrize("target", ERROR_TARGETS, ids=lambda t: t.name)
def test_out_of_range_index_is_an_input_error(target):
    if (why := target.skip()) is not None:
        pytest.skip(why)
    g, feeds = _int8_graph(), _feeds(np.random.default_rng(0))
    want = TARGETS[0].run(g, feeds)
    got = target.run(g, feeds)
    for k in want:
        np.testing.assert_array_equal(got[k], want[k], err_msg=k)
    broken = dict(feeds, rows=feeds["rows"].copy())   # the Gather kernels' check: tests/models/test_token_encoder.py
    broken["rows"][2, 0] = -5
    with pytest.raises(InputError, match="out of range"):
        target.run(g, broken)


def _float_graph() -> Graph:
    g = Graph(name="index_float", stage=Stage.TARGET)
    f = DType.FLOAT32
    for name, shape in (("x", (4, 6)), ("u", (5, 6))):
        g.add_input(name, TensorType(shape, f))
    g.add_input("i", TensorType((5, 6), DType.INT64))
    g.add_input("r", TensorType((5, 1), DType.INT64))
    g.add_node(ScatterElements(axis=0, reduction="add"), ["x", "i", "u"], "added")
    g.add_node(ScatterElements(axis=0, reduction="mul"), ["x", "i", "u"], "multiplied")
    g.add_node(ScatterND(reduction="max"), ["added", "r", "u"], "maxed")
    g.add_node(GatherElements(axis=0), ["x", "i"], "picked")
    g.outputs = ["added", "multiplied", "maxed", "picked"]
    return verify(g)


@pytest.mark.parametrize("target", FLOAT_TARGETS, ids=lambda t: t.name)
def test_float_forms_equal_the_reference(target):
    if (why := target.skip()) is not None:
        pytest.skip(why)
    rng = np.random.default_rng(1)
    feeds = {"x": rng.standard_normal((4, 6)).astype(np.float32), "u": rng.standard_normal((5, 6)).astype(np.float32),
             "i": rng.integers(-4, 4, (5, 6)),
             "r": np.array([[0], [3], [0], [-1], [2]])}
    g = _float_graph()
    want = TARGETS[0].run(g, feeds)
    got = target.run(g, feeds)
    for k in want:
        np.testing.assert_array_equal(got[k], want[k], err_msg=k)
