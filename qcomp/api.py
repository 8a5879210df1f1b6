"""The Python face of qcomp; `qcomp.cli` is a thin layer over these functions.

    import qcomp
    g = qcomp.load_model("model.onnx", input_shapes={"x": (1, 3, 224, 224)})
    outs = qcomp.run_float(g, {"x": x})
"""
from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np

from .errors import InputError, QcompError
from .ir import Graph, verify


def load_model(path: str | os.PathLike, input_shapes: dict[str, tuple[int, ...]] | None = None) -> Graph:
    """Import an ONNX model into a verified FLOAT-stage graph."""
    from .frontend import import_onnx
    return verify(import_onnx(path, input_shapes=input_shapes))


def run_float(graph: Graph, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Run the float reference interpreter; feeds and results are keyed by the model's names.
    Integer model inputs and outputs (qcomp/int_io.py) take and give the model's uint8/int8 codes."""
    from .frontend.int_io import read
    from .int_io import float_feeds, float_outputs
    from .ref import run_float as _run
    table = read(graph)
    return float_outputs(table, _run(graph, float_feeds(table, feeds))) if table else _run(graph, feeds)


def parse_input_shapes(specs: list[str] | None) -> dict[str, tuple[int, ...]]:
    """Parse repeated `NAME=1,3,224,224` flags (as onnxruntime and TVM users write them)."""
    shapes: dict[str, tuple[int, ...]] = {}
    for spec in specs or []:
        name, sep, dims = spec.rpartition("=")
        try:
            shape = tuple(int(d) for d in dims.replace("x", ",").split(",") if d.strip())
        except ValueError:
            shape = ()
        if not sep or not name or not shape or any(d <= 0 for d in shape):
            raise QcompError(f"--input-shape {spec!r}: expected NAME=D0,D1,... with positive integers, "
                             f"for example --input-shape input=1,3,224,224")
        if name in shapes:
            raise QcompError(f"--input-shape gives input {name!r} twice")
        shapes[name] = shape
    return shapes


def load_npz(path: str | os.PathLike, what: str = "--input") -> dict[str, np.ndarray]:
    """Read an .npz of named arrays, with a clear error for anything that is not one."""
    p = Path(path)
    if not p.is_file():
        raise InputError(f"{what} {str(p)!r}: no such file")
    try:
        z = np.load(p, allow_pickle=False)
        if not isinstance(z, np.lib.npyio.NpzFile):
            raise InputError(f"{what} {str(p)!r} is a single .npy array; save inputs with "
                             f"numpy.savez(path, INPUT_NAME=array) so they are keyed by input name")
        with z:
            return {k: z[k] for k in z.files}
    except (ValueError, OSError, zipfile.BadZipFile, EOFError) as e:
        raise InputError(f"{what} {str(p)!r} is not a readable .npz file ({e}); save inputs with "
                         f"numpy.savez(path, INPUT_NAME=array)") from None


def save_npz(path: str | os.PathLike, arrays: dict[str, np.ndarray]) -> Path:
    """Write arrays to an .npz (keys may be any ONNX names)."""
    p = Path(path)
    if p.suffix != ".npz":
        raise QcompError(f"-o {str(p)!r}: outputs are written as .npz; give a path ending in .npz")
    p.parent.mkdir(parents=True, exist_ok=True)
    with open(p, "wb") as f:
        np.savez(f, **arrays)
    return p


def build(model: str | os.PathLike, target: str = "ref", calib: str | os.PathLike | None = None,
          out: str | os.PathLike | None = None, **options) -> Path:
    """Quantize and compile `model` for `target`; returns the artifact directory.

    `options` are the fields of qcomp.builder.BuildOptions (calib_method, calib_size, percentile,
    per_channel, skip, bias_correction, equalize, precision, accuracy, mean, std, resize, crop, color,
    layout, input_shapes)."""
    from .builder import BuildOptions, build as _build
    try:
        opts = BuildOptions(target=target, calib=None if calib is None else os.fspath(calib), **options)
    except TypeError as e:
        raise QcompError(f"qcomp.build: {e}") from None
    return _build(model, out, opts)


def load(path: str | os.PathLike, emulate: bool = False, num_threads: int | None = None):
    """Open a compiled artifact (checks its manifest and this host first); `.run(feeds, raw=False)`.
    emulate=True runs a CUDA artifact's kernels on the CPU; num_threads=N sets an llvm artifact's
    thread pool (default: QCOMP_NUM_THREADS, else the available cores)."""
    from .artifact import load as _load
    return _load(path, emulate=emulate, num_threads=num_threads)


def load_config(path: str | os.PathLike) -> dict:
    """Options of `qcomp build` from a TOML file: keys as the long flags, `-` or `_` alike."""
    import tomllib

    from .builder import BuildOptions
    p = Path(path)
    try:
        raw = tomllib.loads(p.read_text())
    except FileNotFoundError:
        raise QcompError(f"--config {str(p)!r}: no such file") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise QcompError(f"--config {str(p)!r} is not valid TOML: {e}") from None
    fields = set(BuildOptions.__dataclass_fields__) - {"input_shapes"}
    out = {}
    for key, value in raw.items():
        k = key.replace("-", "_")
        if k == "per_tensor":
            k, value = "per_channel", not value
        if k == "precision" and isinstance(value, dict):   # [precision] table: NAME = "float"
            value = [f"{name}={kind}" for name, kind in value.items()]
        elif k == "precision" and isinstance(value, str):
            value = [value]
        if k not in fields:
            raise QcompError(f"--config {str(p)!r}: unknown option {key!r}; known: "
                             f"{', '.join(sorted(f.replace('_', '-') for f in fields | {'per_tensor'}))}")
        out[k] = tuple(value) if isinstance(value, list) else value
    return out
