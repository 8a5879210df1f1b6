"""Artifacts: a directory with `manifest.json` and the compiled model (ARCHITECTURE.md section 4).

`load(path)` reads and checks the manifest first (format version, its own digest, target, the
host's features) and the sha256 of every file it lists, before it touches any code, then returns
an `Artifact` whose `run(feeds, raw=False)` executes it (its feeds checked by FeedCheck: names,
dtypes and shapes derived from the manifest once, check_feeds' errors for anything else). The `ref`
target's artifact holds the quantized graph (`model.qir`), lowered and interpreted by the integer
reference on load.

Integrity: `write_manifest` records `file_sha256` (relative path -> sha256 of every file the
manifest's "files" lists) and `manifest_sha256`, the sha256 of the manifest's canonical JSON
(sorted keys, no whitespace) without that field. A manifest that was edited (a value changed, a key
removed, invalid JSON) or a file that was truncated, replaced or removed is a DamagedArtifactError
naming the artifact and the file, never a crash inside ctypes, a runner or a driver. The digests
catch damage, not a forger: whoever can rewrite the files can rewrite the digests. Hashing reads
each file once (hashlib.file_digest: 425 MiB/s on a shared 2-core host, more with SHA extensions):
4 ms per load of the 1.2 MB Fashion-MNIST x86-vnni artifact.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np

from . import __version__
from .errors import DamagedArtifactError, QcompError

FORMAT_VERSION = 2          # 2: file_sha256 and manifest_sha256
MANIFEST = "manifest.json"
DIGEST_KEY = "manifest_sha256"
FILES_KEY = "file_sha256"


def tensor_entry(name: str, t, layout: str, quant) -> dict:
    """One manifest row for an input or output: name, shape, dtype, layout, and the quant params of
    its int8 form (qcomp.ir.io_quant); an output without "quant" has no int8 form (see Artifact.run)."""
    entry = {"name": name, "shape": list(t.shape), "dtype": str(t.dtype.np), "layout": layout}
    if quant is not None:
        entry["quant"] = {"scale": float(quant.scale[0]), "zero_point": int(quant.zero_point[0])}
    return entry


def manifest_digest(manifest: dict) -> str:
    """sha256 of the manifest's canonical JSON, without its own DIGEST_KEY."""
    body = {k: v for k, v in manifest.items() if k != DIGEST_KEY}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def file_sha256(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def write_manifest(out: Path, manifest: dict) -> None:
    """Write manifest.json with the format and qcomp versions and the digests of the files it lists."""
    manifest = {"format_version": FORMAT_VERSION, "qcomp_version": __version__, **manifest}
    manifest[FILES_KEY] = {rel: file_sha256(out / rel) for rel in sorted(set(manifest["files"].values()))}
    manifest = json.loads(json.dumps(manifest))     # the digest covers exactly what a reader gets back
    manifest[DIGEST_KEY] = manifest_digest(manifest)
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=False) + "\n")


def _rebuild(p: Path, manifest: dict | None) -> str:
    """`rebuild it with qcomp build ...`, with the model and target the manifest names when it can."""
    model = target = None
    if isinstance(manifest, dict):
        model = (manifest.get("model") or {}).get("file") if isinstance(manifest.get("model"), dict) else None
        target = manifest.get("target") if isinstance(manifest.get("target"), str) else None
    return f"rebuild it with `qcomp build {model or 'MODEL'} --target {target or 'TARGET'} -o {p}`"


def damaged(p: Path, what: str, manifest: dict | None = None) -> DamagedArtifactError:
    return DamagedArtifactError(f"artifact {str(p)!r} is damaged: {what}; {_rebuild(p, manifest)}")


def read_manifest(path: str | os.PathLike) -> dict:
    """The checked manifest of the artifact at `path`: valid JSON, this format version, its own
    digest intact, the keys every runtime needs. Reads no other file."""
    p = Path(path)
    m = p / MANIFEST
    if not p.is_dir() or not m.is_file():
        raise QcompError(f"{str(p)!r} is not a qcomp artifact (no {MANIFEST}); build one with "
                         f"`qcomp build MODEL --target TARGET -o {p}`")
    try:
        manifest = json.loads(m.read_text())
    except (OSError, ValueError) as e:      # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise damaged(p, f"{MANIFEST} cannot be read as JSON ({str(e).splitlines()[0]})") from None
    if not isinstance(manifest, dict):
        raise damaged(p, f"{MANIFEST} is not a JSON object")
    version = manifest.get("format_version")
    if version != FORMAT_VERSION:
        raise QcompError(f"artifact {str(p)!r} has format version {version!r}, this qcomp "
                         f"({__version__}) reads version {FORMAT_VERSION}: {_rebuild(p, manifest)} with this qcomp")
    if manifest.get(DIGEST_KEY) != manifest_digest(manifest):
        raise damaged(p, f"{MANIFEST} was edited (its content no longer matches its {DIGEST_KEY})", manifest)
    for key in ("target", "inputs", "outputs", "files", FILES_KEY):
        if key not in manifest:
            raise damaged(p, f"its {MANIFEST} lacks {key!r}", manifest)
    return manifest


def _inside(p: Path, rel) -> Path | None:
    """The artifact file `rel` names, or None when rel is not a plain relative path inside it."""
    if not isinstance(rel, str) or not rel or "\\" in rel:
        return None
    pure = PurePosixPath(rel)
    if pure.is_absolute() or ".." in pure.parts:
        return None
    return p / pure


def check_file(p: Path, manifest: dict, rel: str) -> Path:
    """The path of the artifact file `rel`, after checking it against the manifest's sha256."""
    want = manifest[FILES_KEY].get(rel) if isinstance(manifest[FILES_KEY], dict) else None
    f = _inside(p, rel)
    if f is None or want is None:
        raise damaged(p, f"its {MANIFEST} lists the file {rel!r} without a digest of it", manifest)
    if not f.is_file():
        raise damaged(p, f"{rel} is missing", manifest)
    try:
        got = file_sha256(f)
    except OSError as e:
        raise damaged(p, f"{rel} cannot be read ({e.strerror})", manifest) from None
    if got != want:
        raise damaged(p, f"{rel} is not the file qcomp built (truncated, replaced or edited: its sha256 "
                         f"{got[:12]}... differs from the manifest's {want[:12]}...)", manifest)
    return f


def check_files(p: Path, manifest: dict) -> None:
    """Every file of manifest["files"] present, with the sha256 the manifest records."""
    files = manifest["files"]
    if not isinstance(files, dict):
        raise damaged(p, f"its {MANIFEST} has no table of files", manifest)
    for rel in files.values():
        check_file(p, manifest, rel)


def read_graph(path: str | os.PathLike, manifest: dict, file_checked: bool = False):
    """The quantized graph of an artifact (model.qir), checked against the manifest's file digest
    (unless check_files just did) and its quantized_graph_sha256."""
    from .ir.serialize import graph_sha256, load_graph
    p = Path(path)
    rel = manifest["files"].get("graph") if isinstance(manifest["files"], dict) else None
    if rel is None:
        raise damaged(p, f"its {MANIFEST} names no quantized graph file", manifest)
    f = _inside(p, rel) if file_checked else check_file(p, manifest, rel)
    try:
        graph = load_graph(f)
        digest = graph_sha256(graph)
    except Exception as e:   # noqa: BLE001 - any failure to decode the file is damage, reported as such
        why = str(e).splitlines()[0] if str(e) else ""
        raise damaged(p, f"{rel} is not a readable quantized graph ({type(e).__name__}: {why})", manifest) from None
    if digest != manifest.get("quantized_graph_sha256"):
        raise damaged(p, f"{rel} holds a graph whose sha256 differs from the manifest's quantized_graph_sha256",
                      manifest)
    return graph


@dataclass
class Artifact:
    path: Path
    manifest: dict
    _graph: object = None    # the lowered TARGET graph (ref target)
    _runner: object = None   # qcomp.runtime.<backend> runner with .run(feeds, raw) (compiled targets)

    def __post_init__(self) -> None:   # what every run would otherwise derive from the manifest again
        from .int_io import has_int_io
        self._int_io = has_int_io(self.manifest)
        self._check = FeedCheck(self.manifest)

    @property
    def target(self) -> str:
        return self.manifest["target"]

    def run(self, feeds: dict[str, np.ndarray], raw: bool = False) -> dict[str, np.ndarray]:
        """Run on float inputs keyed by input name (the model's layout).

        raw=True (`qcomp run --raw`) returns every output in its int8 form (qcomp.ir.io_quant): the
        int8 values before the output's Dequantize, which the manifest's "quant" of that output
        dequantizes; these are bit-identical on every target. An output with no int8 form (no "quant"
        in the manifest: computed in float by a float-fallback op or a --skip'ped last node, or an
        integer tensor) comes back unchanged, in its own dtype, with the same bits as raw=False on this
        artifact. Float values come from each target's float kernels, so they may differ between
        targets in the last bits (ARCHITECTURE.md section 3): exact comparisons between targets are
        for the int8 outputs. dsp-c and cortex-m4 have no float kernels: every output they build has
        an int8 form. A model with integer inputs or outputs (manifest "int_dtype", qcomp/int_io.py)
        takes its uint8/int8 codes and returns them (raw=True: the int8 forms, as above): through
        QCOMP_MODEL_CODES, with no float step (qcomp/int_codes.py)."""
        if not self._int_io:
            return self._run(feeds, raw)
        from . import int_codes
        from .int_io import feeds_in, outputs_out
        if int_codes.plan(self.manifest, feeds):   # the model's codes, no float step
            checked = check_feeds(int_codes.feeds_manifest(self.manifest), feeds)
            if self._runner is not None:
                outs = self._runner.run(checked, raw=raw, codes=True)
            else:
                outs = int_codes.run_ref(self._graph, checked, raw)
            return int_codes.raw_forms(self.manifest, outs) if raw else outs
        # integer model I/O fed its reals, or an artifact before ABI version 3
        return outputs_out(self.manifest, self._run(feeds_in(self.manifest, feeds), raw=True), raw)

    def _run(self, feeds: dict[str, np.ndarray], raw: bool) -> dict[str, np.ndarray]:
        if self._runner is not None:
            return self._runner.run(self._check(feeds), raw=raw)
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
        out[name] = np.asarray(a, order="C")   # np.ascontiguousarray would make a scalar 1-D
    return out


class FeedCheck:
    """check_feeds for one manifest, with its expectations (name, dtype, shape) derived once: feeds that
    are exactly what the model takes (a dict of C-contiguous ndarrays of the input's dtype and shape,
    one per input name, no other names) pass as they are; anything else goes through check_feeds,
    which converts what it may and raises its InputError for the rest. Float feeds are still checked
    for NaN and Inf on every run."""

    def __init__(self, manifest: dict) -> None:
        self.manifest = manifest
        self.inputs = [(t["name"], np.dtype(t["dtype"]), tuple(t["shape"])) for t in manifest["inputs"]]

    def __call__(self, feeds: dict) -> dict[str, np.ndarray]:
        if type(feeds) is not dict or len(feeds) != len(self.inputs):
            return check_feeds(self.manifest, feeds)
        out = {}
        for name, dtype, shape in self.inputs:
            a = feeds.get(name)
            if (type(a) is not np.ndarray or a.dtype != dtype or a.shape != shape or not a.flags.c_contiguous
                    or (dtype.kind == "f" and not np.logical_and.reduce(np.isfinite(a), axis=None))):
                return check_feeds(self.manifest, feeds)
            out[name] = a
        return out


def load(path: str | os.PathLike, emulate: bool = False, num_threads: int | None = None) -> Artifact:
    """Open an artifact after checking its manifest, the digest of every file it lists and this host's
    support for its target: all before any of its code is loaded.
    emulate=True runs a GPU artifact's kernels on the CPU (an emulation of the CUDA execution model)."""
    from .passes import run_passes
    from .passes.lower_integer import lower_integer
    from .target import get_target, host_support

    p = Path(path)
    manifest = read_manifest(p)
    check_files(p, manifest)
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
    graph = run_passes(read_graph(p, manifest, file_checked=True), (lower_integer,))   # verifies before and after
    return Artifact(p, manifest, _graph=graph)
