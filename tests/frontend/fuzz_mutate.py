"""Mutations for the importer fuzzer (tests/frontend/fuzz.py): each takes a private copy of a valid
ModelProto and a seeded generator and returns the mutant's file bytes.

File level: bit flips, byte overwrites, truncation. Graph level: shuffled node order, wrong element
types, wrong / negative / zero / huge (2**40) dims, dangling inputs, inputs rewired to other values
of the wrong shape or type, duplicate outputs, cycles,
missing / extra / wrongly typed / out-of-range attributes, swapped op types, empty graphs, changed
opsets and domains, initializers whose raw_data disagrees with their dims or whose values (shapes,
axes, pads) are out of range. `mutate` picks one to three of them by the generator alone, so a
mutant is reproduced from (seed model, seed, index)."""
from __future__ import annotations

import numpy as np
import onnx
from onnx import AttributeProto, TensorProto, helper, numpy_helper

HUGE = 2 ** 40
WEIRD_INTS = (0, -1, -2, 1, 2, 3, 7, 255, 2 ** 31, -(2 ** 31), HUGE, -HUGE, 2 ** 62)
ELEM_TYPES = tuple(range(0, 27)) + (99, -1)


def _pick(rng: np.random.Generator, seq):
    return seq[int(rng.integers(len(seq)))] if len(seq) else None


def _values(m: onnx.ModelProto) -> list[str]:
    g = m.graph
    return [v.name for v in g.input] + [t.name for t in g.initializer] + [o for nd in g.node for o in nd.output if o]


# ---- file bytes ---------------------------------------------------------------------------------

def bit_flips(data: bytes, rng) -> bytes:
    b = bytearray(data)
    for _ in range(int(rng.integers(1, 9))):
        k = int(rng.integers(len(b)))
        b[k] ^= 1 << int(rng.integers(8))
    return bytes(b)


def byte_overwrite(data: bytes, rng) -> bytes:
    b = bytearray(data)
    k = int(rng.integers(len(b)))
    span = int(rng.integers(1, 17))
    b[k:k + span] = rng.integers(0, 256, min(span, len(b) - k), dtype=np.uint8).tobytes()
    return bytes(b)


def truncate(data: bytes, rng) -> bytes:
    return data[: int(rng.integers(len(data)))]


BYTE_MUTATIONS = {"bit_flips": bit_flips, "byte_overwrite": byte_overwrite, "truncate": truncate}


# ---- graph structure ----------------------------------------------------------------------------

def shuffle_nodes(m, rng):
    nodes = list(m.graph.node)
    order = rng.permutation(len(nodes))
    del m.graph.node[:]
    m.graph.node.extend(nodes[k] for k in order)


def wrong_dtype(m, rng):
    g = m.graph
    targets = list(g.input) + list(g.output)
    if g.initializer and rng.random() < 0.5:
        _pick(rng, g.initializer).data_type = int(_pick(rng, ELEM_TYPES))
    elif targets:
        _pick(rng, targets).type.tensor_type.elem_type = int(_pick(rng, ELEM_TYPES))


def wrong_shape(m, rng):
    g = m.graph
    vi = _pick(rng, list(g.input) + list(g.output))
    if vi is None:
        return
    dims = vi.type.tensor_type.shape.dim
    r = rng.random()
    if r < 0.25 and len(dims):
        del dims[int(rng.integers(len(dims)))]
    elif r < 0.4:
        dims.add().dim_value = int(rng.integers(1, 4))
    elif len(dims):
        dims[int(rng.integers(len(dims)))].dim_value = int(_pick(rng, WEIRD_INTS + (5, 13)))


def huge_dim(m, rng):
    g = m.graph
    if g.initializer and rng.random() < 0.5:
        t = _pick(rng, g.initializer)
        if len(t.dims):
            t.dims[int(rng.integers(len(t.dims)))] = HUGE
        else:
            t.dims.append(HUGE)
    elif g.input:
        dims = _pick(rng, g.input).type.tensor_type.shape.dim
        if len(dims):
            dims[int(rng.integers(len(dims)))].dim_value = HUGE


def negative_dim(m, rng):
    t = _pick(rng, m.graph.initializer)
    if t is not None and len(t.dims):
        t.dims[int(rng.integers(len(t.dims)))] = -int(rng.integers(1, 5))


def dangling_input(m, rng):
    nd = _pick(rng, [x for x in m.graph.node if x.input])
    if nd is not None:
        nd.input[int(rng.integers(len(nd.input)))] = "ghost"


def duplicate_output(m, rng):
    outs = [(nd, k) for nd in m.graph.node for k in range(len(nd.output))]
    if rng.random() < 0.2 and m.graph.input:
        m.graph.input.add().CopyFrom(m.graph.input[0])
    elif len(outs) >= 2:
        (a, ka), (b, kb) = (outs[k] for k in rng.choice(len(outs), 2, replace=False))
        b.output[kb] = a.output[ka]
    elif m.graph.output:
        m.graph.output.add().CopyFrom(m.graph.output[0])


def rewire(m, rng):
    """A node input replaced by another value defined before the node (wrong shape or type, no
    dangling name), or two inputs of a node swapped."""
    g = m.graph
    k = int(rng.integers(len(g.node))) if len(g.node) else None
    if k is None or not g.node[k].input:
        return
    nd = g.node[k]
    if rng.random() < 0.3 and len(nd.input) >= 2:
        i, j = rng.choice(len(nd.input), 2, replace=False)
        nd.input[int(i)], nd.input[int(j)] = nd.input[int(j)], nd.input[int(i)]
        return
    earlier = [v.name for v in g.input] + [t.name for t in g.initializer] + \
        [o for x in list(g.node)[:k] for o in x.output if o]
    if earlier:
        nd.input[int(rng.integers(len(nd.input)))] = _pick(rng, earlier)


def cycle(m, rng):
    nodes = [x for x in m.graph.node if x.input and x.output]
    if len(nodes) >= 2:
        i, j = sorted(rng.choice(len(nodes), 2, replace=False))
        nodes[i].input[0] = nodes[j].output[0]
    elif nodes:
        nodes[0].input[0] = nodes[0].output[0]


def empty_graph(m, rng):
    del m.graph.node[:]
    if rng.random() < 0.5:
        del m.graph.initializer[:]
    if rng.random() < 0.3:
        del m.graph.output[:]


def drop_io(m, rng):
    g = m.graph
    seq = g.input if rng.random() < 0.5 else g.output
    if len(seq):
        del seq[int(rng.integers(len(seq)))]
    if rng.random() < 0.5 and g.output:
        g.output[0].name = _pick(rng, _values(m) + ["nowhere"])


# ---- attributes and ops ------------------------------------------------------------------------

def _random_attribute(name: str, rng) -> AttributeProto:
    kind = int(rng.integers(6))
    if kind == 0:
        return helper.make_attribute(name, int(_pick(rng, WEIRD_INTS)))
    if kind == 1:
        return helper.make_attribute(name, float(rng.standard_normal() * 10))
    if kind == 2:
        return helper.make_attribute(name, "bogus")
    if kind == 3:
        return helper.make_attribute(name, [int(_pick(rng, WEIRD_INTS)) for _ in range(int(rng.integers(0, 6)))])
    if kind == 4:
        return helper.make_attribute(name, [1.5, -2.0])
    return helper.make_attribute(name, numpy_helper.from_array(np.array([1, 2], np.int64)))


def attribute_chaos(m, rng):
    nodes = list(m.graph.node)
    nd = _pick(rng, nodes)
    if nd is None:
        return
    r = rng.random()
    if r < 0.3 and nd.attribute:
        del nd.attribute[int(rng.integers(len(nd.attribute)))]
    elif r < 0.6 and nd.attribute:          # same name, another type
        k = int(rng.integers(len(nd.attribute)))
        nd.attribute[k].CopyFrom(_random_attribute(nd.attribute[k].name, rng))
    elif r < 0.9 and nd.attribute:          # same name and type, a weird value
        a = _pick(rng, nd.attribute)
        if a.type == AttributeProto.INT:
            a.i = int(_pick(rng, WEIRD_INTS))
        elif a.type == AttributeProto.INTS and len(a.ints):
            a.ints[int(rng.integers(len(a.ints)))] = int(_pick(rng, WEIRD_INTS))
        elif a.type == AttributeProto.FLOAT:
            a.f = float(_pick(rng, [0.0, -1.0, float("nan"), float("inf"), 1e30]))
        elif a.type == AttributeProto.STRING:
            a.s = b"bogus"
    else:
        name = _pick(rng, ["axis", "axes", "perm", "pads", "group", "kernel_shape", "strides", "to", "mode",
                           "keepdims", "extra", "value", "start", "end", "alpha"])
        nd.attribute.append(_random_attribute(name, rng))


OP_TYPES = ("Conv", "Relu", "Add", "MatMul", "Gemm", "Reshape", "Concat", "Transpose", "Shape", "Gather",
            "Slice", "Pad", "MaxPool", "AveragePool", "GlobalAveragePool", "Flatten", "Squeeze", "Unsqueeze",
            "Softmax", "Resize", "Split", "Cast", "QuantizeLinear", "DequantizeLinear", "QLinearConv",
            "QLinearMatMul", "ConstantOfShape", "Expand", "Tile", "Range", "Hardmax", "NonZero", "Loop", "If",
            "Constant", "Identity", "Where", "TopK", "ConvTranspose", "BatchNormalization", "Einsum")


def swap_op(m, rng):
    nd = _pick(rng, list(m.graph.node))
    if nd is not None:
        nd.op_type = _pick(rng, OP_TYPES)
        if rng.random() < 0.2:
            nd.domain = _pick(rng, ["com.microsoft", "ai.onnx", "ai.onnx.ml", "x"])


def change_opset(m, rng):
    r = rng.random()
    if r < 0.15:
        del m.opset_import[:]
    elif r < 0.3:
        m.opset_import.append(helper.make_opsetid("", int(rng.integers(1, 25))))
    elif m.opset_import:
        m.opset_import[0].version = int(_pick(rng, [1, 7, 10, 11, 12, 13, 14, 15, 17, 18, 19, 20, 21, 22, 99, -3]))
    if rng.random() < 0.2:
        m.ir_version = int(_pick(rng, [0, 1, 3, 7, 11, 99]))


# ---- initializers -----------------------------------------------------------------------------

def raw_data_mismatch(m, rng):
    t = _pick(rng, m.graph.initializer)
    if t is None:
        return
    arr = numpy_helper.to_array(t)
    raw = arr.tobytes()
    cut = int(rng.integers(0, len(raw) + 1)) if rng.random() < 0.7 else len(raw) + int(rng.integers(1, 64))
    t.ClearField("float_data"), t.ClearField("int32_data"), t.ClearField("int64_data")
    t.raw_data = (raw + bytes(64))[:cut]


def initializer_values(m, rng):
    """Out-of-range shapes, axes, pads, scales: integer initializers get weird values, float ones
    NaN, inf, zero or negative entries."""
    t = _pick(rng, m.graph.initializer)
    if t is None:
        return
    arr = numpy_helper.to_array(t).copy()
    if arr.size == 0:
        return
    flat = arr.reshape(-1)
    k = int(rng.integers(flat.size))
    if np.issubdtype(arr.dtype, np.integer):
        info = np.iinfo(arr.dtype)
        flat[k] = int(np.clip(_pick(rng, WEIRD_INTS), info.min, info.max))
    elif np.issubdtype(arr.dtype, np.floating):
        flat[k] = _pick(rng, [np.nan, np.inf, -np.inf, 0.0, -1.0, 1e30])
    t.CopyFrom(numpy_helper.from_array(arr, t.name))


def reshape_initializer(m, rng):
    """An initializer replaced by one of another rank or dtype (a wrong weight, scale or shape)."""
    t = _pick(rng, m.graph.initializer)
    if t is None:
        return
    shape = tuple(int(rng.integers(0, 4)) for _ in range(int(rng.integers(0, 4))))
    dtype = _pick(rng, [np.float32, np.int64, np.int8, np.uint8, np.int32, np.float16, np.bool_, np.float64])
    t.CopyFrom(numpy_helper.from_array(rng.integers(-3, 4, shape).astype(dtype), t.name))


GRAPH_MUTATIONS = {
    "shuffle_nodes": shuffle_nodes, "wrong_dtype": wrong_dtype, "wrong_shape": wrong_shape,
    "huge_dim": huge_dim, "negative_dim": negative_dim, "dangling_input": dangling_input,
    "duplicate_output": duplicate_output, "cycle": cycle, "rewire": rewire, "empty_graph": empty_graph,
    "drop_io": drop_io,
    "attribute_chaos": attribute_chaos, "swap_op": swap_op, "change_opset": change_opset,
    "raw_data_mismatch": raw_data_mismatch, "initializer_values": initializer_values,
    "reshape_initializer": reshape_initializer,
}
# mutations that keep the graph well formed reach the converters: drawn three times as often
DEEP = ("wrong_dtype", "wrong_shape", "attribute_chaos", "swap_op", "change_opset", "initializer_values",
        "reshape_initializer", "rewire")
_NAMES = tuple(GRAPH_MUTATIONS)
_WEIGHTS = np.array([3.0 if k in DEEP else 1.0 for k in _NAMES]) / sum(3.0 if k in DEEP else 1.0 for k in _NAMES)
KINDS = tuple(BYTE_MUTATIONS) + _NAMES


def mutate(seed_model: onnx.ModelProto, rng: np.random.Generator) -> tuple[str, bytes]:
    """(label, file bytes): one byte-level mutation, or one to three graph-level ones."""
    m = onnx.ModelProto()
    m.CopyFrom(seed_model)
    if rng.random() < 0.2:
        kind = _pick(rng, tuple(BYTE_MUTATIONS))
        return kind, BYTE_MUTATIONS[kind](m.SerializeToString(), rng)
    kinds = [str(rng.choice(_NAMES, p=_WEIGHTS)) for _ in range(int(rng.choice([1, 1, 1, 2, 3])))]
    for kind in kinds:
        try:
            GRAPH_MUTATIONS[kind](m, rng)
        except Exception:  # noqa: BLE001 - it does not apply to an earlier mutant (unreadable tensor)
            pass
    return "+".join(kinds), m.SerializeToString()
