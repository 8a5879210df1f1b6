"""The layers of ARCHITECTURE.md section 1, enforced by walking every module's imports."""
import ast
from pathlib import Path

import pytest

from qcomp.protocol import BACKENDS

ROOT = Path(__file__).resolve().parents[1] / "qcomp"

# layer -> qcomp layers it may import (besides itself and the leaf module qcomp.errors)
ALLOWED = {
    "ir": set(),
    "fixedpoint": set(),
    "abi": {"resources"},       # the facts of runtime/qcomp.h (status codes, dtypes, alignment)
    "ref": {"ir", "fixedpoint", "protocol"},
    "frontend": {"ir"},
    "passes": {"ir", "fixedpoint", "ref", "abi"},
    "codegen": {"ir", "fixedpoint", "target", "resources", "passes", "abi", "protocol"},
    "runtime": {"abi"},
    "target": {"resources", "protocol"},
    "protocol": set(),   # the backend protocol and registry: a leaf, read by target, ref, codegen, builder
    "resources": set(),
    "errors": set(),
    "calibdata": set(),
    "int_io": set(),            # integer model I/O of artifacts and the float reference (api-level helpers)
    "int_codes": {"ir", "ref"},   # QCOMP_MODEL_CODES runs of artifacts (api-level: the ref target's codes graph)
    "report": {"ir", "ref", "passes", "fixedpoint", "builder", "calibdata", "accuracy"},   # api-level: quantizes as build does
    "accuracy": {"ir", "ref", "passes", "fixedpoint", "builder", "calibdata", "target", "int_io", "protocol"},   # api-level: sensitivity, --accuracy
}
# third-party modules only some layers may import
EXCLUSIVE = {"onnx": {"frontend"}, "llvmlite": {"codegen"}, "jinja2": {"codegen"}}


def imports(source: str, package: list[str]) -> list[tuple[str, int]]:
    """Absolute module names imported by `source`, which lives in `package` (e.g. ["qcomp", "ir"])."""
    out = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            out += [(a.name, node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1])
                if node.module:
                    out.append((f"{base}.{node.module}", node.lineno))
                else:
                    out += [(f"{base}.{a.name}", node.lineno) for a in node.names]
            else:
                out.append((node.module or "", node.lineno))
    return out


def violations(layer: str, imported: list[tuple[str, int]]) -> list[str]:
    bad = []
    for mod, line in imported:
        parts = mod.split(".")
        if parts[0] == "qcomp":
            target = parts[1] if len(parts) > 1 else "qcomp"
            if target not in (layer, "errors") and target not in ALLOWED[layer]:
                bad.append(f"line {line}: {mod}")
        elif parts[0] in EXCLUSIVE and layer not in EXCLUSIVE[parts[0]]:
            bad.append(f"line {line}: {mod} (only {sorted(EXCLUSIVE[parts[0]])} may import it)")
    return bad


def _layer(path: Path) -> str:
    return path.relative_to(ROOT).parts[0].removesuffix(".py")


SOURCES = sorted(p for p in ROOT.rglob("*.py") if _layer(p) in ALLOWED)


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_module_respects_layers(path):
    package = ["qcomp", *path.relative_to(ROOT).parts[:-1]]
    bad = violations(_layer(path), imports(path.read_text(), package))
    assert not bad, f"{path.relative_to(ROOT)} imports across layers: {bad}"


def test_checker_catches_violations():
    src = "from ..ref import run_float\nimport llvmlite.binding\nfrom . import onnx_ops\nfrom ..ir import Graph\n"
    bad = violations("frontend", imports(src, ["qcomp", "frontend"]))
    assert bad == ["line 1: qcomp.ref", "line 2: llvmlite.binding (only ['codegen'] may import it)"]


def _module_file(name: str) -> Path:
    path = ROOT.parent.joinpath(*name.split("."))
    return path / "__init__.py" if path.is_dir() else path.with_suffix(".py")


@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_every_registered_backend_has_the_protocol(backend):
    """qcomp/protocol.py BACKENDS: each module defines check(graph, target) and emit(graph, target,
    out_dir, *, options), the only entry points the builder uses, and its EMITTERS table."""
    path = _module_file(BACKENDS[backend])
    assert path.is_file(), f"BACKENDS[{backend!r}] = {BACKENDS[backend]!r} names no module"
    body = ast.parse(path.read_text()).body
    defs = {n.name: n for n in body if isinstance(n, ast.FunctionDef)}
    assert "check" in defs and "emit" in defs, f"{path.relative_to(ROOT.parent)} lacks check() or emit()"
    tables = {t.id for n in body if isinstance(n, (ast.Assign, ast.AnnAssign))
              for t in (n.targets if isinstance(n, ast.Assign) else [n.target]) if isinstance(t, ast.Name)}
    assert "EMITTERS" in tables, f"{path.relative_to(ROOT.parent)} has no EMITTERS table (check, docs/ops.md)"
    assert [a.arg for a in defs["check"].args.args] == ["graph", "target"]
    assert [a.arg for a in defs["emit"].args.args] == ["graph", "target", "out_dir"], \
        "emit's backend-specific options must be keyword-only"


def test_every_layer_is_known():
    layers = {_layer(p) for p in ROOT.rglob("*.py")} - {"__init__", "__main__", "api", "cli", "builder", "staging", "artifact",
                                                         "bench", "layer_profile", "coverage", "cli_commands"}
    assert layers <= set(ALLOWED), f"modules outside the layer table: {layers - set(ALLOWED)}"
