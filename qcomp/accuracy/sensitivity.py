"""Measured sensitivity: the output cosine gained by raising one activation tensor alone.

    baseline       = cosine(default int8 build)                         (accuracy/trials.py)
    cosine(T, k)   = cosine(build with T alone raised to kind k)        (raise_entries, accuracy/kinds.py)
    gain(T, k)     = cosine(T, k) - baseline

over the candidate tensors (the int8 activations of the default build, graph inputs included) and
the kinds the target offers, one trial each, all on one calibration. This replaces attributing the
quantization noise to ops (SNR drops): the noise a tensor's int8 grid adds is invisible in its own
SNR when the tensor is long-tailed (a few huge values stretch the grid, and the many small values
that matter downstream fall into a handful of codes), while raising it shows at the output.

`ranked()` gives, per tensor, its best kind (largest gain; on a tie the cheaper kind), ordered by
gain (largest first), then cost, then graph order: deterministic.
"""
from __future__ import annotations

from dataclasses import dataclass

from .kinds import candidates, raise_cost, raise_entries
from .trials import Progress, Trials, merge


@dataclass(frozen=True)
class Sensitivity:
    tensor: str                      # a value of the FLOAT graph (the model's tensor name)
    kind: str                        # the kind it was raised to
    cosine: float                    # output cosine with this tensor alone raised
    gain: float                      # cosine - baseline
    cost: int                        # time added, int8-MAC equivalents (accuracy/costs.py)
    entries: tuple[tuple[str, str], ...]   # the --precision entries of the raise (NAME, KIND)
    index: int                       # position among the candidates (graph order)

    @property
    def flags(self) -> str:
        return " ".join(f"--precision {name}={kind}" for name, kind in self.entries)


@dataclass(frozen=True)
class SensitivityResult:
    baseline: float                  # output cosine of the default int8 build
    rows: tuple[Sensitivity, ...]    # every (tensor, kind) measured, kinds in order, tensors in graph order
    samples: int                     # evaluation samples each trial ran
    kinds: tuple[str, ...]

    def ranked(self) -> tuple[Sensitivity, ...]:
        """The best kind of each tensor, largest gain first (module docstring)."""
        best: dict[str, Sensitivity] = {}
        for r in self.rows:   # kinds cheapest first: a later kind replaces only on a strictly larger gain
            if r.tensor not in best or r.gain > best[r.tensor].gain:
                best[r.tensor] = r
        return tuple(sorted(best.values(), key=lambda r: (-r.gain, r.cost, r.index)))


def measure(trials: Trials, kinds: tuple[str, ...], progress: Progress | None = None,
            tensors: tuple[str, ...] | None = None) -> SensitivityResult:
    """Sensitivity of every candidate tensor (or of `tensors`) for each kind of `kinds`, on the
    user's --precision choices (trials.options.precision) as the baseline."""
    from ..passes.precision import parse_precision
    user = parse_precision(trials.options.precision)
    if tensors is None:
        q, _ = trials.quantize(user)
        tensors = candidates(trials.gf, q, user)
    plan = [(k, i, t) for k in kinds for i, t in enumerate(tensors)]
    total = len(plan) + 1
    baseline = trials.required(user)
    if progress is not None:
        progress(1, total)
    rows, seen = [], set()
    for done, (kind, index, tensor) in enumerate(plan, start=2):
        entries = raise_entries(trials.gf, tensor, kind)
        precision = merge(user, [entries], trials.gf)
        same = (kind, tuple(sorted(entries.items())))   # a tensor whose raise is an earlier one's (x, its NHWC view)
        if precision is not None and same not in seen:
            seen.add(same)
            cos = trials.cosine(precision)
            if cos is not None:   # None: a raise the pipeline refuses (trials.py), no candidate
                cost = raise_cost(trials.gf, tensor, kind, trials.costs)
                rows.append(Sensitivity(tensor, kind, cos, cos - baseline, cost, tuple(entries.items()), index))
        if progress is not None:
            progress(done, total)
    return SensitivityResult(baseline, tuple(rows), len(trials.samples), tuple(kinds))
