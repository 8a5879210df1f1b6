"""Calibration data for post-training quantization: samples for the model's inputs, read lazily.

`load_calibration(path, inputs, ...)` accepts (the format follows from the path):
- an `.npz`: one array per input name, samples on axis 0: shape (N, *input_shape), or
  (N, *input_shape[1:]) when the input's batch is 1 (so an array of exactly the input's shape
  is one sample).
- one `.npy` (single-input models): a stack of samples, laid out as one array of an .npz.
- a directory of `.npy` files, one sample per file (the input's shape, or without its batch 1):
  single-input models take every .npy file; multi-input models take subdirectories named after
  the inputs (`ids/0.npy`, `mask/0.npy`, paired by file name) or files named `<input>_<k>.npy`
  (`ids_0.npy`, `mask_0.npy`, paired by k).
- images (.jpg/.jpeg/.png/.bmp; one file or a directory) for single-input models of rank 4,
  preprocessed as `qcomp.calibdata.images` describes (mean, std, resize, crop, color, layout).
- raw `.bin` buffers, little-endian, in the input's dtype: one file or a directory. For a
  single-input model each file holds k >= 1 samples back to back (its size must be a multiple of
  the input's byte size); multi-input models use the .npy directory layouts, one sample per file.
Files of other extensions in a directory are ignored (labels, READMEs); two kinds is an error.
Arrays are in the model's own input layout, never transposed (only images are converted).

Memory does not grow with the set: metadata is checked from .npy headers and file sizes, and
iteration holds one sample at a time (`qcomp.calibdata.arrays`). Shapes, dtypes and names are
checked when the set is loaded; NaN and Inf as each sample is read, naming its index and file.
`size=N` keeps N samples chosen by `np.random.default_rng(seed)`, iterated in their order in the
set; asking for more than exist keeps all and says so in `notes` (the library prints nothing).
Every error is an `InputError` naming the input, its expected shape and dtype, and what was found.
"""
from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import InputError
from . import arrays
from .images import IMAGE_EXTENSIONS, ImageOptions, image_samples
from .spec import InputSpec, Reader, Samples, conform


@dataclass(frozen=True)
class CalibrationSet:
    """A lazily read set of calibration samples; iterating yields one feed dict per sample
    (input name -> array of the input's shape and dtype)."""
    specs: tuple[InputSpec, ...]
    source: str                      # the path given
    format: str                      # npz, npy, npy-dir, bin, bin-dir, images
    total: int                       # samples available at `source`
    indices: tuple[int, ...]         # the samples kept, ascending
    notes: tuple[str, ...]           # things the caller may want to tell the user
    _read: Reader

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.specs)

    def __len__(self) -> int:
        return len(self.indices)

    def __iter__(self) -> Iterator[dict[str, np.ndarray]]:
        for i, (raw, where) in zip(self.indices, self._read(self.indices)):
            yield {s.name: conform(s, raw[s.name], f"sample {i} ({where})") for s in self.specs}


def load_calibration(path: str | os.PathLike, inputs: Mapping[str, tuple[tuple[int, ...], np.dtype]], *,
                     size: int | None = None, seed: int = 0, mean=None, std=None,
                     resize: int | None = None, crop: int | tuple[int, int] | None = None,
                     color: str = "rgb", layout: str = "NCHW") -> CalibrationSet:
    """Open the calibration data at `path` for a model with `inputs` (name -> (shape incl. batch,
    dtype)). `mean`, `std`, `resize`, `crop`, `color` and `layout` apply to images only."""
    specs = tuple(InputSpec.make(name, shape, dtype) for name, (shape, dtype) in inputs.items())
    if not specs:
        raise InputError("the model has no inputs to calibrate")
    p = Path(path)
    if not p.exists():
        raise InputError(f"calibration data {str(p)!r}: no such file or directory")
    options = ImageOptions.make(mean, std, resize, crop, color, layout)
    samples = _open(p, specs, options)
    if samples.format != "images" and options.preprocessing:
        raise InputError(f"calibration data {str(p)!r} is {samples.format}: --mean, --std, --resize and "
                         f"--crop apply to images only; preprocess arrays before saving them")
    if samples.count == 0:
        raise InputError(f"calibration data {str(p)!r} holds no samples; expected samples for "
                         f"{', '.join(s.describe() for s in specs)}")
    indices, notes = _subset(samples.count, size, seed)
    for i in indices:
        samples.check(i)
    return CalibrationSet(specs, str(p), samples.format, samples.count, indices, notes, samples.read)


def _subset(count: int, size: int | None, seed: int) -> tuple[tuple[int, ...], tuple[str, ...]]:
    if size is None:
        return tuple(range(count)), ()
    if int(size) != size or size <= 0:
        raise InputError(f"--calib-size must be a positive number of samples, got {size!r}")
    if size >= count:
        note = () if size == count else (f"asked for {size} calibration samples but only {count} "
                                         f"exist; using all {count}",)
        return tuple(range(count)), note
    picked = np.random.default_rng(seed).choice(count, int(size), replace=False)
    return tuple(int(i) for i in np.sort(picked)), ()


def _kind(f: Path) -> str | None:
    suffix = f.suffix.lower()
    return {".npy": "npy", ".bin": "bin"}.get(suffix, "images" if suffix in IMAGE_EXTENSIONS else None)


def _open(p: Path, specs: tuple[InputSpec, ...], options: ImageOptions) -> Samples:
    if p.is_file():
        kind = "npz" if p.suffix.lower() == ".npz" else _kind(p)
        if kind == "npz":
            return arrays.npz(p, specs)
        if kind == "npy":
            return arrays.npy_stack(p, specs)
        if kind == "bin":
            return arrays.bin_stack([p], specs)
        if kind == "images":
            return image_samples([p], specs, options)
        raise InputError(f"calibration data {str(p)!r}: unknown format {p.suffix!r}; give an .npz, an "
                         f".npy, a .bin, an image, or a directory of them")
    entries = sorted((e for e in p.iterdir() if not e.name.startswith(".")), key=arrays.natural_key)
    files = [e for e in entries if e.is_file() and _kind(e)]
    kinds = sorted({_kind(f) for f in files})
    if len(kinds) > 1:
        raise InputError(f"calibration directory {str(p)!r} mixes {' and '.join(map(str, kinds))} files; "
                         f"keep one kind per directory")
    subdirs = [e for e in entries if e.is_dir()]
    if subdirs and not files:
        samples = arrays.group_subdirs(p, subdirs, specs)
        kind = "bin" if samples and all(f.suffix.lower() == ".bin" for f in samples[0].values()) else "npy"
        return arrays.per_sample_files(f"{kind}-dir", samples, specs)
    if kinds == ["images"]:
        return image_samples(files, specs, options)
    if kinds == ["bin"] and len(specs) == 1:
        return arrays.bin_stack(files, specs)
    if kinds:
        return arrays.per_sample_files(f"{kinds[0]}-dir", arrays.group_flat(files, specs, p), specs)
    raise InputError(f"calibration directory {str(p)!r} has no .npy, .bin or image files "
                     f"({', '.join(sorted(IMAGE_EXTENSIONS))}); expected samples for "
                     f"{', '.join(s.describe() for s in specs)}")


__all__ = ["CalibrationSet", "InputSpec", "load_calibration", "IMAGE_EXTENSIONS"]
