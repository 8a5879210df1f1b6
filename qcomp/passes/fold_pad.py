"""Fold an explicit constant Pad into the padding of the Conv2D or pooling that reads it.

TF-style "same" padding exported by TorchScript (and many converters) is a Pad node in front of a
convolution with pads 0. On NHWC x with Pad pads (b_n, b_h, b_w, b_c, e_n, e_h, e_w, e_c) and value v:

  Conv2D(Pad(x, v=0), w, b) {pads=(t, l, bo, r)}
    = Conv2D(x, w, b) {pads=(t + b_h, l + b_w, bo + e_h, r + e_w)}          (also grouped/depthwise)
  AvgPool2D(Pad(x, v=0)) {pads=p, count_include_pad=c}      (p = 0 or c: every padded cell counted)
    = AvgPool2D(x) {pads=p + (b_h, b_w, e_h, e_w), count_include_pad=True}
  MaxPool2D(Pad(x, v)) {pads=p}                        (v = -inf, or v <= every value x can take)
    = MaxPool2D(x) {pads=p + (b_h, b_w, e_h, e_w)}

Why each is exact. A Conv2D pads with real 0, and so does an AvgPool2D counting its pads: the
padded cells of the Pad output hold the same 0 and count the same, so the float result is the same
number. Quantized, the Pad keeps its input's quant params (qcomp/passes/quantize.py, _SAME_PARAMS)
and writes the encoding of real 0, zp_in; QConv2D's padding reads zp_in too (its bias folds
-zp_in * sum(w), ARCHITECTURE.md section 3), and QAvgPool2D's counted padding holds zp_in
(fixedpoint.avg_int8): the integer result of the folded graph is the unfolded one's, bit for bit.
The calibrated range of the Pad output is its input's range widened to include 0, which
quantization does anyway (observers.qparams_from_range), so folding changes no scale. MaxPool2D's
padding never wins (-inf; qmin in int8): a Pad value folds there when it cannot exceed any value of
the window either, i.e. v = -inf, or x's producer clamps it to [lo, ...] with v <= lo (a fused
ReLU: lo = 0, and in int8 the clamp keeps every value >= the encoding of v).

What does not fold (why_not_foldable gives the reason): reflect and edge modes; a value other than
0 in front of a Conv2D/AvgPool2D; pads on the batch or channel axis; a Pad output that is a graph
output or has more than one reader; an AvgPool2D that already pads without counting its pads; a
MaxPool2D whose input may be below v; a pooling whose ceil_mode would give another output shape
(its last window may not start in the padding); any other reader (ConvTranspose2D: its pads crop); a
pre-quantized model whose Pad input and output carry different parameters.
A Pad followed by a Transpose folds through it (seen_by_reader: the pads permuted), as the Pad of an
NCHW graph input before the import's NCHW -> NHWC Transpose does.
It runs on the FLOAT graph, before calibration, so every target builds the folded graph.
"""
from __future__ import annotations

import dataclasses
import math

from ..ir import Graph, Node, ops
from ..ir.prequant import prequant_of
from .fuse_activations import activation_range
from .pipeline import each_node

_CONSUMERS = (ops.Conv2D, ops.AvgPool2D, ops.MaxPool2D)


def spatial_pads(pad: ops.Pad) -> tuple[int, int, int, int]:
    """The Pad's (top, left, bottom, right) on NHWC: begins and ends of axes 1 and 2."""
    p = pad.pads
    return p[1], p[2], p[5], p[6]


def lower_bound(g: Graph, value: str, producers: dict) -> float | None:
    """A value every element of `value` is known to be >= (a fused or explicit clamp), else None."""
    prod = producers.get(value)
    if prod is None:
        return None
    rng = activation_range(prod.op)
    if rng is not None:
        return rng[0]
    return getattr(prod.op, "act_min", None)


def seen_by_reader(g: Graph, pad: Node, consumers: dict) -> tuple[ops.Pad, str, Node | None]:
    """(the Pad as the node after it sees it, the value that node reads, the Transpose in between).

    Pad commutes with a Transpose: Transpose_perm(Pad(x, b, e)) = Pad(Transpose_perm(x), b', e') with
    b'[i] = b[perm[i]], e'[i] = e[perm[i]]. A Pad on an NCHW graph input sits before the import's
    NCHW -> NHWC Transpose; seen through that Transpose it pads H and W of the NHWC conv input."""
    y = pad.outputs[0]
    readers = consumers.get(y, [])
    if len(readers) == 1 and isinstance(readers[0].op, ops.Transpose) and y not in g.outputs:
        t = readers[0]
        perm, p, r = t.op.perm, pad.op.pads, len(t.op.perm)
        permuted = tuple(p[i] for i in perm) + tuple(p[r + i] for i in perm)
        return dataclasses.replace(pad.op, pads=permuted), t.outputs[0], t
    return pad.op, y, None


def why_not_foldable(g: Graph, pad: Node, producers: dict, consumers: dict) -> str | None:
    """None when `pad` folds into the node reading it (directly or through one Transpose), else the
    reason it does not."""
    op, y, transpose = seen_by_reader(g, pad, consumers)
    if op.mode != "constant":
        return f"mode {op.mode!r} pads with copies of the input, not a constant"
    if g.types[y].rank != 4:
        return f"its output has rank {g.types[y].rank}, not NHWC"
    p = op.pads
    if p[0] or p[3] or p[4] or p[7]:
        return f"it pads the batch or channel axis (pads {p}{' after the Transpose' if transpose else ''})"
    table = prequant_of(g).activations
    if pad.inputs[0] in table and pad.outputs[0] in table and table[pad.inputs[0]] != table[pad.outputs[0]]:
        return "the pre-quantized model gives its input and output different quantization parameters"
    readers = consumers.get(y, [])
    if y in g.outputs or len(readers) != 1:
        return f"its output has {len(readers)} readers{' and is a graph output' if y in g.outputs else ''}"
    reader = readers[0]
    if not isinstance(reader.op, _CONSUMERS) or reader.inputs[0] != y:
        return f"its reader {reader.name!r} is a {reader.kind} reading it as a non-padded operand" \
            if isinstance(reader.op, _CONSUMERS) else f"its reader {reader.name!r} is a {reader.kind}"
    if isinstance(reader.op, ops.MaxPool2D):
        lo = -math.inf if op.value == -math.inf else lower_bound(g, pad.inputs[0], producers)
        if lo is None or op.value > lo:
            return (f"value {op.value} could exceed values of its input in {reader.name!r}'s windows "
                    f"(known lower bound: {lo}); MaxPool2D pads with -inf")
    elif op.value != 0.0:
        return f"value {op.value} is not the 0 that {reader.kind} {reader.name!r} pads with"
    if isinstance(reader.op, ops.AvgPool2D) and any(reader.op.pads) and not reader.op.count_include_pad:
        return f"{reader.name!r} already pads {reader.op.pads} without counting them (count_include_pad=0)"
    unpadded = g.types[pad.inputs[0]]
    if transpose is not None:
        unpadded = transpose.op.infer([unpadded])[0]
    shape = folded_op(reader.op, op).infer([unpadded] + [g.types[v] for v in reader.inputs[1:]])[0].shape
    if shape != g.types[reader.outputs[0]].shape:   # ceil_mode: the last window may not start in a pad
        return (f"{reader.name!r} with ceil_mode would give shape {shape}, not "
                f"{g.types[reader.outputs[0]].shape}, with the pads folded")
    return None


def folded_op(reader: ops.Op, pad: ops.Pad) -> ops.Op:
    """The reader's op with the Pad's spatial pads added to its own (an AvgPool2D counting them)."""
    changes = {"pads": tuple(a + b for a, b in zip(reader.pads, spatial_pads(pad)))}
    if isinstance(reader, ops.AvgPool2D):
        changes["count_include_pad"] = True
    return dataclasses.replace(reader, **changes)


def fold_pad(g: Graph) -> Graph:
    pads = [n for n in g.nodes if isinstance(n.op, ops.Pad)]
    if not pads:
        return g
    producers, consumers = g.producers(), g.consumers()
    foldable = [n.name for n in pads if why_not_foldable(g, n, producers, consumers) is None]
    if not foldable:
        return g
    out = g.copy()
    consumers = out.consumers()
    drop: set[int] = set()
    for pad in each_node([out.node(name) for name in foldable]):
        op, y, transpose = seen_by_reader(out, pad, consumers)
        reader = consumers[y][0]
        if transpose is not None:   # the Transpose reads the unpadded value: its output shrinks
            transpose.inputs = (pad.inputs[0],)
            out.types[y] = transpose.op.infer([out.types[pad.inputs[0]]])[0]
        else:
            reader.inputs = (pad.inputs[0],) + tuple(reader.inputs[1:])
        reader.op = folded_op(reader.op, op)
        drop.add(id(pad))
    out.nodes = [n for n in out.nodes if id(n) not in drop]
    out.prune()
    return out
