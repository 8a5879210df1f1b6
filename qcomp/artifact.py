"""Artifacts: a directory with `manifest.json` and the compiled model (ARCHITECTURE.md section 4).

`load(path)` reads and checks the manifest first (format version, target, the host's features)
before it touches any code, then returns an `Artifact` whose `run(feeds, raw=False)` executes it.
The `ref` target's artifact holds the quantized graph (`model.qir`), lowered and interpreted by the
integer reference on load.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import __version__
from .errors import QcompError

FORMAT_VERSION = 1
MANIFEST = "manifest.json"


def tensor_entry(name: str, t, layout: str, quant) -> dict:
    """One manifest row for an input or output: name, shape, dtype, layout, int8 quant params."""
    entry = {"name": name, "shape": list(t.shape), "dtype": str(t.dtype.np), "layout": layout}
    if quant is not None:
        entry["quant"] = {"scale": float(quant.scale[0]), "zero_point": int(quant.zero_point[0])}
    return entry


def write_manifest(out: Path, manifest: dict) -> None:
    manifest = {"format_version": FORMAT_VERSION, "qcomp_version": __version__, **manifest}
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=False) + "\n")


def read_manifest(path: str | os.PathLike) -> dict:
    p = Path(path)
    m = p / MANIFEST
    if not p.is_dir() or not m.is_file():
        raise QcompError(f"{str(p)!r} is not a qcomp artifact (no {MANIFEST}); build one with "
                         f"`qcomp build MODEL --target TARGET -o {p}`")
    try:
        manifest = json.loads(m.read_text())
    except (OSError, json.JSONDecodeError, UnicodeDecodeError) as e:
        raise QcompError(f"{str(m)!r} is not valid JSON ({e}); rebuild the artifact") from None
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        raise QcompError(f"artifact {str(p)!r} has format version {version!r}, this qcomp "
                         f"({__version__}) reads version {FORMAT_VERSION}: rebuild it with this qcomp")
    for key in ("target", "inputs", "outputs", "files"):
        if key not in manifest:
            raise QcompError(f"artifact {str(p)!r}: its manifest lacks {key!r}; rebuild the artifact")
    return manifest


@dataclass
class Artifact:
    path: Path
    manifest: dict
    _graph: object = None    # the lowered TARGET graph (ref target)
    _runner: object = None   # qcomp.runtime.<backend> runner with .run(feeds, raw) (compiled targets)

    @property
    def target(self) -> str:
        return self.manifest["target"]

    def run(self, feeds: dict[str, np.ndarray], raw: bool = False) -> dict[str, np.ndarray]:
        """Run on float inputs keyed by input name (the model's layout); raw=True returns the
        int8 outputs before dequantization."""
        if self._runner is not None:
            return self._runner.run(check_feeds(self.manifest, feeds), raw=raw)
        from .ref import run_integer
        return run_integer(self._graph, feeds, raw=raw)


def check_feeds(manifest: dict, feeds: dict) -> dict[str, np.ndarray]:
    """Inputs checked against the manifest: names, shapes and dtypes, with a clear error."""
    from .errors import InputError
    want = {t["name"]: t for t in manifest["inputs"]}
    described = ", ".join(f"{n!r} {t['dtype']}{t['shape']}" for n, t in want.items())
    for name in feeds:
        if name not in want:
            raise InputError(f"unknown input {name!r}: the model's inputs are {described}")
    out = {}
    for name, t in want.items():
        if name not in feeds:
            raise InputError(f"missing input {name!r}: the model's inputs are {described}")
        a = np.asarray(feeds[name])
        if a.dtype != np.dtype(t["dtype"]):
            raise InputError(f"input {name!r} has dtype {a.dtype}, expected {t['dtype']} (shape {tuple(t['shape'])})")
        if list(a.shape) != list(t["shape"]):
            raise InputError(f"input {name!r} has shape {a.shape}, expected {tuple(t['shape'])} ({t['dtype']})")
        if a.dtype.kind == "f" and not np.isfinite(a).all():
            raise InputError(f"input {name!r} contains NaN or Inf, which have no int8 encoding")
        out[name] = np.ascontiguousarray(a)
    return out


def load(path: str | os.PathLike, emulate: bool = False, num_threads: int | None = None) -> Artifact:
    """Open an artifact after checking its manifest and this host's support for its target.
    emulate=True runs a GPU artifact's kernels on the CPU (an emulation of the CUDA execution model)."""
    from .ir.serialize import load_graph
    from .passes import run_passes
    from .passes.lower_integer import lower_integer
    from .target import get_target, host_support

    p = Path(path)
    manifest = read_manifest(p)
    target = get_target(manifest["target"])
    support = host_support(target)
    if emulate and target.kind != "gpu":
        raise QcompError(f"--emulate is for GPU artifacts; {target.name!r} artifacts run natively or under QEMU")
    if not support.can_run and not emulate:
        raise QcompError(f"artifact {str(p)!r} is for target {target.name!r}, which this host cannot run: "
                         f"{support.why}")
    if target.backend != "ref":
        # qcomp.runtime.<backend>.load(path, manifest) -> a runner; it checks the files it needs
        import importlib
        try:
            runtime = importlib.import_module(f"qcomp.runtime.{target.backend}")
        except ModuleNotFoundError:
            raise QcompError(f"artifact {str(p)!r}: running {target.name!r} artifacts is not part of this "
                             f"qcomp version") from None
        options = {"emulate": True} if emulate else {}
        if num_threads is not None:
            if target.backend != "llvm":
                raise QcompError(f"num_threads is for llvm artifacts (x86-vnni, arm-sdot); {target.name!r} "
                                 f"artifacts do not take it")
            options["num_threads"] = num_threads
        return Artifact(p, manifest, _runner=runtime.load(p, manifest, target, **options))
    qir = p / manifest["files"]["graph"]
    if not qir.is_file():
        raise QcompError(f"artifact {str(p)!r} lacks {manifest['files']['graph']!r}; rebuild it")
    graph = run_passes(load_graph(qir), (lower_integer,))   # verifies before and after
    return Artifact(p, manifest, _graph=graph)
