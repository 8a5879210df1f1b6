"""The llvm float Softmax on x86-vnni, value for value: its rows equal vecmath.exp_fma's exp(x - max),
summed in vecmath's order, each divided by the sum as one float32 division, emulated here in numpy
(the kernel's vectors take that quotient by Markstein's correction from 1 / sum; rows with tiny
probabilities, masked columns, a row length with a scalar tail). And vecmath.divide_by in float32
lanes: the float32 quotient bit for bit over the domain the Softmax uses it on."""
import ctypes
import subprocess

import numpy as np
import pytest

from qcomp.codegen.llvm import emit, vecmath
from qcomp.codegen.llvm.compile import compile_object
from qcomp.codegen.llvm.irgen import F32, I64, PTR, VOID, Module, c64, loop
from qcomp.codegen.llvm.kernels_float_vec import SOFTMAX_TINY
from qcomp.ir import DType, Graph, Stage, TensorType, ops, verify
from qcomp.target import get_target, host_support
from tests.backends.llvm.test_float_vec import poly  # noqa: F401  (the exp_fma library fixture)

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


def test_softmax_equals_exp_fma_over_the_emulated_sum(poly, tmp_path):  # noqa: F811
    from qcomp.runtime.llvm import Runner
    rng = np.random.default_rng(19)
    rows, n = 48, 200                                        # 12 vectors and a tail of 8
    x = (rng.standard_normal((rows, n)) * 3).astype(np.float32)
    for r in range(16):                                      # probabilities in (2^-126, 2^-100): divided
        cols = rng.choice(n, 20, replace=False)
        x[r, cols] -= rng.uniform(70, 86, 20).astype(np.float32)
    x[16:24, 96:] -= 10000.0                                 # masked columns: 0
    g = Graph("softmax_exact", Stage.TARGET)
    g.add_input("x", TensorType((rows, n), DType.FLOAT32))
    g.add_node(ops.Softmax(1), ["x"], "y", outputs=["y"])
    g.outputs = ["y"]
    emit(verify(g), VNNI, tmp_path)
    got = Runner(tmp_path / "model.so", num_threads=1).run({"x": x})["y"]
    e = poly("exp_fma", (x - x.max(-1, keepdims=True)).ravel()).reshape(rows, n)
    tiny = (e > 0) & (e < SOFTMAX_TINY)
    assert tiny[:16].any(axis=1).all() and (e[16:24, 96:] == 0).all()
    want = e / _vecmath_sum(e)[:, None]
    assert got.view(np.uint32).tolist() == want.view(np.uint32).tolist()


def test_divide_by_float32_is_the_correctly_rounded_quotient(tmp_path):
    """divide_by on <16 x float>: a in [2^-100, 1] (also 0), d in [1, 2^24], mantissas near 1 and 2."""
    mod = Module("divide_by_f32_test", VNNI.triple)
    f, b = mod.function("div", VOID, [PTR, PTR, PTR, I64], internal=False)
    a, d, y, n = f.args
    vt = vecmath.vec(L)
    with loop(b, n, "i") as i:
        at = b.mul(i, c64(L))
        dv = vecmath.vload(b, d, at, vt)
        r = b.fdiv(vecmath.const(vt, 1.0), dv)
        vecmath.vstore(b, vecmath.divide_by(mod, b, vecmath.vload(b, a, at, vt), dv, r), y, at)
    b.ret_void()
    (tmp_path / "m.ll").write_text(str(mod.m))
    compile_object(tmp_path / "m.ll", tmp_path / "m.o", VNNI)
    subprocess.run(["gcc", "-shared", "-o", tmp_path / "m.so", tmp_path / "m.o"], check=True)
    fn = ctypes.CDLL(str(tmp_path / "m.so")).div
    fn.argtypes = [ctypes.c_void_p] * 3 + [ctypes.c_int64]
    rng = np.random.default_rng(7)
    m = L * 40_000
    av = (rng.uniform(1, 2, m) * np.exp2(rng.integers(-100, 0, m))).astype(np.float32)
    dv = (rng.uniform(1, 2, m) * np.exp2(rng.integers(0, 24, m))).astype(np.float32)
    near = (1.0 + rng.integers(0, 2 ** 12, m // 3) * 2.0 ** -23).astype(np.float32)
    av[: m // 3], dv[m // 3: 2 * (m // 3)] = near, np.float32(2.0) - near + np.float32(2.0 ** -23)
    av[-L:] = 0.0
    out = np.empty(m, np.float32)
    fn(av.ctypes.data, dv.ctypes.data, out.ctypes.data, m // L)
    assert out.view(np.uint32).tolist() == (av / dv).view(np.uint32).tolist()
