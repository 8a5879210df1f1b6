"""Nearest Resize on x86-vnni: a gather map (tables.py) per coordinate transform and rounding,
equal to run_integer on int8 and float32 values; linear Resize of float32 values (the float-fallback
kernel) equal to it too, and of int8 values refused at build."""
from __future__ import annotations

import numpy as np
import pytest

from qcomp.codegen.llvm import emit
from qcomp.errors import UnsupportedModelError
from qcomp.ir import DType, Graph, QuantParams, Stage, TensorType, ops, verify
from qcomp.ref import run_integer
from qcomp.target import get_target, host_support

VNNI = get_target("x86-vnni")
MODES = ["half_pixel", "pytorch_half_pixel", "asymmetric", "align_corners", "tf_half_pixel_for_nn",
         "half_pixel_symmetric"]
NEAREST = ["round_prefer_floor", "round_prefer_ceil", "floor", "ceil"]


def resize_graph(dtype: DType, mode: str = "nearest", pairs=(("half_pixel", "round_prefer_floor"),)) -> Graph:
    """One Resize per (transform, rounding) pair, all of x (1, 5, 7, 3) -> (1, 11, 4, 3): upsampling
    H by 11/5 and downsampling W by 4/7, so every mode picks different rows and columns."""
    g = Graph(name="resize", stage=Stage.TARGET)
    q = QuantParams(0.05, 3) if dtype is DType.INT8 else None
    g.add_input("x", TensorType((1, 5, 7, 3), dtype, q))
    for i, (transform, nearest) in enumerate(pairs):
        op = ops.Resize(sizes=(1, 11, 4, 3), scales=(1.0, 11 / 5, 4 / 7, 1.0), mode=mode,
                        coordinate_transformation_mode=transform, nearest_mode=nearest)
        g.add_node(op, ["x"], f"resize_{transform}_{nearest}", outputs=[f"y{i}"],
                   out_types=[TensorType((1, 11, 4, 3), dtype, q)])
        g.outputs.append(f"y{i}")
    return verify(g)


@pytest.mark.skipif(not host_support(VNNI).can_run, reason=f"target x86-vnni: {host_support(VNNI).why}")
@pytest.mark.parametrize("dtype", [DType.INT8, DType.FLOAT32], ids=["int8", "float32"])
def test_every_mode_equals_run_integer(dtype, tmp_path):
    from qcomp.runtime.llvm import Runner
    pairs = [(m, n) for m in MODES for n in NEAREST]
    g = resize_graph(dtype, pairs=pairs)
    rng = np.random.default_rng(0)
    x = (rng.integers(-128, 128, (1, 5, 7, 3)).astype(np.int8) if dtype is DType.INT8
         else rng.standard_normal((1, 5, 7, 3)).astype(np.float32))
    emit(g, VNNI, tmp_path)
    got, want = Runner(tmp_path / "model.so").run({"x": x}), run_integer(g, {"x": x})
    distinct = {want[f"y{i}"].tobytes() for i in range(len(pairs))}
    assert len(distinct) >= 6, "the modes should pick different source pixels"
    for i, (m, n) in enumerate(pairs):
        np.testing.assert_array_equal(got[f"y{i}"], want[f"y{i}"], err_msg=f"{m}/{n}")


@pytest.mark.skipif(not host_support(VNNI).can_run, reason=f"target x86-vnni: {host_support(VNNI).why}")
@pytest.mark.parametrize("mode", ["half_pixel", "align_corners", "asymmetric"])
def test_linear_float_resize_equals_run_integer(mode, tmp_path):
    """Linear Resize (a float-fallback op): two resized axes, so one pass goes through the scratch."""
    from qcomp.runtime.llvm import Runner
    g = resize_graph(DType.FLOAT32, mode="linear", pairs=((mode, "round_prefer_floor"),))
    x = np.random.default_rng(1).standard_normal((1, 5, 7, 3)).astype(np.float32)
    emit(g, VNNI, tmp_path)
    got, want = Runner(tmp_path / "model.so").run({"x": x})["y0"], run_integer(g, {"x": x})["y0"]
    assert np.unique(want).size > 100
    np.testing.assert_array_equal(got, want)


def test_linear_resize_of_int8_is_refused_at_build(tmp_path):
    g = resize_graph(DType.INT8, mode="linear")
    with pytest.raises(UnsupportedModelError, match="node 'resize_half_pixel_round_prefer_floor' .Resize."):
        emit(g, VNNI, tmp_path)
