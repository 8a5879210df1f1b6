"""The kernels whose semantics have subtle corners (pool ceil_mode and count_include_pad, Resize
coordinate transforms and tie rules, ConvTranspose output_padding, Gelu) against onnxruntime itself.

Each case is one ONNX node run by onnxruntime on NCHW data, and the IR op run by qcomp.ref on the
same data (transposed to NHWC for the window ops; Resize is layout-free and runs on NCHW directly).
"""
from __future__ import annotations

import numpy as np
import pytest

from qcomp.ir import ops

from .util import run1

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from onnx import TensorProto, helper  # noqa: E402


def _ort(node, inputs: dict[str, np.ndarray], opset: int, inits=()) -> np.ndarray:
    vi = [helper.make_tensor_value_info(k, TensorProto.FLOAT, v.shape) for k, v in inputs.items()]
    out = helper.make_tensor_value_info(node.output[0], TensorProto.FLOAT, None)
    graph = helper.make_graph([node], "g", vi, [out], initializer=list(inits))
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.ir_version = 9
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    sess = ort.InferenceSession(model.SerializeToString(), opts, providers=["CPUExecutionProvider"])
    return sess.run(None, inputs)[0]


NHWC, NCHW = (0, 2, 3, 1), (0, 3, 1, 2)

POOLS = [  # kind, NCHW shape, kernel, strides, pads (ONNX order t, l, b, r), dilations, ceil, include_pad
    ("AveragePool", (1, 3, 10, 11), (3, 3), (2, 2), (1, 1, 1, 1), (1, 1), True, True),
    ("AveragePool", (1, 5, 11, 8), (3, 2), (3, 3), (0, 1, 1, 0), (1, 1), True, False),
    ("AveragePool", (1, 5, 11, 8), (3, 2), (3, 3), (0, 1, 1, 0), (1, 1), True, True),
    ("AveragePool", (1, 2, 7, 9), (2, 2), (2, 2), (1, 1, 1, 1), (1, 1), False, True),
    ("AveragePool", (1, 3, 12, 13), (3, 3), (1, 2), (2, 2, 2, 2), (2, 2), False, True),
    ("MaxPool", (1, 3, 10, 9), (2, 3), (2, 2), (1, 0, 0, 1), (3, 2), True, False),
    ("MaxPool", (1, 13, 7, 9), (3, 3), (2, 2), (1, 1, 1, 1), (1, 1), True, False),
]


@pytest.mark.parametrize("case", POOLS, ids=lambda c: f"{c[0]}_{'x'.join(map(str, c[1]))}_ceil{c[6]}_pad{c[7]}")
def test_pool_matches_onnxruntime(case, rng):
    kind, shape, kernel, strides, pads, dil, ceil, include_pad = case
    x = rng.normal(size=shape).astype(np.float32)
    attrs = dict(kernel_shape=kernel, strides=strides, pads=pads, ceil_mode=int(ceil), dilations=dil)
    if kind == "AveragePool":
        attrs["count_include_pad"] = int(include_pad)
        op = ops.AvgPool2D(kernel=kernel, strides=strides, pads=pads, dilations=dil, ceil_mode=ceil,
                           count_include_pad=include_pad)
    else:
        op = ops.MaxPool2D(kernel=kernel, strides=strides, pads=pads, dilations=dil, ceil_mode=ceil)
    want = _ort(helper.make_node(kind, ["x"], ["y"], **attrs), {"x": x}, opset=19)
    got = run1(op, np.ascontiguousarray(x.transpose(NHWC))).transpose(NCHW)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


RESIZES = [  # NCHW shape, scales or None, sizes or None, mode, ctm, nearest_mode
    ((1, 2, 5, 7), (1, 1, 2.0, 2.0), None, "nearest", "half_pixel", "round_prefer_floor"),
    ((1, 2, 5, 7), (1, 1, 1.7, 0.6), None, "nearest", "half_pixel", "round_prefer_ceil"),
    ((1, 2, 8, 8), (1, 1, 0.5, 0.5), None, "nearest", "half_pixel", "round_prefer_floor"),
    ((1, 2, 8, 8), (1, 1, 0.5, 0.5), None, "nearest", "half_pixel", "round_prefer_ceil"),
    ((1, 2, 5, 7), (1, 1, 2.0, 2.0), None, "nearest", "asymmetric", "round_prefer_floor"),
    ((1, 2, 5, 7), (1, 1, 2.0, 2.0), None, "nearest", "asymmetric", "round_prefer_ceil"),
    ((1, 3, 6, 5), None, (1, 3, 13, 4), "nearest", "asymmetric", "floor"),
    ((1, 3, 6, 5), None, (1, 3, 13, 4), "nearest", "asymmetric", "ceil"),
    ((1, 3, 6, 5), None, (1, 3, 9, 11), "nearest", "align_corners", "round_prefer_floor"),
    ((1, 3, 6, 5), None, (1, 3, 1, 11), "nearest", "pytorch_half_pixel", "round_prefer_floor"),
    ((1, 3, 6, 5), None, (1, 3, 9, 10), "nearest", "tf_half_pixel_for_nn", "round_prefer_floor"),
    ((1, 2, 5, 7), (1, 1, 2.0, 2.0), None, "linear", "half_pixel", ""),
    ((1, 2, 5, 7), (1, 1, 1.7, 0.6), None, "linear", "half_pixel", ""),
    ((1, 3, 6, 5), None, (1, 3, 9, 11), "linear", "align_corners", ""),
    ((1, 3, 6, 5), None, (1, 3, 13, 4), "linear", "asymmetric", ""),
    ((1, 3, 6, 5), None, (1, 3, 1, 11), "linear", "pytorch_half_pixel", ""),
    ((1, 3, 6, 5), None, (1, 3, 9, 7), "linear", "half_pixel_symmetric", ""),
]


@pytest.mark.parametrize("case", RESIZES, ids=lambda c: f"{c[3]}_{c[4]}_{c[5]}_{c[1] or c[2]}")
def test_resize_matches_onnxruntime(case, rng):
    shape, scales, sizes, mode, ctm, nearest_mode = case
    x = rng.normal(size=shape).astype(np.float32)
    attrs = dict(mode=mode, coordinate_transformation_mode=ctm)
    if nearest_mode:
        attrs["nearest_mode"] = nearest_mode
    if scales is not None:
        inits = [helper.make_tensor("scales", TensorProto.FLOAT, [4], scales)]
        node = helper.make_node("Resize", ["x", "", "scales"], ["y"], **attrs)
        sizes = tuple(int(np.floor(d * np.float32(s))) for d, s in zip(shape, scales))
        ir_scales = tuple(float(np.float32(s)) for s in scales)
    else:
        inits = [helper.make_tensor("sizes", TensorProto.INT64, [4], sizes)]
        node = helper.make_node("Resize", ["x", "", "", "sizes"], ["y"], **attrs)
        ir_scales = tuple(float(np.float32(o) / np.float32(i)) for o, i in zip(sizes, shape))
    want = _ort(node, {"x": x}, opset=19, inits=inits)
    op = ops.Resize(sizes=sizes, scales=ir_scales, mode=mode, coordinate_transformation_mode=ctm,
                    nearest_mode=nearest_mode or "round_prefer_floor")
    got = run1(op, x)
    assert got.shape == want.shape
    if mode == "nearest":
        np.testing.assert_array_equal(got, want)
    else:
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("strides,pads,dil,out_pad,group", [
    ((2, 2), (1, 1, 1, 1), (1, 1), (1, 1), 1),
    ((2, 3), (0, 1, 2, 0), (2, 2), (1, 2), 1),
    ((2, 2), (1, 0, 0, 1), (1, 1), (0, 0), 3),
])
def test_conv_transpose_matches_onnxruntime(strides, pads, dil, out_pad, group, rng):
    c, o, k = 6, 9, (3, 2)
    x = rng.normal(size=(1, c, 5, 4)).astype(np.float32)
    w_onnx = rng.normal(size=(c, o // group, *k)).astype(np.float32)  # ONNX: (C, O/group, KH, KW)
    b = rng.normal(size=o).astype(np.float32)
    node = helper.make_node("ConvTranspose", ["x", "w", "b"], ["y"], strides=strides, pads=pads, dilations=dil,
                            output_padding=out_pad, group=group)
    inits = [helper.make_tensor("w", TensorProto.FLOAT, w_onnx.shape, w_onnx.reshape(-1)),
             helper.make_tensor("b", TensorProto.FLOAT, [o], b)]
    want = _ort(node, {"x": x}, opset=17, inits=inits)
    # IR weight w[O, KH, KW, C/group]: o = g*Og + j reads w_onnx[g*Cg + c, j]
    cg, og = c // group, o // group
    w_ir = w_onnx.reshape(group, cg, og, *k).transpose(0, 2, 3, 4, 1).reshape(o, *k, cg)
    op = ops.ConvTranspose2D(strides=strides, pads=pads, dilations=dil, group=group, output_padding=out_pad)
    got = run1(op, np.ascontiguousarray(x.transpose(NHWC)), w_ir, b, const=(1, 2)).transpose(NCHW)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_matches_onnxruntime(approximate, rng):
    x = (rng.normal(size=(4, 33)) * 4).astype(np.float32)
    want = _ort(helper.make_node("Gelu", ["x"], ["y"], approximate=approximate), {"x": x}, opset=20)
    np.testing.assert_allclose(run1(ops.Gelu(approximate=approximate), x), want, rtol=1e-5, atol=1e-6)
