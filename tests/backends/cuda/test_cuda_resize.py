"""Nearest Resize (not in the shared op-case table yet) on int8 through --emulate, bit-exact to the
integer reference, for every coordinate transform and nearest mode, up- and down-sampling."""
from __future__ import annotations

import numpy as np
import pytest

from cuda_harness import emulation_skip, run_cuda_emulated
from qcomp.ir import DType, Graph, QuantParams, Stage, TensorType, ops
from qcomp.ref import run_integer

TRANSFORMS = ["half_pixel", "pytorch_half_pixel", "asymmetric", "align_corners", "tf_half_pixel_for_nn",
              "half_pixel_symmetric"]
NEAREST = ["round_prefer_floor", "round_prefer_ceil", "floor", "ceil"]


@pytest.mark.skipif(emulation_skip() is not None, reason=str(emulation_skip()))
@pytest.mark.parametrize("transform", TRANSFORMS)
def test_nearest_resize_bit_exact(transform):
    rng = np.random.default_rng(0)
    q = QuantParams(0.1, 3)
    for nearest in NEAREST:
        g = Graph(name="resize", stage=Stage.TARGET)
        g.add_input("x", TensorType((1, 5, 7, 3), DType.INT8, q))
        sizes, scales = (1, 9, 4, 3), (1.0, 9 / 5, 4 / 7, 1.0)
        g.add_node(ops.Resize(sizes, scales, "nearest", transform, nearest), ["x"], "up_down",
                   out_types=[TensorType(sizes, DType.INT8, q)])
        g.outputs = ["up_down"]
        x = rng.integers(-128, 128, size=(1, 5, 7, 3)).astype(np.int8)
        want = run_integer(g, {"x": x})["up_down"]
        got = run_cuda_emulated(g, {"x": x})["up_down"]
        assert got.dtype == np.int8
        np.testing.assert_array_equal(got, want, err_msg=f"{transform} {nearest}")
