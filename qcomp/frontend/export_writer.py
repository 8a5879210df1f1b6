"""The ONNX side of the QDQ export: names, initializers, nodes, and the Q/DQ pairs of int8 values.

`Writer` turns IR values into ONNX tensors for the op emitters (export_ops.py):
  - a float IR value is the ONNX tensor of the same name;
  - an int8 IR value with quant params (s, zp) is the ONNX int8 tensor of the same name, written by
    QuantizeLinear(float, s, zp); consumers read DequantizeLinear(q, s, zp) (one per value);
  - a constant becomes an initializer: int8 weights stay int8 behind a DequantizeLinear (per
    channel: `axis`), int32 biases likewise (scale s_in * s_w[c]); float and index constants as is.
An emitter may ask for any input in another layout (`perm`): activations get a Transpose node,
constants are stored transposed (a per-channel axis moves with its dimension).

A scale of 0 (qcomp's all-zero tensor: every value quantizes to the zero point) cannot be written:
ONNX QuantizeLinear divides by the scale. It is exported as 2^100, which maps every finite float32
below 2^99 in magnitude to the zero point and dequantizes the zero point to 0, as qcomp does.
"""
from __future__ import annotations

import numpy as np
import onnx
from onnx import helper, numpy_helper

from ..errors import QcompError
from ..ir import Graph, QuantParams, TensorType

ZERO_SCALE_STANDIN = np.float32(2.0 ** 100)


class ExportError(QcompError):
    """A QUANTIZED graph holds something the QDQ export cannot write. The message names the node."""


def export_scale(scale: np.ndarray) -> np.ndarray:
    s = np.asarray(scale, dtype=np.float32)
    return np.where(s > 0, s, ZERO_SCALE_STANDIN).astype(np.float32)


class Writer:
    def __init__(self, q: Graph):
        self.q = q
        self.nodes: list[onnx.NodeProto] = []
        self.initializers: list[onnx.TensorProto] = []
        self._taken: set[str] = set(q.types)
        self._node_names: set[str] = set()
        self._consts: dict[tuple, str] = {}
        self._float_of: dict[tuple[str, tuple[int, ...] | None], str] = {}
        self.node_base = "node"   # name of the IR node being exported (prefix of helper names)

    # ---- names, initializers, nodes ----------------------------------------------------------
    def fresh(self, base: str) -> str:
        name, k = base, 0
        while name in self._taken:
            k += 1
            name = f"{base}_{k}"
        self._taken.add(name)
        return name

    def const(self, array: np.ndarray, base: str) -> str:
        """An initializer holding `array` (deduplicated by content)."""
        arr = np.ascontiguousarray(array)
        key = (arr.dtype.str, arr.shape, arr.tobytes())
        if key not in self._consts:
            name = self.fresh(base)
            self.initializers.append(numpy_helper.from_array(arr, name))
            self._consts[key] = name
        return self._consts[key]

    def node(self, op_type: str, inputs: list[str], outputs: list[str] | int = 1, suffix: str = "",
             domain: str = "", **attrs) -> list[str]:
        """Append an ONNX node; `outputs` are names, or a count of fresh outputs."""
        base = f"{self.node_base}/{suffix or op_type}"
        if isinstance(outputs, int):
            outputs = [self.fresh(base if outputs == 1 else f"{base}:{k}") for k in range(outputs)]
        name, k = base, 0
        while name in self._node_names:
            k += 1
            name = f"{base}_{k}"
        self._node_names.add(name)
        attrs = {k: v for k, v in attrs.items() if v is not None}
        self.nodes.append(helper.make_node(op_type, inputs, outputs, name=name, domain=domain, **attrs))
        return list(outputs)

    def ints(self, values, base: str) -> str:
        return self.const(np.asarray(values, dtype=np.int64), base)

    def scalar(self, value: float, base: str) -> str:
        return self.const(np.asarray(value, dtype=np.float32), base)

    # ---- quantization parameters --------------------------------------------------------------
    def qparams(self, qp: QuantParams, dtype: np.dtype, axis_perm: tuple[int, ...] | None = None
                ) -> tuple[str, str, int | None]:
        """(scale, zero point) initializers and the ONNX axis of `qp` (None per tensor)."""
        scale = export_scale(qp.scale)
        zp = qp.zero_point.astype(dtype)
        if qp.axis is None:
            return self.const(scale.reshape(()), "scale"), self.const(zp.reshape(()), "zero_point"), None
        axis = qp.axis if axis_perm is None else axis_perm.index(qp.axis)
        return self.const(scale, "scale"), self.const(zp, "zero_point"), axis

    def quantize_to(self, float_name: str, value: str) -> None:
        """QuantizeLinear writing the IR int value `value` from a float tensor."""
        t = self.q.types[value]
        scale, zp, axis = self.qparams(t.quant, t.dtype.np)
        self.node("QuantizeLinear", [float_name, scale, zp], [value], suffix="quantize", axis=axis)

    def dequantize(self, int_name: str, qp: QuantParams, dtype: np.dtype, base: str,
                   axis_perm: tuple[int, ...] | None = None) -> str:
        scale, zp, axis = self.qparams(qp, dtype, axis_perm)
        return self.node("DequantizeLinear", [int_name, scale, zp], [self.fresh(base)], suffix="dequantize",
                         axis=axis)[0]

    # ---- IR values as float ONNX tensors --------------------------------------------------------
    def input(self, value: str, perm: tuple[int, ...] | None = None) -> str:
        """The float ONNX tensor of IR value `value` (transposed by `perm`): dequantized when the
        value is quantized; a constant is stored in the layout asked for."""
        key = (value, perm)
        if key in self._float_of:
            return self._float_of[key]
        t = self.q.types[value]
        if value in self.q.constants:
            arr = self.q.constants[value]
            arr = np.transpose(arr, perm) if perm is not None else arr
            base = value if perm is None else f"{value}_perm"
            if t.quant is None:
                name = self.const(arr, base)
            else:
                name = self.dequantize(self.const(arr, base), t.quant, t.dtype.np, f"{base}_dq", perm)
        else:
            name = value
            if t.quant is not None:
                name = self._float_of.get((value, None)) or self.dequantize(value, t.quant, t.dtype.np,
                                                                            f"{value}_dq")
                self._float_of[(value, None)] = name
            if perm is not None and list(perm) != list(range(len(perm))):
                name = self.node("Transpose", [name], 1, suffix="transpose", perm=list(perm))[0]
        self._float_of[key] = name
        return name

    def raw(self, value: str) -> str:
        """The ONNX tensor of an IR value as it is (integer indices, int8 data of a table)."""
        if value in self.q.constants:
            return self.const(self.q.constants[value], value)
        return value


def value_info(name: str, t: TensorType) -> onnx.ValueInfoProto:
    elem = helper.np_dtype_to_tensor_dtype(t.dtype.np)
    return helper.make_tensor_value_info(name, elem, list(t.shape))


__all__ = ["Writer", "ExportError", "value_info", "export_scale", "ZERO_SCALE_STANDIN"]
