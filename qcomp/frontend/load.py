"""Reading an ONNX model: file or ModelProto in, a private ModelProto copy and its identity out.

Every way a model can fail to load becomes a ModelLoadError that says what is wrong and what to
do: a missing file, bytes that are not an ONNX protobuf (or a truncated one: a cut inside a
message fails to parse, a cut between messages loses `opset_import`, which ONNX stores after the
graph), a missing external data file, an opset of the default domain outside 11..21.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass

import onnx
from onnx import external_data_helper

from ..errors import ModelLoadError

MIN_OPSET, MAX_OPSET = 11, 21
DEFAULT_DOMAINS = ("", "ai.onnx")


@dataclass(frozen=True)
class Loaded:
    model: onnx.ModelProto       # a private copy: the importer may change input shapes in it
    sha256: str                  # of the file bytes, or of the serialized ModelProto
    source: str                  # the path, or "<ModelProto>"
    base_dir: str | None         # where external data files live
    converted_from: int | None = None   # the model's own opset when convert_opset upgraded it


def load(model: str | os.PathLike | onnx.ModelProto) -> Loaded:
    if isinstance(model, onnx.ModelProto):
        copy = onnx.ModelProto()
        copy.CopyFrom(model)
        data = model.SerializeToString()
        loaded = Loaded(copy, hashlib.sha256(data).hexdigest(), "<ModelProto>", None)
    else:
        path = os.fspath(model)
        if not os.path.isfile(path):
            raise ModelLoadError(f"model file {path!r} does not exist (or is not a file); check the path")
        with open(path, "rb") as f:
            data = f.read()
        proto = onnx.ModelProto()
        try:
            proto.ParseFromString(data)
        except Exception:  # noqa: BLE001 - protobuf raises DecodeError and others
            raise ModelLoadError(f"{path!r} is not a valid ONNX model: it does not parse as an ONNX protobuf "
                                 f"({len(data):,} bytes). Is the file truncated or not a .onnx file?") from None
        loaded = Loaded(proto, hashlib.sha256(data).hexdigest(), path, os.path.dirname(os.path.abspath(path)))
    _check_structure(loaded)
    _load_external_data(loaded)
    return _upgraded(loaded)


def _upgraded(m: Loaded) -> Loaded:
    """An opset-7..10 model converted to opset 11 (convert_opset.py); any other model unchanged."""
    from .convert_opset import CONVERTIBLE_FROM, upgrade
    versions = [int(o.version) for o in m.model.opset_import if o.domain in DEFAULT_DOMAINS]
    if not versions or not CONVERTIBLE_FROM <= versions[0] < MIN_OPSET:
        return m
    return Loaded(upgrade(m.model, m.source, versions[0]), m.sha256, m.source, m.base_dir, versions[0])


def _check_structure(m: Loaded) -> None:
    p = m.model
    if p.ir_version <= 0 or not p.HasField("graph"):
        raise ModelLoadError(f"{m.source} is not an ONNX model (no IR version or no graph). Is the file "
                             f"truncated or not a .onnx file?")
    if not p.opset_import:
        raise ModelLoadError(f"{m.source} declares no opset_import; the file is truncated or was not written "
                             f"by an ONNX exporter")
    if not p.graph.output:
        raise ModelLoadError(f"{m.source}: the graph has no outputs; the file is truncated or invalid")
    bad = _first_non_text(p)
    if bad:
        raise ModelLoadError(f"{m.source}: {bad} is not valid UTF-8 text; the file is corrupt")


def _first_non_text(p: onnx.ModelProto) -> str | None:
    """Where a name that must be text is not (protobuf hands out bytes for a corrupt string field)."""
    g = p.graph
    for o in p.opset_import:
        if not isinstance(o.domain, str):
            return "an opset_import domain"
    for kind, seq in (("graph input", g.input), ("graph output", g.output), ("initializer", g.initializer)):
        for k, v in enumerate(seq):
            if not isinstance(v.name, str):
                return f"the name of {kind} #{k}"
    for k, nd in enumerate(g.node):
        fields = [nd.op_type, nd.domain, nd.name, *nd.input, *nd.output, *(a.name for a in nd.attribute)]
        if not all(isinstance(f, str) for f in fields):
            return f"a name, op type or attribute name of node #{k}"
    return None


def default_opset(m: Loaded) -> int:
    versions = [o.version for o in m.model.opset_import if o.domain in DEFAULT_DOMAINS]
    if not versions:
        raise ModelLoadError(f"{m.source} does not import the default ONNX domain (ai.onnx); qcomp compiles "
                             f"models of opsets {MIN_OPSET} to {MAX_OPSET}")
    v = int(versions[0])
    if not MIN_OPSET <= v <= MAX_OPSET:
        raise ModelLoadError(
            f"{m.source} uses opset {v} of the default ONNX domain; qcomp supports opsets {MIN_OPSET} to "
            f"{MAX_OPSET} (and converts opsets 7 to 10 on import). Convert it first, for example: onnx.save(onnx.version_converter.convert_version("
            f"onnx.load(path), 17), 'model_opset17.onnx')")
    return v


def domain_opset(m: Loaded, domain: str) -> int | None:
    want = DEFAULT_DOMAINS if domain in DEFAULT_DOMAINS else (domain,)
    return next((int(o.version) for o in m.model.opset_import if o.domain in want), None)


def _external_tensors(p: onnx.ModelProto) -> list[onnx.TensorProto]:
    tensors = list(p.graph.initializer) + [a.t for n in p.graph.node for a in n.attribute
                                           if a.type == onnx.AttributeProto.TENSOR]
    return [t for t in tensors if external_data_helper.uses_external_data(t)]


def _load_external_data(m: Loaded) -> None:
    tensors = _external_tensors(m.model)
    if not tensors:
        return
    if m.base_dir is None:
        raise ModelLoadError("the ModelProto refers to external data that is not loaded (initializer "
                             f"{tensors[0].name!r}); load it with onnx.load(path) or pass the model's path")
    for t in tensors:
        info = {e.key: e.value for e in t.external_data}
        location = info.get("location", "")
        full = os.path.join(m.base_dir, location)
        if not location or not os.path.isfile(full):
            raise ModelLoadError(f"{m.source}: initializer {t.name!r} keeps its data in the external file "
                                 f"{location!r}, which is missing from {m.base_dir}; copy it next to the model")
    try:
        external_data_helper.load_external_data_for_model(m.model, m.base_dir)
    except Exception as e:  # noqa: BLE001 - a short or unreadable data file
        raise ModelLoadError(f"{m.source}: cannot read the external data ({type(e).__name__}: {e}); is the "
                             f"data file complete?") from None
