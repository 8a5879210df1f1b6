import numpy as np
import pytest

from qcomp.ir import DType, IRError, QuantParams, TensorType


def test_quant_params_per_tensor_and_per_channel():
    q = QuantParams(0.5, 3)
    assert q.scale.dtype == np.float32 and q.zero_point.dtype == np.int32 and not q.per_channel
    pc = QuantParams([0.1, 0.2, 0.3], 0, axis=0)
    assert pc.zero_point.tolist() == [0, 0, 0] and pc.per_channel
    assert QuantParams([0.1, 0.2], [0, 0], axis=1) == QuantParams(np.array([0.1, 0.2]), [0, 0], axis=1)
    assert QuantParams(0.1, 0) != QuantParams(0.1, 1)


@pytest.mark.parametrize("kwargs, msg", [
    (dict(scale=[0.1, 0.2], zero_point=0), "set axis"),
    (dict(scale=-1.0, zero_point=0), ">= 0"),
    (dict(scale=np.inf, zero_point=0), "finite"),
    (dict(scale=[0.1, 0.2], zero_point=[1, 2, 3], axis=0), "entries"),
    (dict(scale=0.1, zero_point=0.5), "integers"),
])
def test_quant_params_rejects(kwargs, msg):
    with pytest.raises(IRError, match=msg):
        QuantParams(**kwargs)


def test_quant_params_are_read_only():
    q = QuantParams([0.1, 0.2], 0, axis=0)
    with pytest.raises(ValueError):
        q.scale[0] = 1.0


def test_tensor_type_checks_quant_against_shape_and_dtype():
    TensorType((8, 3, 3, 4), DType.INT8, QuantParams(np.ones(8), 0, axis=0))
    with pytest.raises(IRError, match="channels"):
        TensorType((8, 3, 3, 4), DType.INT8, QuantParams(np.ones(4), 0, axis=0))
    with pytest.raises(IRError, match="cannot carry"):
        TensorType((4,), DType.FLOAT32, QuantParams(1.0, 0))
    with pytest.raises(IRError, match="zero point outside"):
        TensorType((4,), DType.INT8, QuantParams(1.0, 200))
    assert TensorType((4,), DType.UINT8, QuantParams(1.0, 200)).dtype is DType.UINT8


def test_dtype_roundtrip_and_ranges():
    for d in DType:
        assert DType.from_numpy(d.np) is d
    assert DType.INT8.qrange == (-128, 127) and DType.UINT8.qrange == (0, 255)
    with pytest.raises(IRError):
        DType.FLOAT32.qrange
    assert str(TensorType((1, 2), DType.INT8, QuantParams(0.5, -3))) == "i8[1x2] q(scale=0.5, zp=-3)"
