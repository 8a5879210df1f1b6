"""Save and load graphs of any stage (the `.qir` file), and hash them.

A `.qir` file is an uncompressed numpy `.npz`: entry `graph.json` holds the structure (name,
stage, inputs, outputs, types with quant params, nodes with their op and attributes, meta, and the
memory plan of a planned TARGET graph) and
entries `c0`, `c1`, ... hold the constants in the order the JSON lists them. Floats are written
with `repr`, which round-trips float64 (and so float32) exactly.

`graph_sha256` hashes the canonical JSON and every constant's dtype, shape and bytes: equal graphs
give equal hashes, whatever the file's zip timestamps.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import zipfile

import numpy as np

from .graph import Graph, Node, Stage
from .memory import MemoryPlan
from .ops import ALL_OPS, Op
from .qops import INTEGER_OPS
from .types import DType, IRError, QuantParams, TensorType

FORMAT = "qcomp-ir/1"
_OPS = {**ALL_OPS, **INTEGER_OPS}


def _encode(v):
    if isinstance(v, Op):
        return {"nested_op": _op_json(v)}
    if isinstance(v, DType):
        return {"dtype": v.value}
    if isinstance(v, (tuple, list)):
        return [_encode(x) for x in v]
    if isinstance(v, (np.integer,)):
        return int(v)
    if isinstance(v, (np.floating,)):
        return float(v)
    return v


def _decode(v):
    if isinstance(v, dict) and set(v) == {"nested_op"}:
        return _op_from(v["nested_op"])
    if isinstance(v, dict) and set(v) == {"dtype"}:
        return DType(v["dtype"])
    if isinstance(v, list):
        return tuple(_decode(x) for x in v)
    return v


def _type_json(t: TensorType) -> dict:
    d = {"shape": list(t.shape), "dtype": t.dtype.value}
    if t.quant is not None:
        d["quant"] = {"scale": [float(s) for s in t.quant.scale], "zero_point": [int(z) for z in t.quant.zero_point],
                      "axis": t.quant.axis}
    return d


def _type_from(d: dict) -> TensorType:
    q = d.get("quant")
    quant = None if q is None else QuantParams(np.array(q["scale"], np.float32), np.array(q["zero_point"]), q["axis"])
    return TensorType(tuple(d["shape"]), DType(d["dtype"]), quant)


def _op_json(op: Op) -> dict:
    return {"op": op.kind, "attrs": {k: _encode(v) for k, v in op.attrs().items()}}


def _op_from(d: dict) -> Op:
    cls = _OPS.get(d["op"])
    if cls is None:
        raise IRError(f"unknown op {d['op']!r} in a .qir file (written by a newer qcomp?)")
    return cls(**{k: _decode(v) for k, v in d["attrs"].items()})


def to_json(g: Graph) -> tuple[bytes, list[np.ndarray]]:
    consts = list(g.constants)
    doc = {
        "format": FORMAT, "name": g.name, "stage": g.stage.name, "inputs": g.inputs, "outputs": g.outputs,
        "types": {k: _type_json(t) for k, t in g.types.items()}, "constants": consts,
        "nodes": [{"name": n.name, **_op_json(n.op), "inputs": list(n.inputs), "outputs": list(n.outputs)}
                  for n in g.nodes],
        "meta": g.meta,
    }
    if g.memory is not None:   # only then: graphs without a plan keep their hash
        m = g.memory
        doc["memory"] = {"offsets": dict(m.offsets), "sizes": dict(m.sizes), "workspace_bytes": m.workspace_bytes,
                         "activation_bytes": m.activation_bytes, "aliases": dict(m.aliases)}
        if m.view_offsets:   # Concat slices: only then, so plans without them keep their hash
            doc["memory"]["view_offsets"] = dict(m.view_offsets)
        if m.view_rows:      # strided Concat slices (ir/memory_concat.py): likewise
            doc["memory"]["view_rows"] = {v: list(r) for v, r in m.view_rows.items()}
        if m.concat_views:
            doc["memory"]["concat_views"] = sorted(m.concat_views)
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode(), [g.constants[c] for c in consts]


def graph_sha256(g: Graph) -> str:
    text, arrays = to_json(g)
    h = hashlib.sha256(text)
    for a in arrays:
        h.update(f"{a.dtype.str}{a.shape}".encode())
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def save_graph(g: Graph, path: str | os.PathLike) -> None:
    text, arrays = to_json(g)
    buf = io.BytesIO()
    np.savez(buf, **{"graph.json": np.frombuffer(text, np.uint8)}, **{f"c{i}": a for i, a in enumerate(arrays)})
    with open(path, "wb") as f:
        f.write(buf.getvalue())


def load_graph(path: str | os.PathLike) -> Graph:
    try:
        with np.load(path, allow_pickle=False) as z:
            doc = json.loads(bytes(z["graph.json"]).decode())
            arrays = [z[f"c{i}"] for i in range(len(doc["constants"]))]
    except (OSError, KeyError, ValueError, zipfile.BadZipFile, json.JSONDecodeError) as e:
        raise IRError(f"{os.fspath(path)!r} is not a readable qcomp graph file ({e})") from None
    if doc.get("format") != FORMAT:
        raise IRError(f"{os.fspath(path)!r} has format {doc.get('format')!r}; this qcomp reads {FORMAT}")
    g = Graph(name=doc["name"], stage=Stage[doc["stage"]], inputs=list(doc["inputs"]),
              outputs=list(doc["outputs"]), meta=dict(doc["meta"]))
    g.types = {k: _type_from(v) for k, v in doc["types"].items()}
    for name, arr in zip(doc["constants"], arrays):
        arr.flags.writeable = False
        g.constants[name] = arr
    g.nodes = [Node(n["name"], _op_from(n), tuple(n["inputs"]), tuple(n["outputs"])) for n in doc["nodes"]]
    if "memory" in doc:
        g.memory = MemoryPlan(**doc["memory"])
    return g


__all__ = ["save_graph", "load_graph", "graph_sha256", "to_json"]
