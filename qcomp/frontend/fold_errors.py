"""What goes wrong when a node is folded at import time, in qcomp's words.

`explain` turns an exception of the evaluator (onnx.reference or numpy) into a reason that names
the inputs' types and shapes and the node's attributes; no class name or traceback of the
evaluator reaches the user. `result_size` bounds the bytes a fold would allocate, from the inputs
alone, for the ops whose result can be much larger than their inputs (ConstantOfShape, Expand,
Tile, Range, Pad, Resize, OneHot, broadcasting and MatMul), so fold.py refuses a shape input of
2**40 before anything is allocated.
"""
from __future__ import annotations

import math

import numpy as np
import onnx
from onnx import helper


# ops with multidirectional (numpy) broadcasting of their inputs
BROADCASTING = frozenset({"Add", "Sub", "Mul", "Div", "Pow", "Mod", "Max", "Min", "Sum", "Mean", "Equal", "Greater",
                          "GreaterOrEqual", "Less", "LessOrEqual", "And", "Or", "Xor", "Where", "BitShift",
                          "BitwiseAnd", "BitwiseOr", "BitwiseXor", "PRelu"})


def describe(inputs: list[np.ndarray | None]) -> str:
    shown = [f"input {k}: {a.dtype}{list(a.shape)}" for k, a in enumerate(inputs) if a is not None]
    return "its constant inputs are " + (", ".join(shown) if shown else "none")


def _attrs(node: onnx.NodeProto) -> str:
    parts = []
    for a in node.attribute:
        try:
            v = helper.get_attribute_value(a)
        except Exception:  # noqa: BLE001 - an attribute without a value
            v = "?"
        if isinstance(v, bytes):
            v = v.decode(errors="replace")
        elif isinstance(v, onnx.TensorProto):
            v = f"tensor{list(v.dims)}"
        elif not isinstance(v, (int, float, str, list)):
            v = type(v).__name__.replace("Proto", "").lower()
        text = str(v)
        parts.append(f"{a.name}={text if len(text) < 60 else text[:57] + '...'}")
    return ", ".join(parts) if parts else "none"


def explain(e: BaseException, node: onnx.NodeProto, inputs: list[np.ndarray | None], opset: int) -> str:
    """The reason a fold failed, for the list of problems (the caller names the node and op)."""
    text = str(e).lower()
    shapes = " and ".join(str(tuple(a.shape)) for a in inputs if a is not None) or "(none)"
    arrays = [a for a in inputs if a is not None]
    if isinstance(e, MemoryError):
        why = "the result does not fit in memory"
    elif "broadcast" in text or (node.op_type in BROADCASTING and len(arrays) > 1
                                 and _broadcast([a.shape for a in arrays]) is None):
        why = f"the input shapes {shapes} do not broadcast together"
    elif isinstance(e, IndexError) or "out of bounds" in text or "out of range" in text or "axis" in text:
        why = f"an index or axis is out of range for the input shapes {shapes}"
    elif "reshape" in text or "size" in text and "shape" in text:
        why = f"the element counts of the input shapes {shapes} and the requested shape do not match"
    elif isinstance(e, (TypeError, NotImplementedError, KeyError)):
        why = (f"ONNX's reference implementation of {node.op_type} (opset {opset}) does not handle these input "
               f"types or attributes")
    else:
        why = f"ONNX's reference implementation of {node.op_type} (opset {opset}) rejects these inputs or attributes"
    return (f"it cannot be folded at import time (all its inputs are constants): {why}; {describe(inputs)}; "
            f"attributes: {_attrs(node)}. Check the model with onnx.checker.check_model(model, full_check=True)")


def _ints(a: np.ndarray | None) -> list[int] | None:
    if a is None or a.size > 64 or not (np.issubdtype(a.dtype, np.integer) or np.issubdtype(a.dtype, np.floating)):
        return None
    return [int(x) for x in np.nan_to_num(a.astype(np.float64), posinf=2.0 ** 62, neginf=-2.0 ** 62).reshape(-1)]


def _broadcast(shapes: list[tuple[int, ...]]) -> tuple[int, ...] | None:
    try:
        return np.broadcast_shapes(*shapes)
    except ValueError:
        return None


def result_size(node: onnx.NodeProto, inputs: list[np.ndarray | None]) -> int | None:
    """An upper bound on the bytes of the largest result (None when the op cannot grow its inputs
    much, or when the inputs are malformed: the evaluator then reports them)."""
    op = node.op_type
    ins = inputs + [None] * 4
    x = ins[0]
    item = 8  # the widest element type a fold produces (float64, int64)
    elems: int | None = None
    if op == "ConstantOfShape" and (dims := _ints(x)) is not None:
        elems = math.prod(max(d, 0) for d in dims)
    elif op == "Expand" and x is not None and (dims := _ints(ins[1])) is not None:
        r = max(x.ndim, len(dims))
        a = (1,) * (r - x.ndim) + x.shape
        b = (1,) * (r - len(dims)) + tuple(dims)
        elems = math.prod(max(p, q, 0) for p, q in zip(a, b))
    elif op == "Tile" and x is not None and (reps := _ints(ins[1])) is not None:
        elems = x.size * math.prod(max(r, 0) for r in reps)
    elif op == "Range" and all(v is not None and v.size == 1 for v in ins[:3]):
        start, limit, delta = (float(v.reshape(-1)[0]) for v in ins[:3])
        elems = 0 if delta == 0 or not math.isfinite((limit - start) / delta) else max(
            math.ceil((limit - start) / delta), 0)
    elif op == "Pad" and x is not None and (pads := _ints(ins[1])) is not None:
        grow = sum(max(p, 0) for p in pads)   # a bound whatever the axes input selects
        elems = math.prod(d + grow for d in x.shape)
    elif op in ("Resize", "Upsample") and x is not None:
        sizes = _ints(ins[3]) if op == "Resize" else None
        scales = ins[2] if op == "Resize" else ins[1]
        if sizes:
            elems = math.prod(max(s, 0) for s in sizes)
        elif scales is not None and scales.size and np.issubdtype(scales.dtype, np.floating):
            f = float(np.prod(np.nan_to_num(np.abs(scales.astype(np.float64)), posinf=2.0 ** 62)))
            elems = int(min(x.size * f, 2.0 ** 62))
    elif op == "OneHot" and x is not None and (depth := _ints(ins[1])):
        elems = x.size * max(depth[0], 0)
    elif op in ("MatMul", "MatMulInteger", "Gemm") and x is not None and ins[1] is not None \
            and x.ndim >= 1 and ins[1].ndim >= 1:
        elems = math.prod(_broadcast([x.shape[:-2], ins[1].shape[:-2]]) or (1,)) * \
            (x.shape[-2] if x.ndim >= 2 else 1) * ins[1].shape[-1]
    else:
        shapes = [a.shape for a in inputs if a is not None]
        if len(shapes) >= 2 and (b := _broadcast(shapes)) is not None:
            elems = math.prod(b)
    return None if elems is None else elems * item
