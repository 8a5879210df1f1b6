"""Nearest Resize on int8 (not in the shared op-case table): for every coordinate and nearest mode
the compiled C equals run_integer exactly (both take their index arithmetic from qcomp/ir/resize.py,
which the float reference's tests check against onnxruntime)."""
from __future__ import annotations

import numpy as np
import pytest

from qcomp.codegen.c import emit
from qcomp.ir import DType, Graph, QuantParams, Stage, TensorType, ops, verify
from qcomp.ref import run_integer
from qcomp.runtime.c import load
from qcomp.target import get_target, host_support

from opcases.batch import run_together

MODES = ["half_pixel", "pytorch_half_pixel", "asymmetric", "align_corners", "tf_half_pixel_for_nn",
         "half_pixel_symmetric"]
NEAREST = ["round_prefer_floor", "round_prefer_ceil", "floor", "ceil"]


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
    graphs = [_resize_graph(mode, nearest) for nearest in NEAREST]

    def run(g, feeds):
        out = tmp_path / g.name
        return load(out, emit(g, target, out), target).run(dict(feeds))

    # the four nearest modes in one build (their disjoint union, tests/opcases/batch.py)
    for nearest, g, got in zip(NEAREST, graphs, run_together(run, [(g, {"x": x}) for g in graphs])):
        np.testing.assert_array_equal(got["y"], run_integer(g, {"x": x})["y"], err_msg=f"{mode}/{nearest}")
