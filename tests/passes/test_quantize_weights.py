import numpy as np

from qcomp.ir import DType, Graph, TensorType, ops, verify
from qcomp.passes.lower_integer import lower_integer
from qcomp.passes.quantize_weights import quantize_weights
from qcomp.ref import run_float, run_integer

from .helpers import body


def mlp() -> Graph:
    rng = np.random.default_rng(0)
    g = Graph()
    g.add_input("x", TensorType((3, 16), DType.FLOAT32))
    w = g.add_constant("w", rng.standard_normal((8, 16)).astype(np.float32))
    b = g.add_constant("b", rng.standard_normal(8).astype(np.float32))
    g.add_node(ops.Dense(act_min=0.0), ["x", w, b], "fc")
    g.add_input("k", TensorType((8, 5), DType.FLOAT32))
    g.add_node(ops.MatMul(), ["fc", "k"], "mm")
    g.outputs = ["mm"]
    return g


def feeds():
    rng = np.random.default_rng(1)
    return {"x": rng.standard_normal((3, 16)).astype(np.float32), "k": rng.standard_normal((8, 5)).astype(np.float32)}


def test_weight_only_keeps_float_compute_behind_a_dequantize():
    g = mlp()
    q = verify(quantize_weights(g))
    assert body(q) == ["%w_dq = Dequantize(%w_q) : f32[8x16]",
                       "%fc = Dense(%x, %w_dq, %b) {act_min=0} : f32[3x8]",
                       "%mm = MatMul(%fc, %k) : f32[3x5]"]
    assert q.types["w_q"].dtype is DType.INT8 and q.types["w_q"].quant.axis == 0
    out, ref = run_integer(lower_integer(q), feeds())["mm"], run_float(g, feeds())["mm"]
    assert np.abs(out - ref).max() < 0.05 * np.abs(ref).max()


def test_dynamic_quantizes_dense_and_matmul():
    g = mlp()
    q = verify(quantize_weights(g, dynamic=True))
    assert [n.kind for n in q.nodes] == ["DynamicDense", "DynamicMatMul"]
    out, ref = run_integer(lower_integer(q), feeds())["mm"], run_float(g, feeds())["mm"]
    assert np.abs(out - ref).max() < 0.05 * np.abs(ref).max()


def test_wrong_weight_scale_does_not_match():
    g = mlp()
    q = quantize_weights(g)
    qp = q.types["w_q"].quant
    q.types["w_q"] = TensorType(q.types["w_q"].shape, DType.INT8, type(qp)(qp.scale * 2, 0, axis=0))
    out, ref = run_integer(lower_integer(q), feeds())["mm"], run_float(g, feeds())["mm"]
    assert np.abs(out - ref).max() > 0.3 * np.abs(ref).max()


def test_skip_keeps_a_node_float():
    q = quantize_weights(mlp(), dynamic=True, skip=frozenset({"mm"}))
    assert [n.kind for n in q.nodes] == ["DynamicDense", "MatMul"]
