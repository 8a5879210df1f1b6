"""The importer's state: which IR value (and layout) or constant stands for each ONNX value.

Every ONNX value maps to one of
  - `Const(array)`: known at import time (initializers, Constant nodes, folded subgraphs, Shape of
    a value whose shape is static). Constants enter the IR graph only when a run-time op uses them,
    in the layout and shape that op wants.
  - `Val(name, perm)`: an IR value holding the ONNX value's data transposed by `perm`
    (see layout.py: ir_shape[i] == onnx_shape[perm[i]]).

Converters (ops_*.py) read their inputs through the context, emit IR nodes with `emit`, and return
one `Value` per ONNX output. A converter that meets something it cannot import raises `Unsupported`
with the reason; the importer collects every such reason into one UnsupportedModelError.
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import numpy as np
import onnx
from onnx import helper

from ..ir import DType, Graph, Op, TensorType
from ..ir import ops as irops
from . import layout
from .layout import Perm
from .quant_table import QuantTable


@dataclass(frozen=True, eq=False)
class Const:
    """An ONNX value known at import time. `name` is its ONNX name (used to name IR constants)."""
    array: np.ndarray
    name: str


@dataclass(frozen=True)
class Val:
    """An ONNX value computed at run time: IR value `name` holds it transposed by `perm`."""
    name: str
    perm: Perm


Value = Const | Val

# the largest tensor qcomp imports, folds or computes (the protobuf limit of an ONNX file; int8 kernels
# index their tensors with 32-bit offsets): bigger ones are refused before anything is allocated
MAX_TENSOR_BYTES = 2 ** 31


def too_big(t: TensorType) -> int | None:
    """The bytes of `t` when above MAX_TENSOR_BYTES (dims of 0 count as 1: an empty tensor may not
    carry a dim of 2**70 either), else None."""
    nbytes = math.prod(max(d, 1) for d in t.shape) * t.dtype.itemsize
    return nbytes if nbytes > MAX_TENSOR_BYTES else None


class Unsupported(Exception):
    """Why one node cannot be imported (collected, then reported together)."""


class Attrs:
    """Typed access to a node's attributes with ONNX defaults. An attribute of the wrong type (a
    list where ONNX defines an int, a string where it defines floats) is Unsupported, named."""

    _KINDS = {onnx.AttributeProto.INT: "an int", onnx.AttributeProto.FLOAT: "a float",
              onnx.AttributeProto.STRING: "a string", onnx.AttributeProto.INTS: "a list of ints",
              onnx.AttributeProto.FLOATS: "a list of floats", onnx.AttributeProto.TENSOR: "a tensor",
              onnx.AttributeProto.STRINGS: "a list of strings", onnx.AttributeProto.GRAPH: "a graph"}

    def __init__(self, node: onnx.NodeProto):
        self._a = {a.name: a for a in node.attribute}

    def has(self, key: str) -> bool:
        return key in self._a

    def _get(self, key: str, *types: int):
        a = self._a.get(key)
        if a is None:
            return None
        if a.type not in types:
            want = " or ".join(self._KINDS[t] for t in types)
            have = self._KINDS.get(a.type, f"of attribute type {a.type}")
            raise Unsupported(f"attribute {key!r} is {have}; ONNX defines it as {want}")
        return helper.get_attribute_value(a)

    def int(self, key: str, default: int) -> int:
        v = self._get(key, onnx.AttributeProto.INT)
        return default if v is None else int(v)

    def float(self, key: str, default: float) -> float:
        v = self._get(key, onnx.AttributeProto.FLOAT, onnx.AttributeProto.INT)
        if v is not None and v != v:
            raise Unsupported(f"attribute {key!r} is NaN")
        return default if v is None else float(v)

    def str(self, key: str, default: str) -> str:
        v = self._get(key, onnx.AttributeProto.STRING)
        if v is None:
            return default
        try:
            return v.decode()
        except UnicodeDecodeError:
            raise Unsupported(f"attribute {key!r} is not valid UTF-8 text") from None

    def ints(self, key: str, default: tuple[int, ...] | None = None,
             length: int | None = None) -> tuple[int, ...] | None:
        """A list of ints; with `length`, one of exactly that many values (Unsupported otherwise)."""
        v = self._get(key, onnx.AttributeProto.INTS)
        if v is None:
            return default
        if length is not None and len(v) != length:
            raise Unsupported(f"attribute {key!r} has {len(v)} values; this op needs {length}")
        return tuple(int(x) for x in v)

    def floats(self, key: str) -> tuple[float, ...] | None:
        v = self._get(key, onnx.AttributeProto.FLOATS)
        return None if v is None else tuple(float(x) for x in v)

    def tensor(self, key: str) -> onnx.TensorProto | None:
        return self._get(key, onnx.AttributeProto.TENSOR)


def onnx_dtype(elem_type: int) -> DType:
    """The IR dtype of an ONNX TensorProto element type (Unsupported when there is none)."""
    try:
        return DType.from_numpy(helper.tensor_dtype_to_np_dtype(elem_type))
    except (KeyError, ValueError, TypeError):
        name = onnx.TensorProto.DataType.Name(elem_type) if elem_type in onnx.TensorProto.DataType.values() \
            else str(elem_type)
        raise Unsupported(f"element type {name} is not supported (float32, float16, int8/16/32/64, "
                          f"uint8, bool)") from None


class Context:
    def __init__(self, graph: Graph, opset: int, reserved: set[str]):
        self.graph = graph
        self.opset = opset
        self.env: dict[str, Value] = {}
        self._reserved = reserved          # every ONNX value name: never used for helper values
        self._node_names: set[str] = set()
        self._layouts: dict[tuple[str, Perm], str] = {}
        self._consts: dict[tuple, str] = {}
        self.node: onnx.NodeProto | None = None
        self.node_name = ""
        self.quant = QuantTable()          # params of a pre-quantized model (ops_quant.py)

    # ---- names -------------------------------------------------------------------------------
    def fresh(self, base: str) -> str:
        """A value name used by nothing in the ONNX model or the IR graph."""
        name, k = base, 0
        while name in self._reserved or name in self.graph.types or name in self._node_names:
            k += 1
            name = f"{base}_{k}"
        return name

    def _node_name(self, base: str, outputs: tuple[str, ...]) -> str:
        name, k = base, 0
        while name in self._node_names or (name in self._reserved and name not in outputs) \
                or (name in self.graph.types and name not in outputs):
            k += 1
            name = f"{base}_{k}"
        return name

    # ---- reading inputs ----------------------------------------------------------------------
    def inputs(self, node: onnx.NodeProto) -> list[Value | None]:
        return [self.env[i] if i else None for i in node.input]

    def shape(self, v: Value) -> tuple[int, ...]:
        """The ONNX shape of a value."""
        if isinstance(v, Const):
            return tuple(v.array.shape)
        return layout.onnx_shape(self.graph.types[v.name].shape, v.perm)

    def rank(self, v: Value) -> int:
        return len(self.shape(v))

    def dtype(self, v: Value) -> DType:
        if isinstance(v, Const):
            return DType.from_numpy(v.array.dtype)
        return self.graph.types[v.name].dtype

    def const(self, v: Value | None, what: str) -> np.ndarray:
        if v is None:
            raise Unsupported(f"{what} is missing")
        if not isinstance(v, Const):
            raise Unsupported(f"{what} is computed at run time; qcomp needs it constant (an initializer "
                              f"or a subgraph of constants and shapes)")
        return v.array

    def val(self, v: Value | None, what: str = "input 0") -> Val:
        """A run-time input (Unsupported when it is a constant but other inputs are not)."""
        if not isinstance(v, Val):
            raise Unsupported(f"{what} is {'missing' if v is None else 'a constant'} while other inputs are "
                              f"computed at run time; qcomp supports this op with a run-time {what}")
        return v

    def plain(self, v: Value) -> str:
        """The IR value holding `v` in ONNX layout."""
        return self.ir(v, layout.identity(self.rank(v)))

    def axis(self, axis: int, rank: int, what: str = "axis") -> int:
        a = axis + rank if axis < 0 else axis
        if not 0 <= a < rank:
            raise Unsupported(f"{what} {axis} is out of range for rank {rank}")
        return a

    # ---- IR values in a chosen layout --------------------------------------------------------
    def constant(self, array: np.ndarray, base: str) -> str:
        """An IR constant holding `array` (deduplicated by name and content)."""
        arr = np.ascontiguousarray(array).reshape(np.shape(array))   # ascontiguousarray makes a 0-d array 1-d
        key = (base, arr.dtype.str, arr.shape, hashlib.blake2b(arr.tobytes(), digest_size=16).digest())
        if key not in self._consts:
            taken = base in self.graph.types or base in self._node_names
            name = self.fresh(base + "_c") if taken else base
            self._consts[key] = self.graph.add_constant(name, arr)
        return self._consts[key]

    def ir(self, v: Value, perm: Perm | None = None) -> str:
        """The IR value name holding `v` in layout `perm` (default: ONNX layout for constants, the
        value's own layout otherwise), inserting a Transpose (or a free Reshape) when needed."""
        if isinstance(v, Const):
            p = perm if perm is not None else layout.identity(v.array.ndim)
            base = v.name if layout.is_identity(p) else f"{v.name}_{'nhwc' if p == layout.NHWC else 'perm'}"
            return self.constant(np.transpose(v.array, p), base)
        if perm is None or perm == v.perm:
            return v.name
        key = (v.name, perm)
        if key not in self._layouts:
            src = self.graph.types[v.name].shape
            t = layout.transpose_between(v.perm, perm)
            suffix = "nhwc" if perm == layout.NHWC else ("onnx" if layout.is_identity(perm) else "perm")
            out = self.fresh(f"{v.name}_{suffix}")
            if layout.only_moves_unit_dims(src, t):
                op: Op = irops.Reshape(tuple(src[a] for a in t))
            else:
                op = irops.Transpose(t)
            self._layouts[key] = self.emit(op, [v.name], out=out, suffix=f"to_{suffix}")[0]
        return self._layouts[key]

    def nhwc(self, v: Value) -> str:
        """`v` in channels-last layout (NHWC for rank 4)."""
        return self.ir(v, layout.channels_last(self.rank(v)))

    def reshaped(self, v: Value, shape: tuple[int, ...], suffix: str = "reshape", out: str | None = None) -> str:
        """An IR value holding v's data (ONNX row-major order) reshaped to `shape`. When v's layout
        only moves size-1 dims its IR data already is in ONNX order and one Reshape suffices."""
        shape = tuple(int(d) for d in shape)
        if isinstance(v, Const):
            return self.constant(v.array.reshape(shape), v.name)
        src = self.graph.types[v.name].shape
        name = v.name
        if not layout.only_moves_unit_dims(src, layout.transpose_between(v.perm, layout.identity(len(src)))):
            name = self.plain(v)
        if self.graph.types[name].shape == shape:
            return name
        return self.emit(irops.Reshape(shape), [name], out=out, suffix=suffix)[0]

    # ---- emitting ----------------------------------------------------------------------------
    def emit(self, op: Op, inputs: list[str], out: str | list[str] | None = None,
             suffix: str | None = None, out_types: list[TensorType] | None = None) -> list[str]:
        """Append an IR node for the current ONNX node. The node is named after the ONNX node
        (plus "/suffix" for helper nodes); outputs default to fresh names."""
        base = self.node_name if suffix is None else f"{self.node_name}/{suffix}"
        n_out = irops.output_count(op)
        if out is None:
            outs = tuple(self.fresh(base if n_out == 1 else f"{base}:{k}") for k in range(n_out))
        else:
            outs = (out,) if isinstance(out, str) else tuple(out)
        name = self._node_name(base, outs)
        if out_types is None:
            out_types = op.infer([self.graph.types[i] for i in inputs])
        for t in out_types:
            if (nbytes := too_big(t)) is not None:
                raise Unsupported(f"its result would have shape {t.shape} ({nbytes:,} bytes of {t.dtype.value}); "
                                  f"qcomp compiles tensors of at most {MAX_TENSOR_BYTES:,} bytes")
        node = self.graph.add_node(op, inputs, name, outputs=list(outs), out_types=out_types)
        self._node_names.add(node.name)
        # Graph.add_node renames an output that equals an earlier node's name; value and node names
        # are separate namespaces in ONNX, so keep the ONNX value name.
        if node.outputs != outs and not any(o in self.graph.types for o in outs):
            for got, want in zip(node.outputs, outs):
                self.graph.types[want] = self.graph.types.pop(got)
            node.outputs = outs
        return list(node.outputs)

    def out_name(self, k: int = 0) -> str:
        """The name for the IR value of the current node's k-th ONNX output (fresh if taken)."""
        assert self.node is not None
        name = self.node.output[k]
        return name if name not in self.graph.types and name not in self._node_names else self.fresh(name)

    def rename(self, old: str, new: str) -> None:
        """Rename an IR value (node output or constant) everywhere: graph, environment, caches."""
        g = self.graph
        g.types[new] = g.types.pop(old)
        if old in g.constants:
            g.constants[new] = g.constants.pop(old)
            self._consts = {k: (new if v == old else v) for k, v in self._consts.items()}
        for n in g.nodes:
            n.outputs = tuple(new if o == old else o for o in n.outputs)
            n.inputs = tuple(new if i == old else i for i in n.inputs)
        g.outputs = [new if o == old else o for o in g.outputs]
        self.env = {k: (Val(new, v.perm) if isinstance(v, Val) and v.name == old else v)
                    for k, v in self.env.items()}
        self._layouts = {((new if s == old else s), p): (new if t == old else t)
                         for (s, p), t in self._layouts.items()}
        self.quant.rename(old, new)
