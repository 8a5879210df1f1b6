"""The llvm float Softmax on x86-vnni, value for value: its rows equal vecmath_exp.exp_table's exp(x - max),
summed in vecmath's order, each divided by the sum as one float32 division, emulated here in numpy
(rows with probabilities down to 2^-126 whose quotients are subnormal, masked columns, a row length
with a scalar tail): the kernel's arithmetic is exactly the one its docstring states."""
import numpy as np
import pytest

from qcomp.codegen.llvm import emit
from qcomp.ir import DType, Graph, Stage, TensorType, ops, verify
from qcomp.target import get_target, host_support
from tests.backends.llvm.test_float_vec import poly  # noqa: F401  (the exp library fixture)

VNNI = get_target("x86-vnni")
pytestmark = pytest.mark.skipif(not host_support(VNNI).can_run, reason=f"target x86-vnni: {host_support(VNNI).why}")
L = 16


def _vecmath_sum(e: np.ndarray) -> np.ndarray:
    """Each row's float32 sum in vecmath's order: 16 lane-wise partial sums, a halving tree, then
    the scalar tail's own sum (from +0.0, ascending) added last."""
    full = e.shape[1] // L * L
    lanes = np.zeros((e.shape[0], L), np.float32)
    for j in range(0, full, L):
        lanes = lanes + e[:, j:j + L]
    while lanes.shape[1] > 1:
        half = lanes.shape[1] // 2
        lanes = lanes[:, :half] + lanes[:, half:]
    tail = np.zeros(e.shape[0], np.float32)
    for j in range(full, e.shape[1]):
        tail = tail + e[:, j]
    return lanes[:, 0] + tail


def test_softmax_equals_exp_table_over_the_emulated_sum(poly, tmp_path):  # noqa: F811
    from qcomp.runtime.llvm import Runner
    rng = np.random.default_rng(19)
    rows, n = 48, 200                                        # 12 vectors and a tail of 8
    x = (rng.standard_normal((rows, n)) * 3).astype(np.float32)
    for r in range(16):                                      # probabilities in (2^-126, 2^-100)
        cols = rng.choice(n, 20, replace=False)
        x[r, cols] -= rng.uniform(70, 86, 20).astype(np.float32)
    x[16:24, 96:] -= 10000.0                                 # masked columns: 0
    g = Graph("softmax_exact", Stage.TARGET)
    g.add_input("x", TensorType((rows, n), DType.FLOAT32))
    g.add_node(ops.Softmax(1), ["x"], "y", outputs=["y"])
    g.outputs = ["y"]
    emit(verify(g), VNNI, tmp_path)
    got = Runner(tmp_path / "model.so", num_threads=1).run({"x": x})["y"]
    e = poly("exp_table", (x - x.max(-1, keepdims=True)).ravel()).reshape(rows, n)
    tiny = (e > 0) & (e < 2.0 ** -100)
    assert tiny[:16].any(axis=1).all() and (e[16:24, 96:] == 0).all()
    want = e / _vecmath_sum(e)[:, None]
    assert got.view(np.uint32).tolist() == want.view(np.uint32).tolist()
