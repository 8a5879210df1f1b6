"""Dynamically quantized models (onnxruntime's quantize_dynamic): DynamicQuantizeLinear,
ConvInteger and MatMulInteger, imported as the float op they encode (ops_quant.py's design).

onnxruntime writes, for y = x (*) W + b with W = (q - zp_w) * s_w:

    (x_q, s_x, zp_x) = DynamicQuantizeLinear(x)            per run: s_x = range(x) / 255
    acc = ConvInteger(x_q, q, zp_x, zp_w)                   (or MatMulInteger)  ~= (x (*) (q - zp_w)) / s_x
    y'  = Mul(Cast(acc, float), Mul(s_x, s_w))             = x (*) ((q - zp_w) * s_w)
    y   = Add(y', b)

The per-run scale s_x cancels, so the chain is the float op x (*) W on the reals. The importer
follows it with symbolic values that never reach the IR: `Dyn(x, "q")`, `Dyn(x, "zp")` and
`DynScale(x, k)` (= s_x * k) for DynamicQuantizeLinear's outputs, and `DynAcc` for the integer
product, whose float op is emitted at the Mul that rescales it, with weights float32(n * k),
n = q - zp_w (recorded, so their scales are kept when n fits [-127, 127]). qcomp then quantizes
the activations itself (--calib, or --quant dynamic). Any other use of these values is reported.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx

from .context import Attrs, Const, Context, Unsupported, Val, Value
from .ops_quant import dequantized_weight, run_float

_CONV_ATTRS = ("auto_pad", "dilations", "group", "kernel_shape", "pads", "strides")


@dataclass(frozen=True)
class Dyn:
    """An output of DynamicQuantizeLinear(x): its uint8 data ("q") or zero point ("zp")."""
    x: Val
    part: str


@dataclass(frozen=True)
class DynScale:
    """s_x * k: the per-run scale of x times a constant."""
    x: Val
    k: np.ndarray


@dataclass(frozen=True, eq=False)
class DynAcc:
    """The int32 result of ConvInteger / MatMulInteger on Dyn(x, "q") with constant weights q."""
    x: Val
    op_type: str                 # "Conv" or "MatMul"
    q: np.ndarray
    zero_point: np.ndarray | None
    weight_name: str
    source: onnx.NodeProto       # the integer node (its attributes)


SYMBOLIC = (Dyn, DynScale, DynAcc)
PATTERN = ("DynamicQuantizeLinear -> ConvInteger / MatMulInteger -> Cast -> Mul by the scales (as "
           "onnxruntime's quantize_dynamic writes it)")


def dynamic_quantize_linear(ctx: Context, node: onnx.NodeProto) -> list[Value]:
    x = ctx.val(ctx.inputs(node)[0])
    if not ctx.dtype(x).is_float:
        raise Unsupported(f"input is {ctx.dtype(x).value}; DynamicQuantizeLinear needs float")
    shown = [o for o in node.output if o and o in getattr(ctx, "onnx_outputs", set())]
    if shown:   # a standalone DynamicQuantizeLinear: its codes, scale and zero point as model outputs
        raise Unsupported(f"its output{'s' if len(shown) > 1 else ''} {', '.join(map(repr, shown))} "
                          f"{'are model outputs' if len(shown) > 1 else 'is a model output'}; qcomp imports "
                          f"DynamicQuantizeLinear only inside the pattern {PATTERN}, as --quant dynamic "
                          f"(a scale computed per run is not a model output qcomp's artifacts give)")
    ctx.quant.formats.add("dynamic")
    return [Dyn(x, "q"), DynScale(x, np.ones((), np.float32)), Dyn(x, "zp")]  # type: ignore[list-item]


def _integer_product(op_type: str):
    def convert(ctx: Context, node: onnx.NodeProto) -> list[Value]:
        x = ctx.inputs(node)[0]
        if isinstance(x, Val) and not ctx.dtype(x).is_float:   # a standalone product of integer tensors
            raise Unsupported(f"{node.op_type} of the {ctx.dtype(x).value} tensor {node.input[0]!r} (int32 result "
                              f"sum((a - a_zero_point) * (b - b_zero_point))): qcomp's integer products "
                              f"requantize to int8 and have no int32-output form on its backends, so it imports "
                              f"{node.op_type} only inside the pattern {PATTERN}; quantize the float model with "
                              f"qcomp instead")
        raise Unsupported(f"{node.op_type} of inputs that are not a DynamicQuantizeLinear output and "
                          f"constant weights; qcomp imports the pattern {PATTERN}")
    return convert


def _product(ctx: Context, node: onnx.NodeProto, ins: list) -> DynAcc:
    x, w = ins[0], ins[1]
    zx = ins[2] if len(ins) > 2 else None
    if not (isinstance(x, Dyn) and x.part == "q") or not isinstance(w, Const) \
            or not (zx is None or (isinstance(zx, Dyn) and zx.part == "zp" and zx.x == x.x)):
        raise Unsupported(f"{node.op_type} needs the data and zero point of one DynamicQuantizeLinear and "
                          f"constant weights; qcomp imports the pattern {PATTERN}")
    want = 4 if node.op_type == "ConvInteger" else 2
    if w.array.ndim != want:
        raise Unsupported(f"weight {node.input[1]!r} has shape {w.array.shape}; qcomp imports {node.op_type} "
                          f"with {want}-D weights")
    zw = ins[3] if len(ins) > 3 else None
    zp = None if zw is None else ctx.const(zw, "weight zero point (input 3)")
    return DynAcc(x.x, "Conv" if node.op_type == "ConvInteger" else "MatMul", w.array, zp, node.input[1], node)


def _rescale(ctx: Context, node: onnx.NodeProto, acc: DynAcc, scale: DynScale) -> list[Value]:
    """Mul(acc, s_x * k): the float op on x with weights (q - zp) * k."""
    if scale.x != acc.x:
        raise Unsupported("rescales a product by the scale of another DynamicQuantizeLinear")
    k = np.asarray(scale.k, np.float32).reshape(-1)
    if acc.op_type == "Conv":
        channels = acc.q.shape[0]
        if k.size not in (1, channels):
            raise Unsupported(f"scale of {k.size} values for a convolution of {channels} output channels")
        w = dequantized_weight(ctx, acc.weight_name, acc.q, k, acc.zero_point, axis=0)
        return run_float(ctx, node, "Conv", [acc.x, Const(w, acc.weight_name), None], _CONV_ATTRS, acc.source)
    cols = acc.q.shape[-1]
    if k.size not in (1, cols):
        raise Unsupported(f"scale of {k.size} values for a product with {cols} columns")
    w = dequantized_weight(ctx, acc.weight_name, acc.q, k, acc.zero_point, axis=acc.q.ndim - 1)
    return run_float(ctx, node, "MatMul", [acc.x, Const(w, acc.weight_name)])


def symbolic(ctx: Context, node: onnx.NodeProto, ins: list) -> list[Value]:
    """A node reading a symbolic value of the dynamic-quantization pattern."""
    op = node.op_type
    if op in ("ConvInteger", "MatMulInteger"):
        return [_product(ctx, node, ins)]  # type: ignore[list-item]
    if op == "Cast" and isinstance(ins[0], DynAcc):
        if Attrs(node).int("to", 0) != onnx.TensorProto.FLOAT:
            raise Unsupported("casts the integer product to a type other than float")
        return [ins[0]]
    if op == "Mul" and len(ins) == 2:
        a, b = ins
        if isinstance(b, DynAcc) or isinstance(a, Const):
            a, b = b, a
        if isinstance(a, DynAcc) and isinstance(b, DynScale):
            return _rescale(ctx, node, a, b)
        if isinstance(a, DynScale) and isinstance(b, Const):
            if b.array.size != 1 and b.array.ndim > 1:
                raise Unsupported(f"scales a dynamic quantization scale by a constant of shape {b.array.shape}; "
                                  f"qcomp imports a scalar or a vector of per-channel scales")
            return [DynScale(a.x, (a.k * b.array.astype(np.float32)).astype(np.float32))]  # type: ignore[list-item]
    raise Unsupported(f"{op} of a value of the dynamic quantization pattern; qcomp imports {PATTERN}")


CONVERTERS = {"DynamicQuantizeLinear": dynamic_quantize_linear, "ConvInteger": _integer_product("ConvInteger"),
              "MatMulInteger": _integer_product("MatMulInteger")}
