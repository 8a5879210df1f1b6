"""`--accuracy COS`: raise the fewest, cheapest activation tensors until the output cosine reaches COS.

    calibration set --split_held_back--> calibration part (calibrates, once)  +  held-back part (measures)
    baseline = cosine(default build)                                 (accuracy/trials.py, held-back samples)
    bias correction (unless the user set --bias-correction): the default build with it; kept for
        the whole search when its cosine is higher. It costs no latency (a build-time bias shift,
        b' = b + (W - W_dq) E[x]) and removes the mean of the int8 weight grid's output error, which
        no activation raise touches: on EfficientNet-Lite0 int16 everywhere stops at the int8-weight
        floor (0.9895 held-back) and bias correction alone takes int8 from 0.9833 to above it
        (benchmarks/RESULTS.md, "Why int16 everywhere falls short")
    pre-selection: the candidates ranked by the proxy (accuracy/proxy.py: the output error each
        tensor's int8 grid adds alone, in float), in batches of TOP_CANDIDATES, at most MAX_BATCHES;
        a model with no more candidates than that skips the proxy and measures all of them at once
    the search (accuracy/search.py): per kind (int16, then float), the batches' single raises in
        order of gain per unit of cost, each kept if it raises the cosine; after the int16 singles,
        group raises (every output of one op kind, every activation) while COS is not reached;
        then a prune of what COS does not need
    the choice's predicted latency: cost(set) / the int8 model's time (accuracy/costs.py, per op
        class and precision, measured on x86-vnni)

so float is tried only once every int16 raise that helps (single or group) has been tried and COS
is still not reached, and the final set holds no raise the target can do without. Every cosine in
the result is a measured trial (none is estimated); the latency is predicted, from the cost model.
The artifact is quantized with exactly the calibration and the precision measured last. When no
set reaches COS, the build goes on with the set of the best cosine reached and says so (`reached`
false in the manifest; a warning on the command line).

Cost on a large model: the proxy (a few float passes' work per candidate, accuracy/proxy.py), then
at most TOP_CANDIDATES sensitivity trials per batch and kind (a kind's next batch is measured
only while COS is not reached), the greedy trials (at most as many), the group trials (op kinds
+ 1 per round, GROUP_ROUNDS rounds) and the prune, each on the held-back samples, which a large
model holds to a work budget (trials.py). A tensor outside the proxy's top MAX_BATCHES *
TOP_CANDIDATES is raised only as a member of a group; `choose_precision(..., top=None)` measures
every candidate (the exhaustive search, one trial per candidate and kind).
"""
from __future__ import annotations

import dataclasses

from ..builder import BuildOptions, calibrate_model, calibration_inputs
from ..errors import QcompError
from ..ir import Graph
from ..passes.precision import parse_precision
from .kinds import available_raise_kinds, candidates, choice_cost
from .proxy import preselect, rank
from .search import Raise, Search  # noqa: F401  (Raise: the record of one raise)
from .trials import Trials, held_back_rule, merge, progress_bar, split_held_back

TOP_CANDIDATES = 12     # candidates measured by trials per batch, of the proxy ranking (module docstring)
MAX_BATCHES = 3         # batches of TOP_CANDIDATES per kind at most


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
                     top: int | None = TOP_CANDIDATES, order: str = "gain_per_cost") -> tuple[Graph, dict]:
    """The imported model `g` quantized with the precision --accuracy chose, and its calibration
    summary with `accuracy` (the manifest's record: module docstring). `top`: how many candidates
    of the proxy ranking are measured (None: all); `order` "gain" orders single raises by gain alone
    (for comparison; accuracy/search.py)."""
    from ..calibdata import load_calibration
    check_accuracy_target(options, target)
    kinds = available_raise_kinds(target)
    inputs, _ = calibration_inputs(g)
    data = load_calibration(options.calib, inputs, size=options.calib_size, mean=options.mean, std=options.std,
                            resize=options.resize, crop=options.crop, color=options.color, layout=options.layout)
    n = len(data)
    calib_part, held = split_held_back(data, macs=model_macs(g))
    corrected = dataclasses.replace(options, bias_correction=True)
    calibrated = calibrate_model(g, corrected, data=calib_part)   # with the channel means bias correction reads
    plain = Trials(g, options, calibrated, held, target)
    user = parse_precision(options.precision)
    trials, other, correction = with_bias_correction(plain, corrected, user)
    q0, _ = trials.quantize(user)
    every = candidates(trials.gf, q0, user)
    groups, errors = batches(trials.gf, q0, every, trials.samples, top)
    with progress_bar("measuring sensitivity") as progress:
        search = Search(trials, user, options.accuracy, progress, order)
        chosen, reached, measured = search.run(kinds, groups, every)
    precision = merge(user, [r.entries for r in chosen], trials.gf)
    cost = choice_cost(trials.gf, {k: v for k, v in precision.items() if k not in user}, trials.costs)
    q, summary = trials.quantize(precision)
    baseline = plain.required(user)
    final = chosen[-1].cosine_after if chosen else trials.required(user)
    summary["accuracy"] = {
        "target_cosine": options.accuracy, "reached": reached, "baseline_cosine": baseline, "final_cosine": final,
        "held_back_samples": len(held), "calibration_samples": len(calib_part),
        "held_back_rule": held_back_rule(len(held), n),
        "candidates": len(every), "preselected": len(groups[0]),
        "proxy": [{"tensor": t, "error": errors[t] if errors[t] != float("inf") else None}
                  for t in rank(every, errors)[:top * MAX_BATCHES]] if errors else [],
        "kinds": list(kinds), "measured": measured, "bias_correction": correction,
        "trials": trials.runs + (other.runs if other else 0),
        "refused_trials": trials.refused + (other.refused if other else 0),
        "raised": [{"tensor": r.tensor, "kind": r.kind, "precision": r.entries, "gain_alone": r.gain_alone,
                    "cosine_after": r.cosine_after, "cost": r.cost,
                    **({"members": list(r.members)} if r.members else {})} for r in chosen],
        "order": order, "cost": int(round(cost)), "cost_model": trials.costs.family,
        "predicted_latency": trials.costs.latency(cost),
        "precision": [f"{k}={v}" for k, v in precision.items() if k not in user],
    }
    return q, summary


def with_bias_correction(plain: Trials, corrected: BuildOptions,
                         user: dict[str, str]) -> tuple[Trials, Trials | None, dict]:
    """(the trials the search runs, the other trials measured (their runs count too) or None, the
    manifest's record): `plain` with --bias-correction where that raises the default build's
    held-back cosine (module docstring), else `plain` itself."""
    if plain.options.bias_correction:
        return plain, None, {"tried": False, "chosen": True}
    without = plain.required(user)
    trials = plain.with_options(corrected)
    with_it = trials.cosine(user)
    chosen = with_it is not None and with_it > without
    record = {"tried": True, "chosen": chosen, "cosine_without": without, "cosine_with": with_it}
    return (trials, plain, record) if chosen else (plain, trials, record)


def batches(gf: Graph, q0: Graph, every: tuple[str, ...], samples, top: int | None):
    """(the candidates in batches of `top` of the proxy ranking, at most MAX_BATCHES, each in graph
    order; the proxy errors): one batch of every candidate, no proxy, where `top` covers them all."""
    first, errors = preselect(gf, q0, every, samples, top)
    if not errors:
        return [first], errors
    order = rank(every, errors)[:top * MAX_BATCHES]
    return [tuple(t for t in every if t in set(order[i:i + top])) for i in range(0, len(order), top)], errors


def accuracy_lines(record: dict) -> tuple[list[str], str | None]:
    """(the table and lines `qcomp build --accuracy` prints, the warning for stderr or None)."""
    lines = [f"--accuracy {record['target_cosine']}: int8 output cosine {record['baseline_cosine']:.6f} on "
             f"{record['held_back_samples']} held-back samples ({record['held_back_rule']})"]
    if record.get("preselected", 0) < record.get("candidates", 0):
        lines[0] += (f"; {record['candidates']} candidate tensors, measured in the proxy's order "
                     f"{record['preselected']} at a time")
    correction = record.get("bias_correction", {})
    if correction.get("tried") and correction.get("chosen"):
        lines.append(f"  --bias-correction: output cosine {correction['cosine_without']:.6f} -> "
                     f"{correction['cosine_with']:.6f} (no latency cost), kept for every trial")
    if not record["raised"]:
        lines[0] += ": reached with int8 everywhere, nothing raised" if record["reached"] else ""
    else:
        width = max(len("tensor"), *(len(r["tensor"]) for r in record["raised"]))
        lines.append(f"  {'tensor':<{width}}  {'kind':<6} {'gain alone':>10} {'cosine after':>12} {'cost (MACs)':>14}")
        for r in record["raised"]:
            lines.append(f"  {r['tensor']:<{width}}  {r['kind']:<6} {r['gain_alone']:>+10.6f} "
                         f"{r['cosine_after']:>12.6f} {r['cost']:>14,}")
        if len(record["precision"]) <= 12:
            lines.append("  raised as: " + " ".join(f"--precision {p}" for p in record["precision"]))
        else:
            lines.append(f"  raised as: {len(record['precision'])} --precision entries "
                         f"(the manifest's accuracy.precision)")
    if record["raised"] and "predicted_latency" in record:
        lines.append(f"  predicted latency cost {record['predicted_latency'] * 100:+.1f} % of the int8 build "
                     f"({record['cost']:,} int8-MAC equivalents; cost model: {record['cost_model']}, "
                     f"accuracy/costs.py)")
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

