"""Op cases of the --quant dynamic fusions (qcomp/passes/fuse_dynamic.py): the unfused float graph
lowered for --quant dynamic, then fused by the pass (which must fuse it: a case that tests no fused
node fails here). naive.py computes the fused node from its docstring's formulas.

DynamicDenseGelu has no case here: its erf is the backend's Erf (the llvm backend's vecmath.erf_for(spec) is
within 2 ulp of the reference's, not equal), so no single expected value holds on every target;
tests/passes/test_fuse_dynamic.py checks it against the unfused nodes on each target instead.

DynamicAttention (passes/fuse_attention.py) has none for the same reason: its Softmax is the backend's
(vecmath.exp within 1 ulp of numpy's), and P's dynamic quantization carries that last bit into the context;
tests/passes/test_fuse_attention.py checks it against the unfused nodes on every llvm target."""
from __future__ import annotations

import numpy as np

from qcomp.ir import DType, Graph, TensorType, ops, verify
from qcomp.ir.qops_fused import DynamicDenseAddNorm
from qcomp.passes.fuse_dynamic import fuse_dynamic
from qcomp.passes.lower_integer import lower_integer
from qcomp.passes.quantize_weights import quantize_weights

F = DType.FLOAT32


def dense_add_norm(name: str, rng: np.random.Generator, x_shape, n_out: int, residual_first: bool = False):
    """x -> Dense -> Add(bias) -> Add(residual) -> LayerNorm (last axis): a BERT layer's output block."""
    g = Graph(name=name)
    g.add_input("x", TensorType(tuple(x_shape), F))
    g.add_input("r", TensorType((*x_shape[:-1], n_out), F))
    g.add_constant("w", (rng.standard_normal((n_out, x_shape[-1])) * 0.2).astype(np.float32))
    g.add_constant("b", np.zeros(n_out, np.float32))
    g.add_constant("bias", (rng.standard_normal((1, n_out)) * 0.3).astype(np.float32))
    g.add_constant("gamma", (1 + rng.standard_normal(n_out) * 0.2).astype(np.float32))
    g.add_constant("beta", (rng.standard_normal(n_out) * 0.2).astype(np.float32))
    g.add_node(ops.Dense(), ["x", "w", "b"], "d")
    g.add_node(ops.Add(), ["bias", "d"], "h")
    g.add_node(ops.Add(), ["r", "h"] if residual_first else ["h", "r"], "s")
    g.add_node(ops.LayerNorm(len(x_shape) - 1, 1e-12), ["s", "gamma", "beta"], "y")
    g.outputs = ["y"]
    lowered = verify(lower_integer(verify(quantize_weights(verify(g), dynamic=True))))
    fused = verify(fuse_dynamic(lowered))
    assert [type(n.op) for n in fused.nodes] == [DynamicDenseAddNorm], [n.kind for n in fused.nodes]
    feeds = {i: rng.standard_normal(g.types[i].shape).astype(np.float32) for i in g.inputs}
    return fused, feeds


def matmul_scale_add(name: str, rng: np.random.Generator, a_shape, b_shape, scale: float, mask_first: bool = False):
    """q -> MatMul(q, kt) -> Mul(scores, scale) -> Add(mask [1, 1, 1, S]): attention's scores before
    the Softmax, the mask a run-time input of 0 and -10000 entries."""
    from qcomp.ir.qops_fused import DynamicMatMulScaleAdd
    from qcomp.passes.fuse_dynamic_attention import fuse_dynamic_attention
    s = b_shape[-1]
    g = Graph(name=name)
    g.add_input("q", TensorType(tuple(a_shape), F))
    g.add_input("kt", TensorType(tuple(b_shape), F))
    g.add_input("mask", TensorType((1, 1, 1, s), F))
    g.add_constant("scale", np.asarray(scale, np.float32))
    g.add_node(ops.MatMul(), ["q", "kt"], "scores")
    g.add_node(ops.Mul(), ["scale", "scores"], "scaled")
    g.add_node(ops.Add(), ["mask", "scaled"] if mask_first else ["scaled", "mask"], "y")
    g.outputs = ["y"]
    lowered = verify(lower_integer(verify(quantize_weights(verify(g), dynamic=True))))
    fused = verify(fuse_dynamic_attention(lowered))
    assert [type(n.op) for n in fused.nodes] == [DynamicMatMulScaleAdd], [n.kind for n in fused.nodes]
    feeds = {"q": rng.standard_normal(a_shape).astype(np.float32),
             "kt": (rng.standard_normal(b_shape) * 2).astype(np.float32),
             "mask": np.where(rng.random((1, 1, 1, s)) < 0.3, -10000.0, 0.0).astype(np.float32)}
    return fused, feeds


def dense_split(name: str, rng: np.random.Generator, x_shape, n_out: int, parts: int, **clamp):
    """x -> `parts` Dense of n_out channels each (attention's query, key and value), each an output;
    merged by share_dynamic_input into one DynamicDenseSplit (qcomp/ir/qops_split.py)."""
    from qcomp.ir.qops_split import DynamicDenseSplit
    from qcomp.passes.share_dynamic_input import share_dynamic_input
    g = Graph(name=name)
    g.add_input("x", TensorType(tuple(x_shape), F))
    for p in range(parts):
        g.add_constant(f"w{p}", (rng.standard_normal((n_out, x_shape[-1])) * 0.2 * (p + 1)).astype(np.float32))
        g.add_constant(f"b{p}", (rng.standard_normal(n_out) * 0.3).astype(np.float32))
        g.add_node(ops.Dense(**clamp), ["x", f"w{p}", f"b{p}"], f"y{p}")
    g.outputs = [f"y{p}" for p in range(parts)]
    lowered = verify(lower_integer(verify(quantize_weights(verify(g), dynamic=True))))
    fused = verify(share_dynamic_input(lowered))
    assert [type(n.op) for n in fused.nodes] == [DynamicDenseSplit], [n.kind for n in fused.nodes]
    return fused, {"x": rng.standard_normal(x_shape).astype(np.float32)}
