"""The integer Softmax golden vectors (tests/fixedpoint/vectors/softmax.csv, made by the independent
bigint formulation) through every target's QSoftmax kernel: every edge and diff_min row and every
20th random row (28 rows: a compile per backend stays short, and the cross runner's 64 files
suffice), each row its own QSoftmax node (its own input and parameters) in one graph. Every row,
and every primitive value for value, runs through the C transcription in tests/backends/c; the
spec itself reproduces them all in tests/fixedpoint."""
from __future__ import annotations

import csv
import functools
from pathlib import Path

import numpy as np
import pytest

from qcomp.ir import DType, Graph, QuantParams, Stage, TensorType, qops, verify

from .targets import TARGETS, Target

VECTORS = Path(__file__).resolve().parents[1] / "fixedpoint" / "vectors" / "softmax.csv"


@functools.cache
def _graph() -> tuple[Graph, dict[str, np.ndarray], dict[str, list[int]]]:
    with open(VECTORS, newline="") as f:
        rows = list(csv.DictReader(f))
    randoms = [r for r in rows if r["kind"] == "random"]
    rows = [r for r in rows if r["kind"] != "random"] + randoms[::20]
    g = Graph(name="softmax_vectors", stage=Stage.TARGET)
    feeds, want = {}, {}
    for k, r in enumerate(rows):
        x = np.array([int(v) for v in r["x"].split()], np.int8).reshape(1, -1)
        g.add_input(f"x{k}", TensorType(x.shape, DType.INT8, QuantParams(float(r["s_in"]), 0)))
        op = qops.QSoftmax(1, int(r["input_multiplier"]), int(r["input_left_shift"]), int(r["diff_min"]))
        g.add_node(op, [f"x{k}"], f"softmax{k}", outputs=[f"y{k}"],
                   out_types=[TensorType(x.shape, DType.INT8, QuantParams(1 / 256, -128))])
        feeds[f"x{k}"], want[f"y{k}"] = x, [int(v) for v in r["out"].split()]
    g.outputs = list(want)
    return verify(g), feeds, want


@pytest.mark.parametrize("target", TARGETS, ids=lambda t: t.name)
def test_golden_rows(target: Target):
    reason = target.skip()
    if reason:
        pytest.skip(reason)
    g, feeds, want = _graph()
    assert len(want) == 28
    got = target.run(g, feeds)
    bad = [o for o in want if got[o].reshape(-1).tolist() != want[o]]
    assert not bad, f"{target.name}: {len(bad)} of {len(want)} rows differ, first {bad[:5]}"
