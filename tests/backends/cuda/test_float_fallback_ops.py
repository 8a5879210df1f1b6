"""The float32 kernels of float-fallback regions (emit_float_fallback.py, emit_float_products.py)
through --emulate against the float reference, one build of float_fallback_graph for all of them:
exact where the kernel follows the reference's order of operations, within a few float32 ulps where
a transcendental decides, within float32 rounding for the products (float regions are not
bit-exact across compilers, ARCHITECTURE.md section 3; the llvm float kernels' tests use the same
bounds, tests/backends/llvm/test_llvm_float_ops.py)."""
from __future__ import annotations

import numpy as np
import pytest

from cuda_harness import emulation_skip, extra_graphs, run_cuda_emulated
from float_fallback_graph import CLOSE, EXACT, ULPS
from qcomp.codegen.cuda import check
from qcomp.ir import DType, Graph, Stage, TensorType, ops, verify
from qcomp.ref import run_integer
from qcomp.target import get_target

pytestmark = pytest.mark.skipif(emulation_skip() is not None, reason=str(emulation_skip()))


@pytest.fixture(scope="module")
def runs():
    graph, feeds = extra_graphs()["float_fallback"]
    return run_cuda_emulated(graph, feeds), run_integer(graph, feeds)


@pytest.mark.parametrize("name", EXACT)
def test_float_kernel_equals_reference(runs, name):
    got, want = runs[0][name], runs[1][name]
    assert got.dtype == np.float32 and got.shape == want.shape
    assert want.size == 1 or np.unique(want).size > 5   # rmax_all: the one maximum
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("name", ULPS)
def test_transcendental_within_a_few_ulp(runs, name):
    got, want = runs[0][name], runs[1][name]
    assert np.unique(want).size > 100
    np.testing.assert_array_max_ulp(got, want, maxulp=ULPS[name])


@pytest.mark.parametrize("name", CLOSE)
def test_float_products_agree_to_float32_rounding(runs, name):
    got, want = runs[0][name], runs[1][name]
    assert got.shape == want.shape and np.unique(want).size > 10
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-5 * np.abs(want).max())


def test_unsupported_float_forms_are_refused_by_name():
    """A Gelu approximation other than none / tanh: one problem naming the node and the attribute."""
    g = Graph("refused", Stage.TARGET)
    g.add_input("x", TensorType((4,), DType.FLOAT32))
    g.add_node(ops.Gelu("erf_fast"), ["x"], "gelu_node")
    g.outputs = ["gelu_node"]
    problems = check(verify(g), get_target("cuda"))
    assert [(p.node, p.op) for p in problems] == [("gelu_node", "Gelu")] and "approximate" in problems[0].reason
