"""`--precision NAME=int8|float` (repeatable, and `precision` in the TOML config): per-node precision.

NAME is a node name of the model, or a tensor (value) name, which means the node producing it
(`qcomp inspect MODEL` lists both). The kinds:

- `float`: the node computes in float between a Dequantize and a Quantize, exactly as `--skip NODE`
  keeps it (the two are merged into the quantizer's one skip set). Only on targets with float math:
  the C backend (dsp-c, cortex-m4) has integer kernels only and is refused before any work.
- `int8`: the default for every quantizable node; naming a node that `--skip` also names is a
  contradiction and refused.
- `int16`: parsed, and refused: int16 activations (A16W8) have a numeric specification
  (qcomp/fixedpoint/int16.py) that no pass or backend compiles yet.

Helper of qcomp/builder.py (no pass here): `parse_precision` checks the syntax, `float_nodes`
resolves the names against the FLOAT graph (after FLOAT_PASSES: fused activations and folded
BatchNorms carry the name of the node they were folded into, so a tensor name of the model
resolves to whichever node now produces it).
"""
from __future__ import annotations

from ..errors import QcompError
from ..ir import Graph

KINDS = ("int8", "float", "int16")
NO_FLOAT_BACKENDS = ("c",)   # integer kernels only (qcomp/codegen/c: float ops are refused)


def parse_precision(entries) -> dict[str, str]:
    """NAME -> kind from NAME=KIND strings; one clear error for a malformed or int16 entry."""
    out: dict[str, str] = {}
    if isinstance(entries, str):   # one NAME=KIND given as a string (the API)
        entries = (entries,)
    for entry in entries:
        name, sep, kind = str(entry).partition("=")
        name, kind = name.strip(), kind.strip().lower()
        if not sep or not name or kind not in KINDS:
            raise QcompError(f"--precision {entry!r}: expected NAME=int8 or NAME=float (a node or tensor "
                             f"name of the model, `qcomp inspect MODEL` lists them)")
        if kind == "int16":
            raise QcompError(f"--precision {entry!r}: int16 activations are not implemented yet in this qcomp "
                             f"(their numeric specification exists, no pass or backend compiles it); use "
                             f"{name}=int8, or {name}=float on a target with float math")
        if out.get(name, kind) != kind:
            raise QcompError(f"--precision names {name!r} twice, as {out[name]} and as {kind}; keep one")
        out[name] = kind
    return out


def float_nodes(g: Graph, precision: dict[str, str], skip=(), before: Graph | None = None) -> frozenset[str]:
    """The node names `precision` keeps in float, resolved on the FLOAT graph `g` (after the float
    passes); `before`, the graph as imported, resolves the name of a node folded away (a Relu) to
    the node now producing its output."""
    nodes = {n.name for n in g.nodes}
    producers = {v: n.name for n in g.nodes for v in n.outputs}
    folded = {n.name: n.outputs[0] for n in (before.nodes if before is not None else ()) if n.outputs}
    resolved, unknown = {}, []
    for name, kind in precision.items():
        node = name if name in nodes else producers.get(name, producers.get(folded.get(name, "")))
        if node is None:
            unknown.append(name)
        else:
            resolved[node] = kind
    if unknown:
        raise QcompError(f"--precision names no node or tensor of the model: {', '.join(sorted(unknown))}; "
                         f"`qcomp inspect MODEL` lists the node names, `qcomp inspect --ir MODEL` the tensors")
    both = sorted(n for n, k in resolved.items() if k == "int8" and n in set(skip))
    if both:
        raise QcompError(f"--precision {both[0]}=int8 contradicts --skip {both[0]} (which keeps it in float); "
                         f"keep one")
    return frozenset(n for n, k in resolved.items() if k == "float")


def check_float_target(precision: dict[str, str], target) -> None:
    """Refuse `float` entries on a target without float math, before any work."""
    floats = sorted(n for n, k in precision.items() if k == "float")
    if floats and target.backend in NO_FLOAT_BACKENDS:
        raise QcompError(f"--precision {floats[0]}=float: target {target.name!r} has no float math (integer "
                         f"kernels only); keep it int8, or build for a target with float (x86-vnni, arm-sdot, "
                         f"cuda, ref)")
