"""Evaluation data of a report: any format qcomp.calibdata reads, plus labels in an .npz.

An evaluation .npz often carries more than the model's inputs, typically the labels
(`numpy.savez(path, input=x, label=y)`, as examples/fashion_mnist/samples.npz). qcomp.calibdata
rejects arrays that name no model input, so for an .npz the report reads every extra array as one
more per-sample entry (same sample count on axis 0, checked from the .npy headers without reading
the data) and takes it off each sample before the model runs. The first extra array named
`label`, `labels`, `target`, `targets` or `y` with integer values is used as labels (one class per
prediction of a logits-like output); other extra arrays are ignored, and `notes` says so.
"""
from __future__ import annotations

import os
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..builder import BuildOptions
from ..calibdata import CalibrationSet, load_calibration
from ..calibdata.arrays import read_header
from ..errors import InputError

LABEL_NAMES = ("label", "labels", "target", "targets", "y")

Inputs = Mapping[str, tuple[tuple[int, ...], np.dtype]]


@dataclass(frozen=True)
class EvalData:
    """Samples to evaluate on; iterating gives feed dicts (with the labels under `label_key`)."""
    samples: CalibrationSet
    label_key: str | None
    ignored: tuple[str, ...]          # extra arrays of the data that are neither inputs nor labels

    def __len__(self) -> int:
        return len(self.samples)

    def __iter__(self) -> Iterator[dict[str, np.ndarray]]:
        for feeds in self.samples:
            for k in self.ignored:
                feeds.pop(k, None)
            yield feeds

    @property
    def notes(self) -> tuple[str, ...]:
        extra = tuple(f"evaluation data {self.samples.source!r}: array {k!r} is not a model input; ignored"
                      for k in self.ignored)
        return self.samples.notes + extra


def _npz_headers(path: Path) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """Every array of an .npz: name -> (shape, dtype), read from the .npy headers only."""
    try:
        with zipfile.ZipFile(path) as z:
            headers = {}
            for member in z.namelist():
                if member.endswith(".npy"):
                    name = member.removesuffix(".npy")
                    with z.open(member) as f:
                        shape, dtype, _ = read_header(f, f"{str(path)!r}[{name!r}]")
                    headers[name] = (tuple(shape), dtype)
            return headers
    except (zipfile.BadZipFile, OSError):
        return {}   # load_calibration reports the unreadable file


def open_data(path: str | os.PathLike, inputs: Inputs, options: BuildOptions,
              size: int | None = None) -> EvalData:
    """The evaluation samples at `path` for a model with `inputs` (name -> (shape, dtype)); image
    preprocessing follows the calibration options."""
    p = Path(path)
    headers = _npz_headers(p) if p.suffix.lower() == ".npz" and p.is_file() else {}
    counts = {shape[0] for name, (shape, _) in headers.items() if name in inputs and shape}
    specs = dict(inputs)
    label_key = None
    for name, (shape, dtype) in headers.items():
        if name in inputs:
            continue
        if not shape or (counts and shape[0] not in counts):
            raise InputError(f"evaluation data {str(p)!r}: array {name!r} (shape {shape}) is not a model input and "
                             f"has no entry per sample ({sorted(counts)} samples); keep only the model's "
                             f"inputs {sorted(inputs)} and per-sample arrays such as labels in it")
        specs[name] = ((1, *shape[1:]), dtype)
        if label_key is None and name in LABEL_NAMES and np.dtype(dtype).kind in "iu":
            label_key = name
    samples = load_calibration(p, specs, size=size, mean=options.mean, std=options.std, resize=options.resize,
                               crop=options.crop, color=options.color, layout=options.layout)
    ignored = tuple(k for k in specs if k not in inputs and k != label_key)
    return EvalData(samples, label_key, ignored)
