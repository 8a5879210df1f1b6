"""The report's ranking of tensors: measured sensitivity (qcomp/accuracy/sensitivity.py).

For each int8 activation tensor T and each kind the report's target offers (`--target` of the
config, default ref: float), the output cosine vs float when T alone is raised, measured with the
integer reference on up to SENSITIVITY_SAMPLES evaluation samples (evenly spread over --data,
the same samples for every trial), on the report's own calibration. The suggestions are the
`--precision NAME=KIND` flags of the raises that measured best (largest gain first): applied to
`qcomp build` with the same calibration, they give the measured cosine on these samples.
"""
from __future__ import annotations

import dataclasses

from ..accuracy import SensitivityResult, Trials, available_raise_kinds, measure, resolve_target
from ..accuracy.trials import progress_bar
from ..builder import BuildOptions, Calibrated
from ..ir import Graph

SENSITIVITY_SAMPLES = 8      # each trial runs them all: (tensors x kinds + 1) integer runs each
SUGGESTIONS = 3


def evenly_spread(indices: tuple[int, ...], k: int) -> tuple[int, ...]:
    """k of `indices` at positions (2j + 1) n // 2k (all of them when k >= n)."""
    n = len(indices)
    if k >= n:
        return indices
    return tuple(indices[(2 * j + 1) * n // (2 * k)] for j in range(k))


def report_sensitivity(graph: Graph, options: BuildOptions, calibrated: Calibrated,
                       evaluation) -> tuple[SensitivityResult | None, tuple[str, ...]]:
    """(the sensitivity of every tensor on the evaluation data, notes) for the report."""
    target = resolve_target(options.target)
    kinds = available_raise_kinds(target)
    if not kinds:
        return None, (f"target {target.name!r} offers no precision above int8 yet: no sensitivity measured",)
    picked = evenly_spread(evaluation.samples.indices, SENSITIVITY_SAMPLES)
    subset = dataclasses.replace(evaluation, samples=dataclasses.replace(evaluation.samples, indices=picked))
    label = evaluation.label_key
    samples = [{k: v for k, v in feeds.items() if k != label} for feeds in subset]
    trials = Trials(graph, options, calibrated, samples, target)
    with progress_bar("measuring sensitivity") as progress:
        result = measure(trials, kinds, progress)
    return result, ()


def suggestions(result: SensitivityResult | None, k: int = SUGGESTIONS) -> tuple[str, ...]:
    """The --precision flags of the k raises that measured best, each with what it measured."""
    return tuple(f"{r.flags}   (cosine {result.baseline:.6f} -> {r.cosine:.6f}, raising {r.tensor} to {r.kind})"
                 for r in best(result, k))


def best(result: SensitivityResult | None, k: int = SUGGESTIONS):
    """The k best raises with a gain, leaving out one whose flags include a better one's: it measured no more."""
    kept = []
    for r in (result.ranked() if result is not None else ()):
        if len(kept) == k or r.gain <= 0:
            break
        if not any(set(s.entries) <= set(r.entries) and r.gain <= s.gain for s in kept):
            kept.append(r)
    return tuple(kept)


def sensitivity_json(result: SensitivityResult | None) -> dict | None:
    if result is None:
        return None
    return {"baseline_cosine": result.baseline, "samples": result.samples, "kinds": list(result.kinds),
            "ranked": [{"tensor": r.tensor, "kind": r.kind, "cosine": r.cosine, "gain": r.gain, "cost": r.cost,
                        "precision": dict(r.entries)} for r in result.ranked()],
            "suggestions": [r.flags for r in best(result)]}
