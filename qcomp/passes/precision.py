"""`--precision NAME=int16|int8|float` (repeatable, and `precision` in the TOML config): per-node precision.

NAME is a node name of the model, or a tensor (value) name, which means the node producing it
(`qcomp inspect MODEL` lists both). The kinds:

- `float`: the node computes in float between a Dequantize and a Quantize, exactly as `--skip NODE`
  keeps it (the two are merged into the quantizer's one skip set). Only on targets with float math:
  the C backend (dsp-c, cortex-m4) has integer kernels only and is refused before any work.
- `int8`: the default for every quantizable node; naming a node that `--skip` also names is a
  contradiction and refused.
- `int16`: the tensor (a tensor name, or every output of a named node; a graph input may be named
  too) is an int16 activation, symmetric on the int16 grid of its calibrated range, and the nodes
  reading or writing it compute in A16W8 where they have that form (passes/quantize16.py gives
  the rules). Needs calibration (`--quant full`); a target whose backend has no A16W8 kernel for
  a resulting node refuses it by name at build (protocol.check_nodes).

Helper of qcomp/builder.py (no pass here): `parse_precision` checks the syntax, `float_nodes` and
`int16_values` resolve the names against the FLOAT graph (after FLOAT_PASSES: fused activations and
folded BatchNorms carry the name of the node they were folded into, so a tensor name of the model
resolves to whichever node now produces it).
"""
from __future__ import annotations

from ..errors import QcompError
from ..ir import Graph

KINDS = ("int8", "float", "int16")
NO_FLOAT_BACKENDS = ("c",)   # integer kernels only (qcomp/codegen/c: float ops are refused)


def parse_precision(entries) -> dict[str, str]:
    """NAME -> kind from NAME=KIND strings; one clear error for a malformed entry."""
    out: dict[str, str] = {}
    if isinstance(entries, str):   # one NAME=KIND given as a string (the API)
        entries = (entries,)
    for entry in entries:
        name, sep, kind = str(entry).partition("=")
        name, kind = name.strip(), kind.strip().lower()
        if not sep or not name or kind not in KINDS:
            raise QcompError(f"--precision {entry!r}: expected NAME=int16, NAME=int8 or NAME=float (a node or "
                             f"tensor name of the model, `qcomp inspect MODEL` lists them)")
        if out.get(name, kind) != kind:
            raise QcompError(f"--precision names {name!r} twice, as {out[name]} and as {kind}; keep one")
        out[name] = kind
    return out


def float_nodes(g: Graph, precision: dict[str, str], skip=(), before: Graph | None = None) -> frozenset[str]:
    """The node names `precision` keeps in float, resolved on the FLOAT graph `g` (after the float
    passes); `before`, the graph as imported, resolves the name of a node folded away (a Relu) to
    the node now producing its output."""
    resolved = _resolve(g, precision, before)
    both = sorted(n for n, k in resolved.items() if k == "int8" and n in set(skip))
    if both:
        raise QcompError(f"--precision {both[0]}=int8 contradicts --skip {both[0]} (which keeps it in float); "
                         f"keep one")
    return frozenset(n for n, k in resolved.items() if k == "float")


def int8_nodes(g: Graph, precision: dict[str, str], before: Graph | None = None) -> frozenset[str]:
    """The node names `precision` names int8 (resolved like float_nodes): the int16 recurrent state
    rule (passes/state16.py) leaves their outputs int8."""
    if "int8" not in precision.values():
        return frozenset()
    return frozenset(n for n, k in _resolve(g, precision, before).items() if k == "int8")


def _resolve(g: Graph, precision: dict[str, str], before: Graph | None) -> dict[str, str]:
    """node name -> kind for every entry (one error listing the names that are no node or tensor)."""
    nodes = {n.name for n in g.nodes}
    producers = {v: n.name for n in g.nodes for v in n.outputs}
    folded = {n.name: n.outputs[0] for n in (before.nodes if before is not None else ()) if n.outputs}
    made_by = {v: n.name for n in (before.nodes if before is not None else ()) for v in n.outputs}
    resolved, unknown = {}, []
    for name, kind in precision.items():
        node = name if name in nodes else producers.get(name, producers.get(folded.get(name, "")))
        if node is None:                                   # a tensor folded away: the node now computing it
            node = _folded_into(name, made_by, before, nodes)
        if node is None and not (kind == "int16" and name in g.inputs):
            unknown.append(name)
        elif node is not None:
            resolved[node] = kind
    if unknown:
        raise QcompError(f"--precision names no node or tensor of the model: {', '.join(sorted(unknown))}; "
                         f"`qcomp inspect MODEL` lists the node names, `qcomp inspect --ir MODEL` the tensors")
    return resolved


def _folded_into(tensor: str, made_by: dict[str, str], before: Graph | None, nodes) -> str | None:
    """The node of the float graph that computes a tensor of the imported graph folded away: its
    producer, or (that one folded too: a BatchNorm into its Conv, a layout Transpose) the producer
    of its first input, and so on."""
    by_name = {n.name: n for n in (before.nodes if before is not None else ())}
    seen = set()
    while tensor in made_by and tensor not in seen:
        seen.add(tensor)
        if made_by[tensor] in nodes:
            return made_by[tensor]
        producer = by_name[made_by[tensor]]
        if not producer.inputs:
            return None
        tensor = producer.inputs[0]
    return None


def int16_values(g: Graph, precision: dict[str, str], skip=(), before: Graph | None = None) -> frozenset[str]:
    """The values of the FLOAT graph `g` that `precision` makes int16: a tensor named (or, when it
    was folded away, the output of the node now producing it), every output of a node named, a
    graph input named. A node both int16 and --skip'ped is a contradiction."""
    names = {name for name, kind in precision.items() if kind == "int16"}
    if not names:
        return frozenset()
    _resolve(g, {n: "int16" for n in names}, before)   # the unknown names, refused
    by_name = {n.name: n for n in g.nodes}
    producers = {v: n for n in g.nodes for v in n.outputs}
    folded = {n.name: n.outputs[0] for n in (before.nodes if before is not None else ()) if n.outputs}
    made_by = {v: n.name for n in (before.nodes if before is not None else ()) for v in n.outputs}
    values = set()
    for name in sorted(names):
        if name in g.inputs or name in producers:
            named = [name]
        elif name in by_name:
            named = by_name[name].outputs
        elif _folded_into(name, made_by, before, by_name) is not None:   # a tensor folded away
            named = by_name[_folded_into(name, made_by, before, by_name)].outputs
        else:                                       # a folded node's name
            named = producers[folded[name]].outputs
        floats = [v for v in named if g.types[v].dtype.is_float]
        if not floats:
            raise QcompError(f"--precision {name}=int16: {name!r} is no float activation (it is "
                             f"{g.types[named[0]].dtype.value}); int16 applies to quantized activations only")
        values.update(floats)
    skipped = sorted(producers[v].name for v in values if v in producers and producers[v].name in set(skip))
    if skipped:
        raise QcompError(f"--precision {skipped[0]}=int16 contradicts --skip {skipped[0]} (which keeps it in "
                         f"float); keep one")
    return frozenset(values)


def check_float_target(precision: dict[str, str], target) -> None:
    """Refuse `float` entries on a target without float math, before any work."""
    floats = sorted(n for n, k in precision.items() if k == "float")
    if floats and target.backend in NO_FLOAT_BACKENDS:
        raise QcompError(f"--precision {floats[0]}=float: target {target.name!r} has no float math (integer "
                         f"kernels only); keep it int8, or build for a target with float (x86-vnni, arm-sdot, "
                         f"cuda, ref)")
