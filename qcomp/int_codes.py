"""`Artifact.run` and `qcomp run` with the model's own integer codes: no float step.

A model whose inputs/outputs are uint8/int8 codes (manifest "int_dtype", qcomp/int_io.py) runs with
QCOMP_MODEL_CODES (runtime/qcomp.h version 3): every backend takes the codes and returns them, the
uint8 <-> int8-form conversion c = q ^ 0x80 done inside the artifact (qcomp.ir.io_codes); the ref
target does the same on its graph (ref_codes_graph: the input's Quantize replaced by the input in
its int8 form, exactly what the compiled artifacts' copy does).

    plan(manifest, feeds) -> True   every integer input is fed its codes in the model's dtype, and
                                    every integer tensor has an exact codes form (manifest
                                    "int_codes", written by the builder from the lowered graph)
                          -> False  run as before (a float feed for an integer input: its reals;
                                    an artifact built before version 3; a tensor computed in float)
    a feed of another integer dtype for an integer input: one InputError naming the input
raw=True (`--raw`) keeps its contract: every output in its int8 form, a code turned back by the
same xor (int8 form = code ^ 0x80 for uint8).
"""
from __future__ import annotations

import numpy as np

from .errors import InputError
from .ir import DType, TensorType
from .ir.io_codes import MASK, model_inputs, model_outputs

_MASK = {"uint8": MASK[DType.UINT8], "int8": MASK[DType.INT8]}


def plan(manifest: dict, feeds: dict) -> bool:
    entries = manifest["inputs"] + manifest["outputs"]
    ints = [t for t in manifest["inputs"] if "int_dtype" in t and t["name"] in feeds]
    kinds = {np.asarray(feeds[t["name"]]).dtype.kind == "f" for t in ints}
    for t in ints:
        a = np.asarray(feeds[t["name"]])
        if a.dtype.kind != "f" and a.dtype != np.dtype(t["int_dtype"]):
            raise InputError(f"input {t['name']!r} has dtype {a.dtype}, expected {t['int_dtype']} (the model's "
                             f"integer codes) or float32 (their reals)")
    return (bool(ints) and kinds == {False} and all(t.get("int_codes") for t in entries if "int_dtype" in t))


def mark_codes(entries: list[dict], lowered) -> None:
    """Manifest rows (builder) of integer tensors whose codes form is exact on the lowered graph gain
    "int_codes": true (qcomp.ir.io_codes; a backend's own rewrites keep it exact)."""
    stated = dict(zip(lowered.inputs, model_inputs(lowered))) | dict(zip(lowered.outputs, model_outputs(lowered)))
    for e in entries:
        m = stated.get(e["name"])
        if m is not None and m.has_codes and m.exact and "int_dtype" in e:
            e["int_codes"] = True


def feeds_manifest(manifest: dict) -> dict:
    """The manifest as check_feeds sees a codes run: integer inputs in the model's dtype."""
    return {**manifest, "inputs": [dict(t, dtype=t["int_dtype"]) if "int_dtype" in t else t
                                   for t in manifest["inputs"]]}


def raw_forms(manifest: dict, outs: dict) -> dict:
    """Outputs of a codes run, raw=True: integer codes back to their int8 forms (c = q ^ mask)."""
    out = dict(outs)
    for t in manifest["outputs"]:
        if "int_dtype" in t:
            out[t["name"]] = (np.asarray(outs[t["name"]]).view(np.uint8) ^ np.uint8(_MASK[t["int_dtype"]])).view(
                np.int8)
    return out


def ref_codes_graph(graph):
    """The TARGET graph with every codes input taken in its int8 form: the Quantizes reading it are
    removed and their readers read the input, typed int8 with the Quantize's params."""
    g = graph.copy()
    rename: dict[str, str] = {}
    for v, m in zip(graph.inputs, model_inputs(graph)):
        if m.has_codes:
            q = graph.types[m.nodes[0].outputs[0]]
            g.types[v] = TensorType(graph.types[v].shape, DType.INT8, q.quant)
            rename.update({n.outputs[0]: v for n in m.nodes})
    g.nodes = [n for n in g.nodes if not (n.outputs[0] in rename and n.inputs[0] == rename[n.outputs[0]])]
    for n in g.nodes:
        n.inputs = tuple(rename.get(i, i) for i in n.inputs)
    return g


def run_ref(graph, feeds: dict, raw: bool) -> dict:
    """The ref target's codes run (qcomp.ref.run_integer on ref_codes_graph): codes in, codes out."""
    from .ref import run_integer
    ins = dict(zip(graph.inputs, model_inputs(graph)))
    fed = {k: ((np.asarray(a).view(np.uint8) ^ np.uint8(ins[k].mask)).view(np.int8) if ins[k].has_codes else a)
           for k, a in feeds.items()}
    codes = {v: m for v, m in zip(graph.outputs, model_outputs(graph)) if m.has_codes}
    sources = {m.nodes[0].inputs[0]: v for v, m in codes.items()}
    captured: dict[str, np.ndarray] = {}

    def capture(name: str, value: np.ndarray) -> None:
        if name in sources:
            captured[sources[name]] = value
    outs = run_integer(ref_codes_graph(graph), fed, on_value=capture, raw=raw)
    for v, m in codes.items():
        outs[v] = (captured[v].view(np.uint8) ^ np.uint8(m.mask)).view(m.dtype.np)
    return outs
