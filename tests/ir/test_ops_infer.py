"""Type inference of IR ops: shapes the ops promise, and clear errors when inputs disagree."""
import pytest

from qcomp.ir import DType, IRError, TensorType, ops

F = DType.FLOAT32


def t(*shape, dtype=F):
    return TensorType(shape, dtype)


def shapes(op, *ins):
    return [o.shape for o in op.infer(list(ins))]


@pytest.mark.parametrize("op, ins, out", [
    (ops.Conv2D(), [t(1, 28, 28, 1), t(8, 3, 3, 1), t(8)], (1, 26, 26, 8)),
    (ops.Conv2D(pads=(1, 1, 1, 1)), [t(1, 28, 28, 1), t(8, 3, 3, 1), t(8)], (1, 28, 28, 8)),
    (ops.Conv2D(strides=(2, 2), pads=(0, 0, 1, 1)), [t(1, 7, 7, 4), t(4, 3, 3, 4), t(4)], (1, 3, 3, 4)),
    (ops.Conv2D(dilations=(2, 2)), [t(1, 9, 9, 3), t(5, 3, 3, 3), t(5)], (1, 5, 5, 5)),
    (ops.Conv2D(group=13), [t(1, 5, 5, 13), t(13, 3, 3, 1), t(13)], (1, 3, 3, 13)),
    (ops.ConvTranspose2D(strides=(2, 2), pads=(1, 1, 1, 1), output_padding=(1, 1)),
     [t(1, 4, 4, 8), t(3, 3, 3, 8), t(3)], (1, 8, 8, 3)),
    (ops.Dense(), [t(2, 7, 16), t(5, 16), t(5)], (2, 7, 5)),
    (ops.MatMul(), [t(2, 1, 3, 4), t(5, 4, 6)], (2, 5, 3, 6)),
    (ops.MaxPool2D(kernel=(3, 3), strides=(2, 2), pads=(1, 1, 1, 1)), [t(1, 112, 112, 64)], (1, 56, 56, 64)),
    (ops.AvgPool2D(kernel=(2, 2), strides=(2, 2), ceil_mode=True), [t(1, 7, 7, 3)], (1, 4, 4, 3)),
    # ONNX: with ceil_mode the last window must start inside the input or the leading pad
    (ops.MaxPool2D(kernel=(2, 2), strides=(2, 2), pads=(0, 0, 1, 1), ceil_mode=True), [t(1, 4, 4, 1)], (1, 2, 2, 1)),
    (ops.MaxPool2D(kernel=(2, 2), strides=(2, 2), ceil_mode=True), [t(1, 5, 5, 1)], (1, 3, 3, 1)),
    (ops.ReduceMean(axes=(1, 2)), [t(1, 7, 7, 32)], (1, 1, 1, 32)),
    (ops.ReduceMax(axes=(1, 2), keepdims=False), [t(1, 7, 7, 32)], (1, 32)),
    (ops.Concat(axis=3), [t(1, 4, 4, 3), t(1, 4, 4, 5)], (1, 4, 4, 8)),
    (ops.Reshape(shape=(1, 48)), [t(1, 4, 4, 3)], (1, 48)),
    (ops.Transpose(perm=(0, 3, 1, 2)), [t(1, 4, 5, 3)], (1, 3, 4, 5)),
    (ops.Pad(pads=(0, 1, 2, 0, 0, 3, 4, 0)), [t(1, 4, 5, 3)], (1, 8, 11, 3)),
    (ops.Slice(starts=(0, 3, 0, 0), ends=(None, None, None, 2), steps=(1, -1, 2, 1)), [t(1, 4, 5, 3)], (1, 4, 3, 2)),
    (ops.Resize(sizes=(1, 8, 10, 3), scales=(1.0, 2.0, 2.0, 1.0)), [t(1, 4, 5, 3)], (1, 8, 10, 3)),
    (ops.Add(), [t(1, 4, 4, 3), t(3)], (1, 4, 4, 3)),
    (ops.Softmax(axis=1), [t(2, 10)], (2, 10)),
    (ops.LayerNorm(axis=2, epsilon=1e-12), [t(1, 128, 384), t(384), t(384)], (1, 128, 384)),
    (ops.Gather(axis=0), [t(1000, 64), t(1, 128, dtype=DType.INT64)], (1, 128, 64)),
])
def test_infer_shapes(op, ins, out):
    assert shapes(op, *ins) == [out]


def test_split_has_one_output_per_piece():
    assert shapes(ops.Split(axis=3, sizes=(2, 3, 3)), t(1, 4, 4, 8)) == [(1, 4, 4, 2), (1, 4, 4, 3), (1, 4, 4, 3)]
    assert ops.output_count(ops.Split(axis=0, sizes=(1, 1))) == 2


@pytest.mark.parametrize("op, ins, msg", [
    (ops.Conv2D(), [t(1, 28, 28, 2), t(8, 3, 3, 1), t(8)], "channels"),
    (ops.Conv2D(), [t(1, 2, 2, 1), t(8, 3, 3, 1), t(8)], "does not fit"),
    (ops.Conv2D(), [t(1, 28, 28, 1), t(8, 3, 3, 1), t(7)], "bias"),
    (ops.Dense(), [t(2, 15), t(5, 16), t(5)], "K = 16"),
    (ops.MatMul(), [t(3, 4), t(5, 6)], "inner"),
    (ops.MatMul(), [t(3, 4, dtype=DType.INT8), t(4, 6)], "operand dtypes differ"),
    (ops.Add(), [t(3, 4), t(5)], "broadcast"),
    (ops.Add(), [t(3), t(3, dtype=DType.INT8)], "dtypes differ"),
    (ops.Reshape(shape=(5,)), [t(2, 3)], "cannot reshape"),
    (ops.Transpose(perm=(0, 0)), [t(2, 3)], "permutation"),
    (ops.Concat(axis=1), [t(2, 3), t(3, 3)], "differ outside"),
    (ops.Split(axis=0, sizes=(1, 1)), [t(3)], "do not cover"),
    (ops.PRelu(), [t(1, 3), t(4, 1)], "would broadcast"),
    (ops.Resize(sizes=(2, 2), scales=(1.0, 1.0), mode="cubic"), [t(2, 2)], "cubic"),
    (ops.Quantize(), [t(2, dtype=DType.INT8)], "must be float"),
])
def test_infer_rejects(op, ins, msg):
    with pytest.raises(IRError, match=msg):
        op.infer(ins)


def test_ops_are_frozen_and_comparable():
    a = ops.Conv2D(strides=(2, 2))
    with pytest.raises(AttributeError):
        a.group = 2
    assert a == ops.Conv2D(strides=(2, 2)) and a != ops.Conv2D()
    assert a.kind == "Conv2D" and a.attrs()["strides"] == (2, 2)
    assert all(name == cls.__name__ for name, cls in ops.ALL_OPS.items())
