"""`--accuracy COS`: raise the fewest, cheapest activation tensors until the output cosine reaches COS.

    calibration set --split_held_back--> calibration part (calibrates, once)  +  held-back part (measures)
    baseline = cosine(default build)                                 (accuracy/trials.py, held-back samples)
    pre-selection: the candidates ranked by the proxy (accuracy/proxy.py: the output error each
        tensor's int8 grid adds alone, in float), the top TOP_CANDIDATES kept; a model with no more
        candidates than that skips the proxy and measures all of them (small models: unchanged)
    for kind in the target's kinds, cheapest first (int16, then float: accuracy/kinds.py):
      for each batch of TOP_CANDIDATES of the proxy ranking (at most MAX_BATCHES; one batch of
      every candidate on a small model), while the cosine is below COS:
        sensitivities of the batch's tensors not yet raised to this kind or a wider one
                                                                       (accuracy/sensitivity.py)
        in order of gain alone (largest first), then cost, then graph order, for those with gain > 0:
            trial = chosen + this raise;  keep it if it raises the cosine (else it is dropped)
            stop when the cosine reaches COS
    prune (when reached): each kept raise, costliest first, is dropped again if COS holds without it

so float is tried only once every int16 raise that helps alone (of the batches measured) has been
tried and COS is still not reached, and the final set holds no raise the target can do without.
Every number in the result is a measured trial (none is estimated), and the artifact is quantized
with exactly the calibration and the precision measured last. When no set reaches COS, the build goes on with the set of the
best cosine reached and says so (`reached` false in the manifest; a warning on the command line).

Cost on a large model: the proxy (a few float passes' work per candidate, accuracy/proxy.py), then
at most TOP_CANDIDATES sensitivity trials per batch and kind (a kind's next batch is measured
only while COS is not reached: int16 gets up to MAX_BATCHES * TOP_CANDIDATES tensors before float
is tried), the greedy trials (at most as many) and the prune, each on the held-back samples,
which a large model holds to a work budget (trials.py). A tensor outside the proxy's top
MAX_BATCHES * TOP_CANDIDATES is never raised; `choose_precision(..., top=None)` measures every
candidate (the exhaustive search, one trial per candidate and kind).
"""
from __future__ import annotations

from dataclasses import dataclass

from ..builder import BuildOptions, calibrate_model, calibration_inputs
from ..errors import QcompError
from ..ir import Graph
from ..passes.precision import parse_precision
from .kinds import available_raise_kinds
from .kinds import candidates
from .proxy import preselect, rank
from .sensitivity import measure
from .trials import Trials, held_back_rule, merge, progress_bar, split_held_back

TOP_CANDIDATES = 12     # candidates measured by trials per batch, of the proxy ranking (module docstring)
MAX_BATCHES = 3         # batches of TOP_CANDIDATES per kind at most


@dataclass(frozen=True)
class Raise:
    tensor: str
    kind: str
    entries: dict[str, str]
    gain_alone: float          # its sensitivity: cosine gained raising it alone
    cost: int
    cosine_after: float = 0.0  # the held-back cosine with this and every raise before it


def check_accuracy_target(options: BuildOptions, target) -> None:
    """Refuse --accuracy where it cannot work, before any work."""
    if options.accuracy is None:
        return
    if not available_raise_kinds(target):
        raise QcompError(f"--accuracy: target {target.name!r} has no wider precision than int8 to raise a tensor "
                         f"to (no float math, no int16 kernels in its backend): build without --accuracy, or "
                         f"for a target that has them (x86-vnni, arm-sdot, cuda, ref)")
    if options.quant != "full":
        raise QcompError(f"--accuracy raises int8 activations of a --quant full build; --quant {options.quant} "
                         f"has none: drop --accuracy or --quant")
    if options.calib is None:
        raise QcompError("--accuracy measures the output cosine on held-back calibration samples: give them "
                         "with --calib")


def model_macs(g: Graph) -> int:
    """Multiply-accumulates of one run of `g` (qcomp.ir.stats.node_macs over its nodes)."""
    from ..ir.stats import node_macs
    return int(sum(node_macs(g, n) or 0 for n in g.nodes))


def choose_precision(g: Graph, options: BuildOptions, target,
                     top: int | None = TOP_CANDIDATES) -> tuple[Graph, dict]:
    """The imported model `g` quantized with the precision --accuracy chose, and its calibration
    summary with `accuracy` (the manifest's record: module docstring). `top`: how many candidates
    of the proxy ranking are measured (None: all)."""
    from ..calibdata import load_calibration
    check_accuracy_target(options, target)
    kinds = available_raise_kinds(target)
    inputs, _ = calibration_inputs(g)
    data = load_calibration(options.calib, inputs, size=options.calib_size, mean=options.mean, std=options.std,
                            resize=options.resize, crop=options.crop, color=options.color, layout=options.layout)
    n = len(data)
    calib_part, held = split_held_back(data, macs=model_macs(g))
    calibrated = calibrate_model(g, options, data=calib_part)
    trials = Trials(g, options, calibrated, held, target)
    user = parse_precision(options.precision)
    q0, _ = trials.quantize(user)
    every = candidates(trials.gf, q0, user)
    groups, errors = batches(trials.gf, q0, every, trials.samples, top)
    with progress_bar("measuring sensitivity") as progress:
        chosen, reached, measured = _greedy(trials, user, kinds, options.accuracy, progress, groups)
    precision = merge(user, [r.entries for r in chosen], trials.gf)
    q, summary = trials.quantize(precision)
    baseline = trials.required(user)
    final = chosen[-1].cosine_after if chosen else baseline
    summary["accuracy"] = {
        "target_cosine": options.accuracy, "reached": reached, "baseline_cosine": baseline, "final_cosine": final,
        "held_back_samples": len(held), "calibration_samples": len(calib_part),
        "held_back_rule": held_back_rule(len(held), n),
        "candidates": len(every), "preselected": len(groups[0]),
        "proxy": [{"tensor": t, "error": errors[t] if errors[t] != float("inf") else None}
                  for t in rank(every, errors)[:top * MAX_BATCHES]] if errors else [],
        "kinds": list(kinds), "measured": measured, "trials": trials.runs, "refused_trials": trials.refused,
        "raised": [{"tensor": r.tensor, "kind": r.kind, "precision": r.entries, "gain_alone": r.gain_alone,
                    "cosine_after": r.cosine_after, "cost": r.cost} for r in chosen],
        "precision": [f"{k}={v}" for k, v in precision.items() if k not in user],
    }
    return q, summary


def batches(gf: Graph, q0: Graph, every: tuple[str, ...], samples, top: int | None):
    """(the candidates in batches of `top` of the proxy ranking, at most MAX_BATCHES, each in graph
    order; the proxy errors): one batch of every candidate, no proxy, where `top` covers them all."""
    first, errors = preselect(gf, q0, every, samples, top)
    if not errors:
        return [first], errors
    order = rank(every, errors)[:top * MAX_BATCHES]
    return [tuple(t for t in every if t in set(order[i:i + top])) for i in range(0, len(order), top)], errors


def _greedy(trials: Trials, user: dict[str, str], kinds: tuple[str, ...], goal: float, progress,
            groups: list[tuple[str, ...]] | None = None):
    """(the raises kept, whether goal was reached, tensors measured per kind): module docstring."""
    gf = trials.gf
    current = trials.required(user)
    chosen: list[Raise] = []
    measured: dict[str, int] = {}
    ticks = [0]

    def tick(done=None, total=None):
        ticks[0] += 1
        if progress is not None:
            progress(ticks[0], None)

    def cosine(raises: list[Raise]) -> float | None:
        precision = merge(user, [r.entries for r in raises], gf)
        return None if precision is None else trials.cosine(precision)

    for rank, kind in enumerate(kinds):
        if current >= goal:
            break
        for tensors in groups or [None]:   # the next batch only while the goal is not reached
            if current >= goal:
                break
            done = {r.tensor for r in chosen if kinds.index(r.kind) >= rank}
            sens = measure(trials, (kind,), tick, tensors)
            measured[kind] = measured.get(kind, 0) + len(sens.rows)
            for s in sorted((s for s in sens.rows if s.gain > 0 and s.tensor not in done),
                            key=lambda s: (-s.gain, s.cost, s.index)):
                step = Raise(s.tensor, kind, dict(s.entries), s.gain, s.cost)
                trial = [r for r in chosen if r.tensor != s.tensor] + [step]
                cos = cosine(trial)
                tick()
                if cos is not None and cos > current:
                    chosen, current = trial, cos
                    if current >= goal:
                        break
    reached = current >= goal
    if reached:
        for r in sorted(chosen, key=lambda r: (-r.cost, -chosen.index(r))):
            without = [x for x in chosen if x is not r]
            cos = cosine(without)
            tick()
            if cos is not None and cos >= goal:
                chosen = without
    after, kept = [], []
    for r in chosen:   # the cosine after each kept raise, in order (cached where unchanged)
        kept.append(r)
        after.append(Raise(r.tensor, r.kind, r.entries, r.gain_alone, r.cost, cosine(kept)))
    return after, reached, measured


def accuracy_lines(record: dict) -> tuple[list[str], str | None]:
    """(the table and lines `qcomp build --accuracy` prints, the warning for stderr or None)."""
    lines = [f"--accuracy {record['target_cosine']}: int8 output cosine {record['baseline_cosine']:.6f} on "
             f"{record['held_back_samples']} held-back samples ({record['held_back_rule']})"]
    if record.get("preselected", 0) < record.get("candidates", 0):
        lines[0] += (f"; {record['candidates']} candidate tensors, measured in the proxy's order "
                     f"{record['preselected']} at a time")
    if not record["raised"]:
        lines[0] += ": reached with int8 everywhere, nothing raised" if record["reached"] else ""
    else:
        width = max(len("tensor"), *(len(r["tensor"]) for r in record["raised"]))
        lines.append(f"  {'tensor':<{width}}  {'kind':<6} {'gain alone':>10} {'cosine after':>12} {'cost (MACs)':>14}")
        for r in record["raised"]:
            lines.append(f"  {r['tensor']:<{width}}  {r['kind']:<6} {r['gain_alone']:>+10.6f} "
                         f"{r['cosine_after']:>12.6f} {r['cost']:>14,}")
        lines.append("  raised as: " + " ".join(f"--precision {p}" for p in record["precision"]))
    warning = None
    if record["reached"]:
        lines.append(f"  final cosine {record['final_cosine']:.6f} >= {record['target_cosine']} "
                     f"({record['trials']} trials)")
    else:
        warning = (f"--accuracy {record['target_cosine']} not reached: no set of raises "
                   f"({', '.join(record['kinds'])}) reached it; the best held-back cosine is "
                   f"{record['final_cosine']:.6f} (int8: {record['baseline_cosine']:.6f}), and the artifact is "
                   f"built with that set")
        lines.append(f"  not reached: best cosine {record['final_cosine']:.6f}")
    return lines, warning

