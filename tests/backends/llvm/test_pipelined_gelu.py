"""DynamicDenseGelu with each row tile's GELU inside the next tile's depth loop (kernels_pipelined.py)
against the same chain unfused (DynamicDense, Add, Div, Erf, Add, Mul, Mul as separate llvm nodes),
bit for bit on x86-vnni, in shapes that reach every path: pipelined chunks of full blocks, a last
chunk with a channel tail (plain tiles), a tail row tile, a depth loop with steps after the unrolled
ones and with none, one and several tiles a job after the first, and a depth too short to pipeline."""
import math

import numpy as np
import pytest

from qcomp.ir import DType, Graph, TensorType, ops, verify
from qcomp.passes.fuse_dynamic import fuse_dynamic
from qcomp.passes.lower_integer import lower_integer
from qcomp.passes.quantize_weights import quantize_weights
from tests.opcases.targets import host_skip, run_x86_vnni

F = DType.FLOAT32


def _gelu_graph(shape, n: int) -> Graph:
    """x -> Dense -> bias Add -> Div(sqrt 2) -> Erf -> Add(1) -> Mul(h) -> Mul(0.5), for --quant dynamic."""
    rng = np.random.default_rng(0)
    g = Graph(name="gelu")
    g.add_input("x", TensorType(shape, F))
    g.add_constant("w", (rng.standard_normal((n, shape[-1])) * 0.1).astype(np.float32))
    g.add_constant("b", (rng.standard_normal(n) * 0.2).astype(np.float32))
    g.add_constant("bias", (rng.standard_normal(n) * 0.3).astype(np.float32))
    g.add_constant("sqrt2", np.asarray(math.sqrt(2.0), np.float32))
    g.add_constant("one", np.asarray(1.0, np.float32))
    g.add_constant("half", np.asarray(0.5, np.float32))
    g.add_node(ops.Dense(), ["x", "w", "b"], "d")
    g.add_node(ops.Add(), ["bias", "d"], "h")
    g.add_node(ops.Div(), ["h", "sqrt2"], "t")
    g.add_node(ops.Erf(), ["t"], "e")
    g.add_node(ops.Add(), ["e", "one"], "a")
    g.add_node(ops.Mul(), ["a", "h"], "m")
    g.add_node(ops.Mul(), ["half", "m"], "y")
    g.outputs = ["y"]
    return verify(lower_integer(verify(quantize_weights(verify(g), dynamic=True))))


@pytest.mark.parametrize("shape, n", [
    ((1, 100, 200), 117),   # 6 x 4 tiles, 2 a job, 50 steps (2 unrolled, 2 after); chunk 2: 5 live channels
    ((1, 40, 200), 48),     # 8 x 3 tiles, 3 and 2 a job, 50 steps
    ((2, 24, 96), 96),      # 8 x 3 tiles, 6 a job, 2 chunks of full blocks, 24 steps (1 unrolled, none after)
    ((1, 40, 64), 64),      # 16 steps < the tile's 24 vectors: plain tiles only
])
def test_pipelined_gelu_equals_the_unfused_chain(shape, n):
    why = host_skip("x86-vnni")()
    if why:
        pytest.skip(why)
    unfused = _gelu_graph(shape, n)
    fused = fuse_dynamic(unfused)
    assert [node.kind for node in fused.nodes] == ["DynamicDenseGelu"]
    x = np.random.default_rng(1).standard_normal(shape).astype(np.float32) * 2
    x.reshape(-1)[:7] = [0.0, -0.0, 1e-30, -1e-30, 60.0, -60.0, 3.0]
    got, want = run_x86_vnni(fused, {"x": x}), run_x86_vnni(unfused, {"x": x})
    assert got["y"].view(np.uint32).tolist() == want["y"].view(np.uint32).tolist()
