"""Array calibration data: .npz, a stacked .npy, directories of .npy or raw .bin files.

Metadata (names, shapes from .npy headers, dtypes, file sizes) is checked without reading the
data. Reading keeps one sample in memory at a time: .npz members are read sample by sample
from the zip stream (seeking forward; a Fortran-ordered member is not contiguous per sample and
is read whole), a stacked .npy is memory-mapped, and files are read one at a time.
"""
from __future__ import annotations

import re
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from ..errors import InputError
from .spec import InputSpec, Samples, check_meta


def natural_key(p: Path) -> list:
    """Sort key: digit runs compare as numbers (img_2 before img_10)."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", p.name)]


def single_input(specs: tuple[InputSpec, ...], what: str) -> InputSpec:
    if len(specs) != 1:
        raise InputError(f"calibration with {what} needs a single-input model, this one has "
                         f"{len(specs)}: {', '.join(s.describe() for s in specs)}; use an .npz keyed "
                         f"by input name")
    return specs[0]


def check_names(found: set[str], specs: tuple[InputSpec, ...], where: str) -> None:
    """Every input has data and no data names something else; `where` reads "<place> has <what>"."""
    wanted = {s.name for s in specs}
    for s in specs:
        if s.name not in found:
            raise InputError(f"calibration data {where} {sorted(found)} but nothing for input "
                             f"{s.describe()}; name the data after the model's inputs: {sorted(wanted)}")
    extra = sorted(found - wanted)
    if extra:
        raise InputError(f"calibration data {where} {extra}, which are not inputs of the model; its "
                         f"inputs are {', '.join(s.describe() for s in specs)}")


# ---- .npy headers, .npz, stacked .npy ---------------------------------------------------------

Header = tuple[tuple[int, ...], np.dtype, bool]


def read_header(f, where: str) -> Header:
    """(shape, dtype, fortran_order) of the .npy stream `f`, leaving it at the data."""
    try:
        version = np.lib.format.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
        else:
            shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
    except (ValueError, OSError, EOFError) as e:
        raise InputError(f"calibration data {where} is not a readable .npy array ({e})") from None
    if dtype.hasobject:
        raise InputError(f"calibration data {where} holds Python objects (dtype {dtype}); save plain "
                         f"numeric arrays")
    return tuple(shape), dtype, fortran


def _stack_count(spec: InputSpec, header: Header, where: str) -> int:
    """Samples in an array of samples on axis 0: shape (N, *input) or (N, *input[1:]) for batch 1."""
    shape, dtype, _ = header
    if len(shape) in (len(spec.shape), len(spec.shape) + 1) and len(shape) >= 1:
        check_meta(spec, shape[1:], dtype, f"{where} (samples on axis 0, shape {shape})")
        return shape[0]
    raise InputError(f"calibration input {spec.describe()}: {where} has shape {shape}; expected samples "
                     f"on axis 0: (N, {', '.join(map(str, spec.shape))})")


def npz(p: Path, specs: tuple[InputSpec, ...]) -> Samples:
    try:
        with zipfile.ZipFile(p) as z:
            members = {n[:-4]: n for n in z.namelist() if n.endswith(".npy")}
            headers = {}
            for name, member in members.items():
                with z.open(member) as f:
                    headers[name] = read_header(f, f"{str(p)!r}[{name!r}]")
    except (zipfile.BadZipFile, OSError) as e:
        raise InputError(f"calibration data {str(p)!r} is not a readable .npz ({e}); save it with "
                         f"numpy.savez(path, INPUT_NAME=samples)") from None
    check_names(set(headers), specs, f"{str(p)!r} has arrays")
    counts = {s.name: _stack_count(s, headers[s.name], f"{str(p)!r}[{s.name!r}]") for s in specs}
    if len(set(counts.values())) > 1:
        raise InputError(f"calibration data {str(p)!r}: the inputs have different sample counts "
                         f"{counts}; every input needs one entry per sample")

    def read(indices: tuple[int, ...]) -> Iterator[tuple[dict[str, np.ndarray], str]]:
        with zipfile.ZipFile(p) as z:
            streams = {s.name: _member_samples(z, members[s.name], headers[s.name], indices) for s in specs}
            for i in indices:
                yield {name: next(it) for name, it in streams.items()}, f"{p.name} index {i}"

    return Samples("npz", next(iter(counts.values())), read)


def _member_samples(z: zipfile.ZipFile, member: str, header: Header,
                    indices: tuple[int, ...]) -> Iterator[np.ndarray]:
    shape, dtype, fortran = header
    with z.open(member) as f:
        if fortran:
            whole = np.lib.format.read_array(f, allow_pickle=False)
            yield from (whole[i] for i in indices)
            return
        read_header(f, member)
        start, nbytes = f.tell(), int(np.prod(shape[1:], dtype=np.int64)) * dtype.itemsize
        for i in indices:
            f.seek(start + i * nbytes)
            yield np.frombuffer(f.read(nbytes), dtype).reshape(shape[1:])


def npy_stack(p: Path, specs: tuple[InputSpec, ...]) -> Samples:
    spec = single_input(specs, "one .npy file")
    with open(p, "rb") as f:
        count = _stack_count(spec, read_header(f, repr(str(p))), repr(str(p)))

    def read(indices: tuple[int, ...]) -> Iterator[tuple[dict[str, np.ndarray], str]]:
        stack = np.load(p, mmap_mode="r")
        for i in indices:
            yield {spec.name: np.array(stack[i])}, f"{p.name} index {i}"

    return Samples("npy", count, read)


# ---- one sample per file, raw .bin stacks -----------------------------------------------------

def group_flat(files: list[Path], specs: tuple[InputSpec, ...], p: Path) -> list[dict[str, Path]]:
    """Samples of a flat directory: every file for single-input models, else `<input>_<k>.ext`."""
    if len(specs) == 1:
        return [{specs[0].name: f} for f in files]
    names = sorted((s.name for s in specs), key=len, reverse=True)   # the longest name that fits
    by_k: dict[int, dict[str, Path]] = {}
    for f in files:
        m = next((m for n in names if (m := re.fullmatch(re.escape(n) + r"_(\d+)", f.stem))), None)
        if m is None:
            raise InputError(f"calibration file {str(f)!r} does not name an input: a multi-input model "
                             f"needs files named <input>_<k>{f.suffix} or subdirectories named after "
                             f"its inputs {', '.join(s.describe() for s in specs)}")
        by_k.setdefault(int(m.group(1)), {})[f.stem[: m.start(1) - 1]] = f
    for k, sample in sorted(by_k.items()):
        check_names(set(sample), specs, f"{str(p)!r} for sample k={k} has files for")
    return [by_k[k] for k in sorted(by_k)]


def group_subdirs(p: Path, subdirs: list[Path], specs: tuple[InputSpec, ...]) -> list[dict[str, Path]]:
    """Samples of subdirectories named after the inputs, paired by file name."""
    check_names({d.name for d in subdirs}, specs, f"{str(p)!r} has subdirectories")
    files = {s.name: {f.name: f for f in (p / s.name).iterdir() if f.suffix.lower() in (".npy", ".bin")}
             for s in specs}
    names = set().union(*files.values())
    for s in specs:
        missing = sorted(names - set(files[s.name]))
        if missing:
            raise InputError(f"calibration input {s.describe()}: {str(p / s.name)!r} lacks {missing[:5]}, "
                             f"which other inputs have; every input needs the same file names")
    ordered = sorted(names, key=lambda n: natural_key(Path(n)))
    return [{s.name: files[s.name][n] for s in specs} for n in ordered]


def per_sample_files(fmt: str, samples: list[dict[str, Path]], specs: tuple[InputSpec, ...]) -> Samples:
    def check(i: int) -> None:
        for s in specs:
            f = samples[i][s.name]
            if f.suffix.lower() == ".bin":
                if f.stat().st_size != s.nbytes:
                    raise InputError(f"calibration input {s.describe()}: {str(f)!r} has "
                                     f"{f.stat().st_size} bytes; one sample is {s.nbytes} bytes")
            else:
                with open(f, "rb") as fh:
                    shape, dtype, _ = read_header(fh, repr(str(f)))
                check_meta(s, shape, dtype, repr(str(f)))

    def read(indices: tuple[int, ...]) -> Iterator[tuple[dict[str, np.ndarray], str]]:
        for i in indices:
            files = samples[i]
            yield ({s.name: _load(files[s.name], s) for s in specs},
                   ", ".join(dict.fromkeys(f.name for f in files.values())))

    return Samples(fmt, len(samples), read, check)


def _load(f: Path, spec: InputSpec) -> np.ndarray:
    if f.suffix.lower() == ".bin":
        return np.fromfile(f, spec.dtype.newbyteorder("<")).reshape(spec.shape)
    return np.load(f, allow_pickle=False)


def bin_stack(files: list[Path], specs: tuple[InputSpec, ...]) -> Samples:
    """Single-input raw buffers: each file holds k >= 1 samples of exactly spec.nbytes bytes."""
    spec = single_input(specs, "raw .bin files not sorted by input")
    where: list[tuple[Path, int]] = []
    for f in files:
        n, rest = divmod(f.stat().st_size, spec.nbytes)
        if rest or n == 0:
            raise InputError(f"calibration input {spec.describe()}: {str(f)!r} has {f.stat().st_size} "
                             f"bytes, not a positive multiple of one sample ({spec.nbytes} bytes)")
        where += [(f, k * spec.nbytes) for k in range(n)]

    def read(indices: tuple[int, ...]) -> Iterator[tuple[dict[str, np.ndarray], str]]:
        for i in indices:
            f, offset = where[i]
            a = np.fromfile(f, spec.dtype.newbyteorder("<"), count=spec.size, offset=offset)
            yield {spec.name: a.reshape(spec.shape)}, f"{f.name} byte {offset}"

    return Samples("bin", len(where), read)
