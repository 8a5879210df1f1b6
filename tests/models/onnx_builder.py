"""A small, seeded helper to write ONNX CNNs with `onnx.helper`, one layer per call.

Weights are drawn from one `np.random.default_rng(seed)` in call order, so a builder function
gives the same model every time. Initialisation keeps activations in a sane range:

  Conv/Gemm (He):  w ~ N(0, 2 / fan_in),  fan_in = (C / group) * KH * KW
  BatchNorm:       gamma ~ U(gamma_lo, gamma_hi), beta ~ N(0, 0.1^2),
                   mean ~ N(0, 0.1^2), var ~ U(0.5, 1.5)        (non-trivial, never degenerate)

so y = (x - mean) / sqrt(var + eps) * gamma + beta keeps roughly unit variance after each Conv+BN.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


@dataclass
class OnnxBuilder:
    name: str
    seed: int = 0
    opset: int = 13
    nodes: list[onnx.NodeProto] = field(default_factory=list)
    initializers: list[onnx.TensorProto] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.rng = np.random.default_rng(self.seed)
        self._count: dict[str, int] = {}

    # ---- naming and raw nodes ----------------------------------------------------------------
    def fresh(self, base: str) -> str:
        k = self._count.get(base, 0)
        self._count[base] = k + 1
        return f"{base}_{k}"

    def const(self, base: str, array: np.ndarray) -> str:
        name = self.fresh(base)
        self.initializers.append(numpy_helper.from_array(np.asarray(array), name))
        return name

    def op(self, op_type: str, inputs: list[str], **attrs) -> str:
        """Append one single-output node named after its op; returns the output name."""
        name = self.fresh(op_type.lower())
        self.nodes.append(helper.make_node(op_type, inputs, [name], name=name, **attrs))
        return name

    # ---- layers --------------------------------------------------------------------------------
    def conv(self, x: str, cin: int, cout: int, k: int | tuple[int, int], stride: int = 1,
             pads: tuple[int, int, int, int] | None = None, group: int = 1, dilation: int = 1,
             bias: bool = True, gain: float = 2.0) -> str:
        kh, kw = (k, k) if isinstance(k, int) else k
        if pads is None:  # "same"-style symmetric padding for odd kernels
            pads = (dilation * (kh // 2), dilation * (kw // 2)) * 2
        fan_in = (cin // group) * kh * kw
        w = self.rng.normal(0.0, np.sqrt(gain / fan_in), (cout, cin // group, kh, kw)).astype(np.float32)
        ins = [x, self.const("w", w)]
        if bias:
            ins.append(self.const("b", self.rng.normal(0.0, 0.05, cout).astype(np.float32)))
        return self.op("Conv", ins, kernel_shape=[kh, kw], strides=[stride, stride], pads=list(pads),
                       group=group, dilations=[dilation, dilation])

    def bn(self, x: str, c: int, gamma: tuple[float, float] = (0.6, 1.2), eps: float = 1e-5) -> str:
        g = self.rng.uniform(*gamma, c).astype(np.float32)
        beta = self.rng.normal(0.0, 0.1, c).astype(np.float32)
        mean = self.rng.normal(0.0, 0.1, c).astype(np.float32)
        var = self.rng.uniform(0.5, 1.5, c).astype(np.float32)
        return self.op("BatchNormalization", [x, self.const("gamma", g), self.const("beta", beta),
                                              self.const("mean", mean), self.const("var", var)],
                       epsilon=eps)

    def relu(self, x: str) -> str:
        return self.op("Relu", [x])

    def relu6(self, x: str) -> str:
        """ReLU6 as Clip with min/max inputs (opset >= 11 form)."""
        lo = self.const("clip_min", np.array(0.0, np.float32))
        hi = self.const("clip_max", np.array(6.0, np.float32))
        return self.op("Clip", [x, lo, hi])

    def gemm(self, x: str, k: int, n: int) -> str:
        """y = x @ W^T + b with W [n, k] (transB = 1, as torch.nn.Linear exports)."""
        w = self.rng.normal(0.0, np.sqrt(1.0 / k), (n, k)).astype(np.float32)
        b = self.rng.normal(0.0, 0.05, n).astype(np.float32)
        return self.op("Gemm", [x, self.const("fc_w", w), self.const("fc_b", b)], transB=1)

    # ---- model -----------------------------------------------------------------------------------
    def model(self, inputs: list[tuple[str, tuple[int, ...]]], outputs: list[str]) -> onnx.ModelProto:
        """Close the graph: typed inputs, outputs typed by ONNX shape inference, checked."""
        graph = helper.make_graph(
            self.nodes, self.name,
            [helper.make_tensor_value_info(n, TensorProto.FLOAT, list(s)) for n, s in inputs],
            [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outputs],
            initializer=self.initializers)
        m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", self.opset)],
                              producer_name="qcomp-tests")
        m.ir_version = 8  # readable by every onnxruntime this project supports
        m = onnx.shape_inference.infer_shapes(m, strict_mode=True)
        inferred = {v.name: v for v in m.graph.value_info}
        for out in m.graph.output:  # copy the inferred output shapes onto the declared outputs
            if out.name in inferred:
                out.type.CopyFrom(inferred[out.name].type)
        onnx.checker.check_model(m, full_check=True)
        return m
