"""Nearest Resize on int8 (not in the shared op-case table): the backend's index tables agree with
the reference's formulas for every mode, and the compiled C equals run_integer exactly."""
from __future__ import annotations

import itertools

import numpy as np
import pytest

from qcomp.codegen.c import emit
from qcomp.codegen.c.resize_index import nearest_source_index
from qcomp.ir import DType, Graph, QuantParams, Stage, TensorType, ops, verify
from qcomp.ref import run_integer
from qcomp.ref.float_resize import nearest_index, original_coords
from qcomp.runtime.c import load
from qcomp.target import get_target, host_support

MODES = ["half_pixel", "pytorch_half_pixel", "asymmetric", "align_corners", "tf_half_pixel_for_nn",
         "half_pixel_symmetric"]
NEAREST = ["round_prefer_floor", "round_prefer_ceil", "floor", "ceil"]
AXES = [(5, 11, 11 / 5), (7, 4, 4 / 7), (3, 6, 2.0), (6, 3, 0.5), (4, 1, 0.25), (1, 3, 3.0)]


@pytest.mark.parametrize("mode,nearest", list(itertools.product(MODES, NEAREST)))
def test_index_tables_equal_the_reference(mode, nearest):
    for n_in, n_out, scale in AXES:
        want = nearest_index(original_coords(mode, n_in, n_out, scale), nearest, n_in)
        np.testing.assert_array_equal(nearest_source_index(mode, nearest, n_in, n_out, scale), want,
                                      err_msg=f"{mode}/{nearest} {n_in}->{n_out}")


def _resize_graph(mode: str, nearest: str) -> Graph:
    g = Graph(name=f"resize_{mode}_{nearest}", stage=Stage.TARGET)
    q = QuantParams(0.05, 3)
    g.add_input("x", TensorType((1, 5, 7, 3), DType.INT8, q))
    op = ops.Resize(sizes=(1, 11, 4, 3), scales=(1.0, 11 / 5, 4 / 7, 1.0), mode="nearest",
                    coordinate_transformation_mode=mode, nearest_mode=nearest)
    g.add_node(op, ["x"], "resize", outputs=["y"], out_types=[TensorType((1, 11, 4, 3), DType.INT8, q)])
    g.outputs.append("y")
    return verify(g)


@pytest.mark.parametrize("mode", MODES)
def test_compiled_resize_equals_run_integer(mode, tmp_path):
    target = get_target("dsp-c")
    if not host_support(target).can_run:
        pytest.skip(f"target dsp-c: {host_support(target).why}")
    x = np.random.default_rng(0).integers(-128, 128, (1, 5, 7, 3)).astype(np.int8)
    for nearest in ("round_prefer_floor", "ceil"):
        g = _resize_graph(mode, nearest)
        out = tmp_path / nearest
        got = load(out, emit(g, target, out), target).run({"x": x})["y"]
        np.testing.assert_array_equal(got, run_integer(g, {"x": x})["y"], err_msg=f"{mode}/{nearest}")
