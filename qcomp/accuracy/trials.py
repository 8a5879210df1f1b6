"""One trial: quantize a calibrated model under a --precision choice and measure its output cosine.

A trial runs the builder's own pipeline in-process, without compiling an artifact:

    quantize_model(model, options + precision, calibrated)   (the calibration is made once, reused)
      --> target_passes(target) (lower_integer, the backend's fusions, plan_memory)
      --> run_integer on each evaluation sample                (bit-exact to every backend)

and compares the outputs with the float model's (run_float on the calibrated FLOAT graph, once):

    cosine = min over float outputs o of  <x_o, y_o> / (|x_o| |y_o|)

x_o the float outputs and y_o the integer model's (dequantized), each concatenated over all
samples, in float64 (two zero vectors count as equal, one zero vector as 0). Trials are cached by
their precision choice, so a choice measured twice costs one run; everything is in graph order and
seeded, so the same model, data and options give the same numbers.

Held-back samples (`split_held_back`, for --accuracy): a quarter of the calibration samples, at
most HELD_BACK_MAX, evenly spread over the set (positions (2j + 1) n // 2k, j < k), are kept out
of calibration and measured on; the rest calibrate. At least MIN_HELD_BACK are needed. On a large
model each held-back sample costs a second or more per trial, so the count is also held to the
trial's work budget, but not below HELD_BACK_LARGE_MIN:

    k = min(HELD_BACK_MAX, n // HELD_BACK_SHARE, max(HELD_BACK_LARGE_MIN, HELD_BACK_MACS // macs))

macs the model's multiply-accumulates per sample (qcomp.ir.stats.node_macs): a model under
HELD_BACK_MACS / HELD_BACK_MAX = 125 M MACs keeps 16 (every small model: nothing changes there),
EfficientNet-Lite0 (0.39 G) gets 5, MiniLM at sequence 128 (~2.9 G) gets 4. The float outputs of
the held-back samples are computed once (Trials.reference) and reused by every trial.
"""
from __future__ import annotations

import copy
import dataclasses
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import numpy as np

from ..builder import BuildOptions, Calibrated, calibration_inputs, quantize_model, target_passes
from ..errors import QcompError
from ..int_io import float_feeds
from ..ir import Graph
from ..passes import run_passes
from ..ref import run_float, run_integer

HELD_BACK_SHARE = 4      # one sample in four is held back
HELD_BACK_MAX = 16       # trials run every held-back sample: keep them few
MIN_HELD_BACK = 2
HELD_BACK_MACS = 2_000_000_000    # held-back work per trial, in MACs, on a large model
HELD_BACK_LARGE_MIN = 4           # ... but at least this many samples where the set has them
HELD_BACK_RULE = f"1 in {HELD_BACK_SHARE} of the calibration samples, at most {HELD_BACK_MAX}, evenly spread"


def held_back_count(n: int, macs: int = 0) -> int:
    """How many of n calibration samples are held back, for a model of `macs` MACs per sample (module docstring)."""
    budget = HELD_BACK_MAX if macs <= 0 else max(HELD_BACK_LARGE_MIN, HELD_BACK_MACS // macs)
    return min(HELD_BACK_MAX, n // HELD_BACK_SHARE, budget)


def held_back_rule(k: int, n: int) -> str:
    """The rule as the manifest records it, with the large-model cap where it applied."""
    if k < min(HELD_BACK_MAX, n // HELD_BACK_SHARE):
        return (f"{HELD_BACK_RULE}; {k} on this model (at most {HELD_BACK_MACS / 1e9:g} G MACs of held-back "
                f"work per trial, at least {HELD_BACK_LARGE_MIN})")
    return HELD_BACK_RULE

Progress = Callable[[int, int | None], None]


def split_held_back(data, what: str = "--accuracy", macs: int = 0):
    """(calibration part, held-back part) of a calibration set (qcomp.calibdata.CalibrationSet), for a
    model of `macs` MACs per sample (0: not counted, the small-model rule)."""
    n = len(data)
    k = held_back_count(n, macs)
    if k < MIN_HELD_BACK:
        raise QcompError(f"{what} measures the output cosine on held-back samples ({HELD_BACK_RULE}), at least "
                         f"{MIN_HELD_BACK}: the "
                         f"calibration set has {n} sample{'s' if n != 1 else ''}; give at least "
                         f"{MIN_HELD_BACK * HELD_BACK_SHARE} (--calib, and --calib-size if you set it)")
    picked = {(2 * j + 1) * n // (2 * k) for j in range(k)}
    held = tuple(i for p, i in enumerate(data.indices) if p in picked)
    kept = tuple(i for p, i in enumerate(data.indices) if p not in picked)
    return dataclasses.replace(data, indices=kept), dataclasses.replace(data, indices=held)


def output_cosine(reference: Sequence[dict[str, np.ndarray]], results: Sequence[dict[str, np.ndarray]]) -> float:
    """min over outputs of the cosine of the concatenated samples (module docstring)."""
    worst = 1.0
    for name in reference[0]:
        x = np.concatenate([np.asarray(r[name], np.float64).ravel() for r in reference])
        y = np.concatenate([np.asarray(r[name], np.float64).ravel() for r in results])
        nx, ny = float(np.linalg.norm(x)), float(np.linalg.norm(y))
        if nx == 0.0 and ny == 0.0:
            cos = 1.0
        elif nx == 0.0 or ny == 0.0 or not np.isfinite(y).all():
            cos = 0.0
        else:
            cos = float(np.dot(x, y) / (nx * ny))
        worst = min(worst, cos)
    return worst


def merge(user: dict[str, str], raises: Sequence[dict[str, str]], gf: Graph) -> dict[str, str] | None:
    """The --precision entries of a trial: the user's, then each raise in order (a later raise of the
    same name wins). A tensor raised to another kind whose producer a float region includes is left to
    the region. None when a raise contradicts an entry of the user (theirs is kept: no such trial)."""
    out = dict(user)
    for entries in raises:
        for name, kind in entries.items():
            if name in user and user[name] != kind:
                return None
            out[name] = kind
    floated = {name for name, kind in out.items() if kind == "float"}
    producer = {v: n.name for n in gf.nodes for v in n.outputs}
    return {name: kind for name, kind in out.items()
            if kind == "float" or name in user or producer.get(name) not in floated}


class Trials:
    """Quantize-and-measure under precision choices, on fixed evaluation samples (module docstring)."""

    def __init__(self, model: Graph, options: BuildOptions, calibrated: Calibrated, samples, target):
        self.model, self.options, self.calibrated, self.target = model, options, calibrated, target
        self.gf = calibrated.graph
        _, int_inputs = calibration_inputs(model)   # integer model inputs: their reals, as calibration reads them
        self.samples = [float_feeds(int_inputs, dict(f)) if int_inputs else dict(f) for f in samples]
        if not self.samples:
            raise QcompError("no evaluation samples to measure the output cosine on")
        floats = [o for o in self.gf.outputs if self.gf.types[o].dtype.is_float]
        if not floats:
            raise QcompError("the model has no float output to measure a cosine on")
        self.reference = [{o: r[o] for o in floats} for r in (run_float(self.gf, f) for f in self.samples)]
        self.passes = target_passes(target)
        from .costs import CostModel
        self.costs = CostModel(self.gf, target)   # what a raise costs on this target (accuracy/costs.py)
        from ..protocol import backend_module
        self.backend = backend_module(target.backend)   # check(): the nodes the target cannot emit
        self.runs = 0
        self.refused = 0   # trials whose choice the pipeline refused (cosine None)
        self._cache: dict[tuple, float | None] = {}
        self.reasons: dict[tuple, str] = {}   # a refused choice -> why (the QcompError or the backend's problems)

    def with_options(self, options: BuildOptions) -> "Trials":
        """These trials (same samples, float references, costs) under other build options, with an
        empty cache and their own counters."""
        other = copy.copy(self)
        other.options, other._cache, other.reasons, other.runs, other.refused = options, {}, {}, 0, 0
        return other

    def options_for(self, precision: dict[str, str]) -> BuildOptions:
        return dataclasses.replace(self.options, precision=tuple(f"{k}={v}" for k, v in precision.items()))

    def quantize(self, precision: dict[str, str]) -> tuple[Graph, dict]:
        return quantize_model(self.model, self.options_for(precision), calibrated=self.calibrated)

    def required(self, precision: dict[str, str]) -> float:
        """The cosine of a choice that must build (the user's own): its refusal is raised as is."""
        cos = self.cosine(precision)
        if cos is None:
            run_passes(self.quantize(precision)[0], self.passes)   # raises the pipeline's QcompError
            raise QcompError("--accuracy: the build without raises was refused")   # not reached
        return cos

    def refusal(self, precision: dict[str, str]) -> str:
        """Why a refused choice was refused ("" for one not refused or not tried)."""
        return self.reasons.get(tuple(sorted(precision.items())), "")

    def cosine(self, precision: dict[str, str]) -> float | None:
        """The trial's output cosine; None for a choice the pipeline refuses (a QcompError from
        quantize or the target's passes, e.g. an int16 input whose bias does not fit the int64
        accumulator, or a node the target's backend cannot emit, e.g. a float ConvTranspose2D of a
        float region on cuda): the build would refuse it too, so
        it is no candidate (cached as such)."""
        key = tuple(sorted(precision.items()))
        if key not in self._cache:
            try:
                q, _ = self.quantize(precision)
                lowered = run_passes(q, self.passes)
                problems = self.backend.check(lowered, self.target)
            except QcompError as e:
                problems = [str(e)]
            if problems:
                self.reasons[key] = "; ".join(str(p) for p in problems)
                self._cache[key] = None
                self.refused += 1
                return None
            results = [run_integer(lowered, feeds) for feeds in self.samples]
            self._cache[key] = output_cosine(self.reference, [{o: r[o] for o in ref} for r, ref in
                                                              zip(results, self.reference)])
            self.runs += 1
        return self._cache[key]


@contextmanager
def progress_bar(label: str) -> Iterator[Progress | None]:
    """A rich progress bar on a terminal, started at the first update (None elsewhere: CI logs stay clean)."""
    if not sys.stderr.isatty():
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress as Bar, TextColumn, TimeRemainingColumn
    bar = Bar(TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), transient=True)
    tasks: list = []

    def update(done: int, total: int | None) -> None:
        if not tasks:
            bar.start()
            tasks.append(bar.add_task(label, total=total))
        bar.update(tasks[0], completed=done, total=total)

    try:
        yield update
    finally:
        if tasks:
            bar.stop()
