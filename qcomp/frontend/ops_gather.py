"""GatherElements, GatherND, ScatterElements, ScatterND with constant indices, and OneHot, as one
Gather from a flat source (no new IR op: every backend runs Gather, Reshape and Concat).

With constant indices, which source element lands at each output position is known at import. It
is computed by running the ONNX op itself (fold.evaluate, onnx.reference: the op's own semantics
at the model's opset, negative indices and batch_dims included) on *positions* instead of values:

    P = arange(size(data)).reshape(shape(data))               the flat position of every element
    GatherElements / GatherND:  map = Op(P, indices)          y = Gather(reshape(data, [-1]), map)
    ScatterElements / ScatterND (reduction "none"):
        U = size(data) + arange(size(updates)).reshape(shape(updates))
        map = Op(P, indices, U)                               y = Gather(Concat(data', updates'), map)

(x' = reshape(x, [-1])). Gather only moves elements, so the result is exact in float and in int8,
where it keeps its input's quant params (the Concat of a scatter requantizes `updates` to the
output's params, as every Concat does). Indices computed at run time take the IR's index ops
instead (frontend/ops_index.py, qcomp/ir/ops_index.py).

Scatter with a reduction (add, mul, max, min): the update elements written to each output position
p are known at import, in their order u_1, u_2, ... (ONNX applies them in index order), so

    y[p] = (((data[p] (op) u_1) (op) u_2) ...)          layer 0 = data, layer L = Gather(sources, map_L)

where map_L[p] is the L-th update of p, or, where p has fewer, a neutral element: a constant 0
(add) or 1 (mul) appended to the sources, or data[p] itself (max, min: idempotent). The layers
combine left to right with the IR's Add / Mul / Max / Min (their own int8 rules), so the float
result rounds exactly as ONNX's sequential loop does.

OneHot(indices, depth, values, axis): depth and values constant; indices at run time (float ones
cast to int64 first, toward zero, as ONNX says). The result
is Gather(T, indices) with T[i] = values[1] at column i and values[0] elsewhere (depth x depth), so
indices in [-depth, depth) select a row as ONNX defines (negative ones count from the end); the
one-hot axis, last in that Gather, moves to `axis` with a layout change (no node). An index outside
[-depth, depth) is an input error at run time (Gather's check), where ONNX gives a row of
values[0]: qcomp refuses rather than guess.
"""
from __future__ import annotations

import numpy as np
import onnx

from ..ir import DType
from ..ir import ops as irops
from . import fold, layout, ops_index
from .context import Attrs, Const, Context, Unsupported, Val, Value


def _indices(ctx: Context, node: onnx.NodeProto, v: Value | None) -> np.ndarray:
    if not isinstance(v, Const):
        also = " (GatherND also with run-time indices of whole rows: last index dim 1, batch_dims 0)" \
            if node.op_type == "GatherND" else ""
        raise Unsupported(f"its indices (input 1) are computed at run time; qcomp supports {node.op_type} with "
                          f"constant indices (an initializer, or computed from shapes), which fix at import "
                          f"which element moves where{also}")
    if not np.issubdtype(v.array.dtype, np.integer):
        raise Unsupported(f"its indices are {v.array.dtype}; ONNX defines them as int32 or int64")
    return v.array


def _source_map(ctx: Context, node: onnx.NodeProto, arrays: list[np.ndarray]) -> np.ndarray:
    """The op run on positions (module docstring): the flat source index of every output element."""
    return fold.evaluate(node, arrays, ctx.opset)[0].astype(np.int64)


def _flat_source(ctx: Context, sources: list[Value]) -> str:
    """Concat of the flattened sources (one IR value)."""
    flat = [ctx.reshaped(v, (int(np.prod(ctx.shape(v), dtype=np.int64)),), suffix=f"flat{k}")
            for k, v in enumerate(sources)]
    return flat[0] if len(flat) == 1 else ctx.emit(irops.Concat(0), flat, suffix="sources")[0]


def _gather_from(ctx: Context, src: str, index: np.ndarray, suffix: str | None = None) -> Val:
    """Gather(src, index) in ONNX layout; named after the node's output unless `suffix` is given."""
    if index.size == 0:
        raise Unsupported("its result is empty; qcomp has no empty tensors")
    idx = ctx.constant(index.astype(np.int64), f"{ctx.node_name}_map")
    y = ctx.emit(irops.Gather(0), [src, idx], out=ctx.out_name() if suffix is None else None, suffix=suffix)[0]
    return Val(y, layout.identity(index.ndim))


def _gather_flat(ctx: Context, sources: list[Value], index: np.ndarray) -> list[Value]:
    """y = Gather(Concat(flattened sources), index), named after the node's output."""
    return [_gather_from(ctx, _flat_source(ctx, sources), index)]


def gather_elements(ctx: Context, node: onnx.NodeProto) -> list[Value]:
    data, idx = ctx.inputs(node)
    if not isinstance(idx, Const):
        return ops_index.gather_elements(ctx, node, data, idx)
    idx_arr = _indices(ctx, node, idx)
    shape = ctx.shape(data)
    pos = np.arange(int(np.prod(shape, dtype=np.int64)), dtype=np.int64).reshape(shape)
    return _gather_flat(ctx, [data], _source_map(ctx, node, [pos, idx_arr]))


def gather_nd(ctx: Context, node: onnx.NodeProto) -> list[Value]:
    """Constant indices: one Gather by the position map. Run-time indices addressing whole rows of
    axis 0 (last index dim 1, batch_dims 0: data[idx[..., 0]]) are a Gather along axis 0 of the
    indices without their last axis (the IR Gather checks each index at run time)."""
    data, idx = ctx.inputs(node)
    if isinstance(idx, Val) and ctx.shape(idx)[-1:] == (1,) and Attrs(node).int("batch_dims", 0) == 0 \
            and ctx.rank(idx) > 1:
        rows = ctx.reshaped(idx, ctx.shape(idx)[:-1], suffix="rows")
        y = ctx.emit(irops.Gather(0), [ctx.plain(data), rows], out=ctx.out_name())[0]
        return [Val(y, layout.identity(len(ctx.graph.types[y].shape)))]
    if not isinstance(idx, Const):
        return ops_index.gather_nd(ctx, node, data, idx)
    return gather_elements(ctx, node)


_REDUCE = {"add": (irops.Add, 0), "mul": (irops.Mul, 1), "max": (irops.Max, None), "min": (irops.Min, None)}


def check_scatter(node: onnx.NodeProto, opset: int) -> list[str]:
    r = Attrs(node).str("reduction", "none")
    return [] if r == "none" or r in _REDUCE else [f"reduction {r!r} is not one of none, add, mul, max, min"]


def _targets(node: onnx.NodeProto, shape: tuple[int, ...], idx: np.ndarray, ushape: tuple[int, ...]) -> np.ndarray:
    """The flat output position each update element (in row-major order) is written to."""
    if node.op_type == "ScatterElements":
        axis = Attrs(node).int("axis", 0)
        axis = axis + len(shape) if axis < 0 else axis
        coords = list(np.indices(ushape))
        coords[axis] = np.where(idx < 0, idx + shape[axis], idx)
        return np.ravel_multi_index(tuple(coords), shape).reshape(-1)
    k = idx.shape[-1]
    lead = np.where(idx < 0, idx + np.array(shape[:k]), idx).reshape(-1, k)
    base = np.ravel_multi_index(tuple(lead.T), shape[:k])
    inner = int(np.prod(shape[k:], dtype=np.int64))
    return (base[:, None] * inner + np.arange(inner)[None, :]).reshape(-1)


def _scatter_reduce(ctx: Context, node: onnx.NodeProto, data: Value, updates: Value, idx: np.ndarray,
                    reduction: str) -> list[Value]:
    """out[p] = data[p] (op) u_1 (op) u_2 ... over the updates written to p, in their order:
    layer 0 is data, layer L the L-th update of each position (or a neutral element: 0 for add, 1
    for mul, data[p] itself for max / min, which are idempotent), combined left to right."""
    shape, ushape = ctx.shape(data), ctx.shape(updates)
    n, nu = int(np.prod(shape, dtype=np.int64)), int(np.prod(ushape, dtype=np.int64))
    try:
        targets = _targets(node, shape, idx, ushape)
    except ValueError as e:
        raise Unsupported(f"its indices {idx.shape} do not address data {shape} with updates {ushape}: {e}") from None
    if targets.size != nu or np.any(targets < 0) or np.any(targets >= n):
        raise Unsupported(f"its indices address positions outside data {shape}")
    op, neutral = _REDUCE[reduction]
    order = np.argsort(targets, kind="stable")
    rank = np.empty(nu, np.int64)
    starts = np.searchsorted(targets[order], targets[order], side="left")
    rank[order] = np.arange(nu) - starts                     # how many earlier updates hit the same position
    sources: list[Value] = [data, updates]
    fill = np.arange(n, dtype=np.int64)
    if neutral is not None:
        sources.append(Const(np.array([neutral], np.dtype(ctx.dtype(data).np)), f"{ctx.node_name}_neutral"))
        fill = np.full(n, n + nu, np.int64)
    src = _flat_source(ctx, sources)
    acc = ctx.plain(data)
    layers = int(rank.max(initial=-1)) + 1
    for layer in range(layers):
        index = fill.copy()
        hit = rank == layer
        index[targets[hit]] = n + np.flatnonzero(hit)
        part = _gather_from(ctx, src, index.reshape(shape), suffix=f"layer{layer}")
        last = layer == layers - 1
        acc = ctx.emit(op(), [acc, part.name], out=ctx.out_name() if last else None,
                       suffix=None if last else f"combine{layer}")[0]
    return [Val(acc, layout.identity(len(shape)))]


def scatter(ctx: Context, node: onnx.NodeProto) -> list[Value]:
    data, idx, updates = ctx.inputs(node)
    if not isinstance(idx, Const):
        if ctx.dtype(data) != ctx.dtype(updates):
            raise Unsupported(f"data is {ctx.dtype(data).value} but updates are {ctx.dtype(updates).value}")
        return ops_index.scatter(ctx, node, data, idx, updates)
    idx_arr = _indices(ctx, node, idx)
    if ctx.dtype(data) != ctx.dtype(updates):
        raise Unsupported(f"data is {ctx.dtype(data).value} but updates are {ctx.dtype(updates).value}")
    reduction = Attrs(node).str("reduction", "none")
    if reduction != "none":
        return _scatter_reduce(ctx, node, data, updates, idx_arr, reduction)
    shape, ushape = ctx.shape(data), ctx.shape(updates)
    n = int(np.prod(shape, dtype=np.int64))
    pos = np.arange(n, dtype=np.int64).reshape(shape)
    upd = n + np.arange(int(np.prod(ushape, dtype=np.int64)), dtype=np.int64).reshape(ushape)
    index = _source_map(ctx, node, [pos, idx_arr, upd])
    sources = [data] + ([updates] if np.any(index >= n) else [])
    return _gather_flat(ctx, sources, index)


def one_hot(ctx: Context, node: onnx.NodeProto) -> list[Value]:
    idx, depth_v, values_v = ctx.inputs(node)
    x = ctx.val(idx, "indices (input 0)")
    if ctx.dtype(x).is_float:   # ONNX casts float indices to int64 (toward zero)
        x = Val(ctx.emit(irops.Cast(DType.INT64), [x.name], suffix="indices")[0], x.perm)
    elif ctx.dtype(x).value not in ("i32", "i64"):
        raise Unsupported(f"its indices are {ctx.dtype(x).value}; qcomp supports float, int32 and int64 indices")
    depth_a = ctx.const(depth_v, "depth (input 1)").reshape(-1)
    values = ctx.const(values_v, "values (input 2)").reshape(-1)
    if depth_a.size != 1 or values.size != 2:
        raise Unsupported(f"depth must be one value and values two (off, on); got {depth_a.size} and {values.size}")
    depth = int(depth_a[0])
    if depth < 1:
        raise Unsupported(f"depth {depth} must be positive")
    r = ctx.rank(x) + 1
    axis = ctx.axis(Attrs(node).int("axis", -1), r)
    table = np.where(np.eye(depth, dtype=bool), values[1], values[0]).astype(values.dtype)
    t = ctx.constant(table, f"{ctx.node_name}_table")
    y = ctx.emit(irops.Gather(0), [t, ctx.plain(x)], out=ctx.out_name())[0]
    # the Gather's IR axes are (indices..., depth); ONNX axis `axis` is that last IR axis
    perm = tuple(a if a < axis else a + 1 for a in range(r - 1)) + (axis,)
    return [Val(y, perm)]


def top_k(ctx: Context, node: onnx.NodeProto) -> list[Value]:
    """TopK with a constant K: the IR TopK along the axis in x's layout (sorted=0 leaves the order to
    the implementation in ONNX; qcomp returns the sorted order, as onnxruntime does)."""
    ins = ctx.inputs(node)
    x = ctx.val(ins[0])
    a = Attrs(node)
    k_arr = ctx.const(ins[1] if len(ins) > 1 else None, "K (input 1)").reshape(-1)
    if k_arr.size != 1 or not np.issubdtype(k_arr.dtype, np.integer):
        raise Unsupported(f"K must be one int64 value; got {k_arr.size} of {k_arr.dtype}")
    axis = ctx.axis(a.int("axis", -1), ctx.rank(x))
    k, n = int(k_arr[0]), ctx.shape(x)[axis]
    if not 1 <= k <= n:
        raise Unsupported(f"K {k} must be in 1..{n} (the size of axis {axis}); qcomp has no empty tensors")
    op = irops.TopK(x.perm.index(axis), k, bool(a.int("largest", 1)))
    outs = [o if o and o not in ctx.graph.types else ctx.fresh(o or f"{ctx.node_name}:{j}")
            for j, o in enumerate(node.output[:2])]
    names = ctx.emit(op, [x.name], out=outs)
    return [Val(names[0], x.perm), Val(names[1], x.perm)]


CONVERTERS = {"GatherElements": gather_elements, "GatherND": gather_nd, "ScatterElements": scatter,
              "ScatterND": scatter, "OneHot": one_hot, "TopK": top_k}
CHECKS = {"ScatterElements": check_scatter, "ScatterND": check_scatter}
