"""Float kernels through --emulate, bit-exact to qcomp/ref: Gather (token ids, negative index), Cast,
float32 Add (fused clamp) / Sub / Mul / Div with broadcasting, LayerNorm (float64 inside), nearest
Resize (cuda_harness.extra_graphs). Softmax sums in index order with the device expf where numpy sums
pairwise: it is allowed a few float32 ulps (float-fallback regions may differ, ARCHITECTURE.md 3)."""
from __future__ import annotations

import numpy as np
import pytest

from cuda_harness import emulation_skip, extra_graphs, run_cuda_emulated
from qcomp.ref import run_integer


@pytest.mark.skipif(emulation_skip() is not None, reason=str(emulation_skip()))
@pytest.mark.parametrize("name", ["float_ops", "resize"])
def test_extra_graph_bit_exact(name):
    graph, feeds = extra_graphs()[name]
    want = run_integer(graph, feeds)
    got = run_cuda_emulated(graph, feeds)
    for key, value in want.items():
        assert got[key].dtype == value.dtype and np.unique(value).size > 8
        if key == "soft":
            np.testing.assert_array_max_ulp(got[key], value, maxulp=4)
        else:
            np.testing.assert_array_equal(got[key], value, err_msg=f"{name}: {key}")
