"""passes/lower_int_boundary.py: Quantize(Cast(int -> float)) becomes IntLut, Quantize(Gather(float
table, ids)) a Gather of the quantized table; both bit-exact to the QUANTIZED graph's float step and
Quantize (printed After graph, run_integer on the lowered graph against the float ops), including
integers far outside the table (int64 extremes) and a scale 0."""
from __future__ import annotations

import numpy as np
import pytest

from qcomp import fixedpoint
from qcomp.ir import DType, Graph, QuantParams, Stage, TensorType, ops
from qcomp.ir.qops_intlut import IntLut
from qcomp.passes import lower_int_boundary
from qcomp.passes.lower_integer import lower_integer
from qcomp.ref import run_integer

from .helpers import body


@pytest.mark.parametrize("scale, zero_point", [(1 / 255, -128), (12.0, 127), (0.37, 5), (3e-3, 100),
                                               (1.0, -128), (0.0, 7), (0.5, 0)])
def test_table_equals_quantize_of_every_integer(scale, zero_point):
    low, table = lower_int_boundary.int_table(scale, zero_point)
    info = np.iinfo(np.int64)
    xs = np.concatenate([np.arange(-5000, 5000), [info.min, info.min + 1, -2 ** 40, 2 ** 31, 2 ** 40, info.max]])
    want = fixedpoint.quantize(xs.astype(np.float32), scale, zero_point)
    got = table[np.clip(xs, low, low + len(table) - 1) - low]
    np.testing.assert_array_equal(got, want)
    assert len(table) <= 2 or (table[0] in (-128, 127) and table[-1] in (-128, 127))


def test_table_longer_than_the_limit_is_not_built():
    assert lower_int_boundary.int_table(lower_int_boundary.MAX_TABLE / 250, 0) is None   # 4096+ integers unsaturated
    assert lower_int_boundary.int_table(lower_int_boundary.MAX_TABLE / 260, 0) is not None


def _quantized(cast_dtype: DType, scale: float) -> Graph:
    g = Graph(name="tokens", stage=Stage.QUANTIZED)
    g.add_input("ids", TensorType((2, 3), DType.INT64))
    g.add_input("mask", TensorType((2, 3), cast_dtype))
    table = g.add_constant("table", np.random.default_rng(0).standard_normal((7, 4)).astype(np.float32))
    g.add_node(ops.Gather(axis=0), [table, "ids"], "gather")
    g.add_node(ops.Quantize(), ["gather"], "gather_q", outputs=["emb"],
               out_types=[TensorType((2, 3, 4), DType.INT8, QuantParams(0.02, -5))])
    g.add_node(ops.Cast(DType.FLOAT32), ["mask"], "cast")
    g.add_node(ops.Quantize(), ["cast"], "cast_q", outputs=["m"],
               out_types=[TensorType((2, 3), DType.INT8, QuantParams(scale, -128))])
    g.outputs = ["emb", "m"]
    return g


def test_lowered_graph_and_its_values():
    g = _quantized(DType.INT64, 1 / 255)
    after = lower_integer(g)
    assert body(after)[0].startswith("%emb = Gather(%table_q, %ids) {axis=0} : i8[2x3x4]")
    assert body(after)[1].startswith("%m = IntLut(%mask, %cast_q_table) {low=0} : i8[2x3]")
    feeds = {"ids": np.array([[0, 6, -7], [3, -1, 3]]), "mask": np.array([[1, 0, 1], [5, -3, 1]])}
    got = run_integer(after, feeds)
    table = g.constants["table"]
    np.testing.assert_array_equal(got["emb"], fixedpoint.quantize(np.take(table, feeds["ids"], axis=0), 0.02, -5))
    np.testing.assert_array_equal(got["m"], fixedpoint.quantize(feeds["mask"].astype(np.float32), 1 / 255, -128))


def test_bool_mask_and_a_table_over_the_limit():
    assert body(lower_integer(_quantized(DType.BOOL, 1 / 255)))[1].startswith("%m = IntLut(%mask,")
    lines = body(lower_integer(_quantized(DType.INT32, 100.0)))   # 25500 integers unsaturated: float stays
    assert any(line.startswith("%cast = Cast(%mask)") for line in lines)
    assert not any("IntLut" in line for line in lines)


def test_int_lut_infers_and_checks():
    x, t = TensorType((3,), DType.INT64), TensorType((4,), DType.INT8, QuantParams(0.1, 0))
    assert IntLut(low=-2).infer([x, t])[0].shape == (3,)
    with pytest.raises(Exception, match="int32, int64 or bool"):
        IntLut().infer([TensorType((3,), DType.FLOAT32), t])
