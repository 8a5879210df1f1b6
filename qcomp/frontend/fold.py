"""Constant folding at the ONNX level.

A node whose inputs are all known at import time is evaluated right away, so shape subgraphs
(Shape -> Gather -> Unsqueeze -> Concat -> Reshape, ConstantOfShape, Range, Expand, Where, ...)
and weight preprocessing (Transpose of a weight, DequantizeLinear of int8 weights) never reach
the IR. Evaluation uses the ONNX reference implementation (`onnx.reference`, numpy), so every
default-domain op folds with the semantics of its opset, not with a private re-implementation.

`Shape` and `Size` fold even when their input is computed at run time: every IR value has a
static shape. `Constant` nodes are read here too (value, value_float(s), value_int(s)). Two ops
fold with numpy here (OVERRIDES) where onnx.reference falls short. A fold that fails, or whose
result would be huge, is reported on its node in qcomp's words (fold_errors.py).
"""
from __future__ import annotations

import numpy as np
import onnx
from onnx import helper
from onnx.reference import ReferenceEvaluator

from . import fold_errors, tensors
from .context import MAX_TENSOR_BYTES, Attrs, Unsupported

# ops whose result is not a function of their inputs: never folded
NONDETERMINISTIC = frozenset({"RandomNormal", "RandomUniform", "RandomNormalLike", "RandomUniformLike",
                              "Multinomial", "Bernoulli"})


def constant_node(node: onnx.NodeProto) -> np.ndarray:
    """The value of a `Constant` node."""
    a = Attrs(node)
    if a.has("value"):
        value = a.tensor("value")
        try:
            return tensors.to_array(value)
        except Unsupported as e:
            raise Unsupported(f"its value tensor {e}") from None
    if a.has("value_float"):
        return np.array(a.float("value_float", 0.0), dtype=np.float32)
    if a.has("value_floats"):
        return np.array(a.floats("value_floats"), dtype=np.float32)
    if a.has("value_int"):
        return np.array(a.int("value_int", 0), dtype=np.int64)
    if a.has("value_ints"):
        return np.array(a.ints("value_ints"), dtype=np.int64)
    kinds = [x.name for x in node.attribute]
    raise Unsupported(f"Constant with {kinds or 'no value'} is not supported (value, value_float(s), "
                      f"value_int(s))")


def shape_of(shape: tuple[int, ...], node: onnx.NodeProto) -> np.ndarray:
    """`Shape` (with the start/end attributes of opset 15) of a value with a static shape."""
    a = Attrs(node)
    r = len(shape)
    start = a.int("start", 0)
    end = a.int("end", r)
    start = min(max(start + r if start < 0 else start, 0), r)
    end = min(max(end + r if end < 0 else end, 0), r)
    return np.array(shape[start:end], dtype=np.int64)


def _gather_elements(node: onnx.NodeProto, data: np.ndarray, indices: np.ndarray) -> list[np.ndarray]:
    axis = Attrs(node).int("axis", 0)
    axis = axis + data.ndim if axis < 0 else axis
    idx = np.where(indices < 0, indices + data.shape[axis], indices)
    # ONNX lets indices be shorter than data on the other axes: only that corner of data is read
    corner = tuple(slice(None) if a == axis else slice(0, n) for a, n in enumerate(indices.shape))
    return [np.take_along_axis(data[corner], idx, axis=axis)]


def _dequantize_linear(node: onnx.NodeProto, x: np.ndarray, scale: np.ndarray,
                       zero_point: np.ndarray | None = None) -> list[np.ndarray]:
    """y = (x - zero_point) * scale, per tensor or along `axis` (quantized weights of QDQ models)."""
    a = Attrs(node)
    if a.int("block_size", 0):
        raise Unsupported("blocked DequantizeLinear (block_size) is not supported")
    if not np.issubdtype(scale.dtype, np.floating):
        raise Unsupported(f"the scale (input 1) is {scale.dtype}; ONNX defines it as a float type")
    zp = np.zeros((), np.float32) if zero_point is None else zero_point.astype(np.float32)
    if scale.ndim == 1 and x.ndim > 0:
        axis = a.int("axis", 1)
        axis = axis + x.ndim if axis < 0 else axis
        shape = [1] * x.ndim
        shape[axis] = -1
        scale, zp = scale.reshape(shape), (zp.reshape(shape) if zp.ndim == 1 else zp)
    return [((x.astype(np.float32) - zp) * scale).astype(scale.dtype)]


# ops folded with numpy here: GatherElements, whose onnx.reference implementation fails with more
# than 32 entries along the axis (torch's BERT export gathers a (1, 512) buffer); DequantizeLinear,
# which onnx.reference implements from opset 19 only (QDQ models store int8 weights behind it)
OVERRIDES = {"GatherElements": _gather_elements, "DequantizeLinear": _dequantize_linear}


# control flow is neither folded nor imported: a Loop's trip count is unbounded
NOT_FOLDED = frozenset({"Loop", "Scan"})


def evaluate(node: onnx.NodeProto, inputs: list[np.ndarray | None], opset: int) -> list[np.ndarray]:
    """Run one default-domain node on constant inputs (onnx.reference, or numpy for OVERRIDES).

    Every failure becomes Unsupported with a reason in qcomp's words (fold_errors.py); results
    that would exceed MAX_TENSOR_BYTES are refused before they are computed (fold_errors.result_size)."""
    op = node.op_type
    if op in NONDETERMINISTIC:
        raise Unsupported(f"{op} is random; qcomp cannot fold or compile it")
    if op in NOT_FOLDED:
        raise Unsupported(f"{op} (control flow) is not supported")
    size = fold_errors.result_size(node, inputs)
    if size is not None and size > MAX_TENSOR_BYTES:
        raise Unsupported(f"folding it at import time would make a constant of {size:,} bytes (more than "
                          f"{MAX_TENSOR_BYTES:,}); {fold_errors.describe(inputs)}. Are its shape inputs or "
                          f"attributes corrupt?")
    try:
        if op in OVERRIDES:
            return OVERRIDES[op](node, *inputs)
        return _reference(node, inputs, opset)
    except Unsupported:
        raise
    except Exception as e:  # noqa: BLE001 - reported on the node in qcomp's words, never the evaluator's
        raise Unsupported(fold_errors.explain(e, node, inputs, opset)) from None


def _reference(node: onnx.NodeProto, inputs: list[np.ndarray | None], opset: int) -> list[np.ndarray]:
    names = [f"in{k}" if i is not None else "" for k, i in enumerate(inputs)]
    outs = [f"out{k}" if o else "" for k, o in enumerate(node.output)]
    single = helper.make_node(node.op_type, names, outs, domain=node.domain)
    single.attribute.extend(node.attribute)
    vinfo = [helper.make_tensor_value_info(n, helper.np_dtype_to_tensor_dtype(a.dtype), a.shape)
             for n, a in zip(names, inputs) if a is not None]
    graph = helper.make_graph([single], "fold", vinfo,
                              [helper.make_tensor_value_info(o, onnx.TensorProto.UNDEFINED, None)
                               for o in outs if o])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    feeds = {n: a for n, a in zip(names, inputs) if a is not None}
    results = ReferenceEvaluator(model).run(None, feeds)
    it = iter(results)
    return [np.asarray(next(it)) if o else None for o in outs]
