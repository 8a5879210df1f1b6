"""batch.py keeps every case's result its own: a batch serves each case exactly the outputs the
case's graph computes alone, a wrong value lands only in the case that computed it, and a batch that
fails hands each case back to a run of its own (the failing case fails with its own error).
Runs on the integer reference (qcomp.ref), so it needs no toolchain: about a second."""
from __future__ import annotations

import functools

import numpy as np
import pytest

from qcomp.ref import run_integer

from .batch import MAX_BYTES, MAX_TENSORS, _accepts, _batches, batched, footprint
from .cases import CASES, materialize
from .targets import REFUSED

@functools.cache
def _first_batch() -> tuple:
    """The cases of the first batch when every case is accepted."""
    return tuple(_batches(lambda g: True)[0])


class Recorder:
    """run_integer, recording the name of every graph it runs; `corrupt` adds 1 to the outputs whose
    name starts with it, and the graphs named in `fail` raise."""
    def __init__(self, corrupt: str | None = None, fail: tuple[str, ...] = ()):
        self.graphs, self.corrupt, self.fail = [], corrupt, fail

    def __call__(self, graph, feeds):
        self.graphs.append(graph.name)
        if graph.name in self.fail:
            raise RuntimeError(f"{graph.name} broke")
        out = run_integer(graph, feeds)
        return {k: (v + 1).astype(v.dtype) if self.corrupt and k.startswith(self.corrupt) else v
                for k, v in out.items()}


def _alone(case):
    g, f = materialize(case)
    return run_integer(g, {k: v.copy() for k, v in f.items()})


def _call(run, case):
    g, f = materialize(case)
    return run(g, {k: v.copy() for k, v in f.items()})


def test_a_batch_serves_each_case_what_it_computes_alone():
    cases = _first_batch()
    assert len(cases) > 3
    rec = Recorder()
    run = batched(rec)
    for case in cases:
        got, want = _call(run, case), _alone(case)
        assert sorted(got) == sorted(want)
        for k in want:
            np.testing.assert_array_equal(got[k], want[k], err_msg=f"{case.name}: {k}")
    assert rec.graphs == ["opcase_batch"], rec.graphs   # one run for the whole batch


def test_a_wrong_value_fails_only_its_own_case():
    cases = _first_batch()
    run = batched(Recorder(corrupt="c2."))
    for i, case in enumerate(cases):
        got, want = _call(run, case), _alone(case)
        same = all(np.array_equal(got[k], want[k]) for k in want)
        assert same == (i != 2), case.name


def test_a_failing_batch_runs_its_cases_alone_and_the_failure_is_the_failing_cases():
    cases = _first_batch()
    bad = cases[1]
    rec = Recorder(fail=("opcase_batch", bad.name))
    run = batched(rec)
    for case in cases:
        if case is bad:
            with pytest.raises(RuntimeError, match="broke"):
                _call(run, case)
        else:
            got, want = _call(run, case), _alone(case)
            assert all(np.array_equal(got[k], want[k]) for k in want), case.name
    assert rec.graphs.count("opcase_batch") == 1   # the failed batch is not retried for every case
    assert rec.graphs[1:] == [c.name for c in cases]


def test_a_graph_that_is_not_a_case_runs_alone():
    case = next(c for c in _first_batch() if all(v.dtype == np.int8 for v in materialize(c)[1].values()))
    g, f = materialize(case)
    changed = {k: (v ^ 1).astype(v.dtype) for k, v in f.items()}   # the case's graph, other feeds
    rec = Recorder()
    got = batched(rec)(g, changed)
    assert rec.graphs == [g.name]
    want = run_integer(g, changed)
    assert all(np.array_equal(got[k], want[k]) for k in want)


@pytest.mark.parametrize("target", ["cortex-m4", "cortex-m55", "dsp-c"])
def test_batches_hold_every_accepted_case_and_no_refused_one(target):
    """Every case the backend accepts is in exactly one batch, within the limits; the refused ones
    (targets.REFUSED) run alone, so their refusal is asserted as before."""
    batches = _batches(_accepts(target))
    names = [c.name for b in batches for c in b]
    refused = {c for t, c in REFUSED if t == target}
    assert refused and len(names) == len(set(names))
    assert set(names) == {c.name for c in CASES} - refused
    for b in batches:
        graphs = [materialize(c)[0] for c in b]
        assert sum(len(g.inputs) for g in graphs) <= MAX_TENSORS and sum(len(g.outputs) for g in graphs) <= MAX_TENSORS
        assert len(b) == 1 or sum(map(footprint, graphs)) <= MAX_BYTES
