"""The search of `--accuracy COS`: cost-aware greedy over single raises, then group raises, then a prune.

    current = cosine(no raise);  chosen = []
    for kind in the target's kinds, cheapest first (int16, then float: accuracy/kinds.py):
      for each batch of the proxy ranking (accuracy/autopilot.py), while current < COS:
        sensitivities of the batch's tensors (accuracy/sensitivity.py): gain(T), cost(T)
        for T by  gain(T) / cost(T)  (largest first; then gain, then graph order), gain > 0:
            keep T if cosine(chosen + T) > current                      (one trial)
      if kind is int16 and current < COS: GROUPS (below)
    prune (when reached): each kept raise, costliest first, is dropped if COS holds without it;
        a group is pruned by its quarters (GROUP_PRUNE_PARTS), costliest first

cost(T) is the time the raise adds on the target (accuracy/costs.py: measured per op class and
precision on x86-vnni, where float costs 8x to 20x int8 and int16 about 2x), so among raises that
help, the one that buys the most cosine per unit of latency goes first, and float, tried only
after every int16 raise of the batches measured, is ranked by its real price.

GROUPS. Single raises do not add up where the error is spread over many tensors (MiniLM's residual
stream: every residual Add, LayerNorm and FFN output carries part of it; raising any one leaves the
others' grids). So once the int16 singles are exhausted, whole groups are tried as one raise each,
on top of the raises kept: the int16 candidates produced by one op kind (every Add output, every
Clip output, ...; two members at least) and "every activation" (all of them). Graph inputs are
left out (a target whose inputs are int8 or float only refuses them); graph outputs are members
(the output's own grid is often the last error left), and dropped by the repair below where the
target refuses an int16 output. Per round,
the groups are tried cheapest first (cost of the group given the raises kept); the first that
reaches COS is taken (the cheapest that reaches), else the one of best gain per cost that raises
the cosine is kept and the next round starts, at most GROUP_ROUNDS rounds. Each group trial is one
trial, so the budget is bounded: op kinds + 1 trials per round. A group leaves out the tensors
whose single raise the pipeline refused; a group trial refused all the same (an int16 input whose
bias does not fit the accumulator, a node the backend cannot emit: the refusal names the node) is
tried again without the members that node reads (else those it writes), at most GROUP_REPAIRS
times (a refusal costs no integer run).

Deterministic: every order is by measured numbers, then graph order, and trials are cached.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace

from ..ir import Graph
from .kinds import choice_cost, readers
from .sensitivity import measure
from .trials import merge

GROUP_ROUNDS = 2        # rounds of group trials after the int16 singles (module docstring)
GROUP_REPAIRS = 4       # retries of a refused group without the members its refusal names
GROUP_PRUNE_PARTS = 4   # a kept group is pruned by this many parts (graph order)
MIN_GROUP = 2           # members of a group of one op kind at least


@dataclass(frozen=True)
class Raise:
    tensor: str                # the tensor raised, or a group's label ("every Add output (26 tensors)")
    kind: str
    entries: dict[str, str]
    gain_alone: float          # its sensitivity: cosine gained raising it alone (a group: on the raises before it)
    cost: int                  # time added alone, int8-MAC equivalents (accuracy/costs.py)
    cosine_after: float = 0.0  # the held-back cosine with this and every raise before it
    members: tuple[str, ...] = ()   # a group's tensors (empty for a single raise)


def groups(gf: Graph, every: tuple[str, ...]) -> list[tuple[str, tuple[str, ...]]]:
    """(label, tensors) of the group raises (module docstring), in graph order of their first member."""
    producer = {v: n for n in gf.nodes for v in n.outputs}
    inner = tuple(t for t in every if t in producer)
    by_kind: dict[str, list[str]] = {}
    for t in inner:
        by_kind.setdefault(producer[t].kind, []).append(t)
    out = [(f"every {k} output ({len(ts)} tensors)", tuple(ts)) for k, ts in by_kind.items()
           if MIN_GROUP <= len(ts) < len(inner)]
    if len(inner) >= MIN_GROUP:
        out.append((f"every activation ({len(inner)} tensors)", inner))
    return out


class Search:
    """One --accuracy search (module docstring) over `trials` (accuracy/trials.py: .gf, .costs,
    .cosine(precision), .required(precision))."""

    def __init__(self, trials, user: dict[str, str], goal: float, progress=None, order: str = "gain_per_cost"):
        self.trials, self.user, self.goal, self.progress = trials, user, goal, progress
        self.order = order   # "gain": the gain-alone order (for comparison), else gain per unit of cost
        self.gf = trials.gf
        self.ticks = 0
        self.measured: dict[str, int] = {}
        self.refused_alone: set[str] = set()   # tensors whose single int16 raise the pipeline refused

    def tick(self, done=None, total=None) -> None:
        self.ticks += 1
        if self.progress is not None:
            self.progress(self.ticks, None)

    def precision(self, raises: list[Raise]) -> dict[str, str] | None:
        return merge(self.user, [r.entries for r in raises], self.gf)

    def cosine(self, raises: list[Raise]) -> float | None:
        precision = self.precision(raises)
        return None if precision is None else self.trials.cosine(precision)

    def cost(self, raises: list[Raise]) -> float:
        """cost(set) of the raises (accuracy/costs.py), the user's own entries not counted."""
        precision = self.precision(raises) or {}
        return choice_cost(self.gf, {k: v for k, v in precision.items() if k not in self.user}, self.trials.costs)

    def key(self, s):
        if self.order == "gain":
            return (-s.gain, s.cost, s.index)
        return (-s.gain / max(s.cost, 1), -s.gain, s.index)

    def run(self, kinds: tuple[str, ...], batches: list[tuple[str, ...]] | None, every: tuple[str, ...]):
        """(the raises kept, whether the goal was reached, tensors measured per kind)."""
        current = self.trials.required(self.user)
        chosen: list[Raise] = []
        for rank, kind in enumerate(kinds):
            for tensors in batches or [None]:   # the next batch only while the goal is not reached
                if current >= self.goal:
                    break
                chosen, current = self.singles(chosen, current, kind, kinds, rank, tensors)
            if kind == "int16" and current < self.goal:
                chosen, current = self.group_rounds(chosen, current, every)
        reached = current >= self.goal
        if reached:
            chosen = self.prune(chosen)
        after, kept = [], []
        for r in chosen:   # the cosine after each kept raise, in order (cached where unchanged)
            kept.append(r)
            after.append(replace(r, cosine_after=self.cosine(kept)))
        return after, reached, self.measured

    def singles(self, chosen, current, kind, kinds, rank, tensors):
        done = {r.tensor for r in chosen if kinds.index(r.kind) >= rank} | \
            {t for r in chosen for t in r.members if kinds.index(r.kind) >= rank}
        sens = measure(self.trials, (kind,), self.tick, tensors)
        self.measured[kind] = self.measured.get(kind, 0) + len(sens.rows)
        if kind == "int16":   # the singles the pipeline refused (known from their trials: no new trial)
            for t in set(tensors or ()) - {s.tensor for s in sens.rows}:
                precision = self.precision([Raise(t, kind, {t: kind}, 0.0, 0)])
                if precision is not None and self.trials.refusal(precision):
                    self.refused_alone.add(t)
        for s in sorted((s for s in sens.rows if s.gain > 0 and s.tensor not in done), key=self.key):
            step = Raise(s.tensor, kind, dict(s.entries), s.gain, s.cost)
            trial = [r for r in chosen if r.tensor != s.tensor] + [step]
            cos = self.cosine(trial)
            self.tick()
            if cos is not None and cos > current:
                chosen, current = trial, cos
                if current >= self.goal:
                    break
        return chosen, current

    def group_rounds(self, chosen, current, every):
        tried: set[str] = set()
        for _ in range(GROUP_ROUNDS):
            base_cost = self.cost(chosen)
            options = []
            for label, members in groups(self.gf, tuple(t for t in every if t not in self.refused_alone)):
                if label in tried:
                    continue
                step = Raise(label, "int16", {t: "int16" for t in members}, 0.0, 0, members=members)
                options.append((self.cost(chosen + [step]) - base_cost, label, step))
            best = None
            for extra, label, step in sorted(options, key=lambda o: o[0]):   # cheapest first (stable: graph order)
                tried.add(label)
                step, cos = self.group_trial(chosen, step)
                self.tick()
                if cos is None or cos <= current:
                    continue
                extra = self.cost(chosen + [step]) - base_cost   # of the group as tried (repaired or not)
                step = replace(step, gain_alone=cos - current, cost=int(round(extra)))
                if cos >= self.goal:
                    best = (cos, step)
                    break
                if best is None or (cos - current) / max(extra, 1) > best[1].gain_alone / max(best[1].cost, 1):
                    best = (cos, step)
            if best is None:
                break
            chosen, current = chosen + [best[1]], best[0]
            if current >= self.goal:
                break
        return chosen, current

    def group_trial(self, chosen: list[Raise], step: Raise) -> tuple[Raise, float | None]:
        """(the group, repaired if its trial was refused, and its cosine on top of `chosen`; module docstring)."""
        reads = readers(self.gf)
        producer = {v: n.name for n in self.gf.nodes for v in n.outputs}
        for _ in range(GROUP_REPAIRS + 1):
            cos = self.cosine(chosen + [step])
            precision = self.precision(chosen + [step])
            why = self.trials.refusal(precision) if cos is None and precision is not None else ""
            named = {name.split("/")[0] for name in re.findall(r"node '([^']+)'", why)}
            bad = {t for t in step.members if any(n.name in named for n in reads.get(t, ()))} or \
                {t for t in step.members if producer.get(t) in named} or \
                {t for t in step.members if any(name.startswith(t) for name in named)}
            # what the node reads, else what it writes, else the tensor it is named after (an output's Dequantize)
            if cos is not None or not bad or len(bad) == len(step.members):
                return step, cos
            members = tuple(t for t in step.members if t not in bad)
            step = replace(step, members=members, entries={t: "int16" for t in members},
                           tensor=step.tensor.split(" (")[0] + f" ({len(members)} tensors)")
        return step, None

    def prune(self, chosen: list[Raise]) -> list[Raise]:
        for r in sorted(chosen, key=lambda r: (-r.cost, -chosen.index(r))):
            without = [x for x in chosen if x is not r]
            cos = self.cosine(without)
            self.tick()
            if cos is not None and cos >= self.goal:
                chosen = without
                continue
            if r.members and r in chosen:
                chosen = self.prune_group(chosen, r)
        return chosen

    def prune_group(self, chosen: list[Raise], group: Raise) -> list[Raise]:
        """Drop parts of a kept group (GROUP_PRUNE_PARTS, in graph order, costliest first) while COS holds."""
        index = chosen.index(group)
        members = list(group.members)
        size = -(-len(members) // GROUP_PRUNE_PARTS)
        parts = [tuple(members[i:i + size]) for i in range(0, len(members), size)]
        others = [x for x in chosen if x is not group]

        def cost_of(part):
            return self.cost([Raise("", "int16", {t: "int16" for t in part}, 0.0, 0)])
        for part in sorted(parts, key=lambda p: (-cost_of(p), members.index(p[0]))):
            left = tuple(t for t in members if t not in part)
            if not left:
                continue
            trial = replace(group, entries={t: "int16" for t in left}, members=left,
                            tensor=group.tensor.split(" (")[0] + f" ({len(left)} of {len(group.members)} tensors)")
            cos = self.cosine(others + [trial])
            self.tick()
            if cos is not None and cos >= self.goal:
                members, group = list(left), trial
        out = list(chosen)
        out[index] = replace(group, cost=int(round(self.cost([group]))))
        return out
