"""Run the float graph and the integer reference on the same samples and compare every int8 value.

For each sample (one at a time; nothing is kept across samples but the fixed-size statistics):

  1. run_integer(TARGET graph) keeps the int8 values that have a probe (qcomp.report.match);
  2. run_float(float graph) reports each float value as it is made; for every probe of that value
     x_hat = (q - zero_point) * scale (float32, fixedpoint.dequantize) is compared with x
     (qcomp.report.stats) and the int8 array is dropped;
  3. the model outputs (float, after the final Dequantize) are compared the same way, and, for
     logits-like outputs, their argmaxes.

The float graph must be the one that was calibrated (after FLOAT_PASSES), so value names match.
Peak memory: one sample's int8 activations plus one float activation at a time.

An output "looks like logits" when it is float and its shape without unit dimensions is [C] or
[N, C] with C >= 2: each of its N rows (or 1) is one prediction, `argmax` over C. Labels, when the
data has them, hold one class per row.
"""
from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import numpy as np

from .. import fixedpoint
from ..errors import QcompError
from ..ir import Graph, verify
from ..passes.lower_integer import lower_integer
from ..passes.observers import CalibrationError
from ..ref import run_float, run_integer
from .match import Probe, probes, weight_pairs
from .records import LayerRow, OutputRow, WeightRow
from .stats import ErrorStats, clip_bounds, distribution, new_histogram, snr_db

Progress = Callable[[int, int | None], None]


class ReportError(QcompError):
    """The report cannot be made from this model and data. The message says which value or sample."""


def logits_rows(shape: tuple[int, ...], is_float: bool) -> int | None:
    """Number of predictions in a logits-like output (module docstring), else None."""
    dims = [d for d in shape if d != 1]
    if not is_float or not 1 <= len(dims) <= 2 or dims[-1] < 2:
        return None
    return 1 if len(dims) == 1 else dims[0]


class _OutputStats:
    def __init__(self, name: str, shape: tuple[int, ...], is_float: bool):
        self.name, self.shape = name, shape
        self.error = ErrorStats()
        self.rows = logits_rows(shape, is_float)
        self.agree = self.total = self.right_float = self.right_int8 = self.labelled = 0

    def update(self, ref: np.ndarray, test: np.ndarray, label: np.ndarray | None) -> None:
        self.error.update(ref, test)
        if self.rows is None:
            return
        a = np.argmax(ref.reshape(self.rows, -1), axis=1)
        b = np.argmax(test.reshape(self.rows, -1), axis=1)
        self.agree += int(np.count_nonzero(a == b))
        self.total += self.rows
        if label is not None and label.size == self.rows:
            y = label.reshape(-1)
            self.right_float += int(np.count_nonzero(a == y))
            self.right_int8 += int(np.count_nonzero(b == y))
            self.labelled += self.rows

    def row(self) -> OutputRow:
        share = (lambda k, n: k / n if n else None)
        return OutputRow(self.name, self.shape, self.error.summary(), share(self.agree, self.total),
                         share(self.right_float, self.labelled), share(self.right_int8, self.labelled))


@dataclass(frozen=True)
class Comparison:
    """What `compare` measured: rows in graph order, and notes on values it had to leave out."""
    layers: tuple[LayerRow, ...]
    weights: tuple[WeightRow, ...]
    outputs: tuple[OutputRow, ...]
    samples: int                     # samples compared
    notes: tuple[str, ...]


def compare(float_graph: Graph, quantized_graph: Graph, samples: Iterable[Mapping[str, np.ndarray]], *,
            label_key: str | None = None, total: int | None = None, progress: Progress | None = None) -> Comparison:
    """Compare the graphs on `samples` (feed dicts). `label_key`, when given, names an entry of each
    sample that holds labels instead of a model input."""
    gf, q = float_graph, quantized_graph
    target = verify(lower_integer(q))
    found, notes = probes(gf, q)
    kept = [p for p in found if p.value in target.types]
    for p in found:
        if p not in kept:
            notes.append(f"int8 value {p.value!r} is not in the lowered graph (removed by lowering); left out")
    by_float: dict[str, list[int]] = {}
    for i, p in enumerate(kept):
        by_float.setdefault(p.float_value, []).append(i)
    wanted = {p.value for p in kept}
    errors = [ErrorStats(clip_bounds(p.scale, p.zero_point, *p.qrange)) for p in kept]
    hists = {f: new_histogram(f) for f in by_float}
    outs = [_OutputStats(o, gf.types[o].shape, gf.types[o].dtype.is_float) for o in gf.outputs]

    count = 0
    for feeds in samples:
        feeds = dict(feeds)
        label = None if label_key is None else feeds.pop(label_key, None)
        ints: dict[str, np.ndarray] = {}

        def keep(name: str, value: np.ndarray) -> None:
            if name in wanted:
                ints[name] = value

        def check(name: str, value: np.ndarray) -> None:
            idx = by_float.get(name)
            if idx is None:
                return
            try:
                hists[name].update(value)
            except CalibrationError:
                raise ReportError(f"evaluation sample {count}: float value {name!r} of the model has NaN or "
                                  f"Inf values; the float model itself overflows on this data") from None
            for i in idx:
                p = kept[i]
                errors[i].update(value, _dequantize(ints.pop(p.value), p))

        int_out = run_integer(target, feeds, on_value=keep)
        float_out = run_float(gf, feeds, on_value=check)
        for o in outs:
            o.update(np.asarray(float_out[o.name]), np.asarray(int_out[o.name]), label)
        count += 1
        if progress is not None:
            progress(count, total)
    if count == 0:
        raise ReportError("the evaluation data holds no samples; give samples with --data")

    summaries = [e.summary() for e in errors]
    for p, s in zip(kept, summaries):
        if s.count == 0:
            notes.append(f"int8 value {p.value!r}: the float run never produced {p.float_value!r}; left out")
    live = [(p, s) for p, s in zip(kept, summaries) if s.count > 0]
    snr_of = {p.value: s.snr_db for p, s in live}
    layers = [LayerRow(i, p.value, p.float_value, p.node, p.op, p.shape, p.scale, p.zero_point, s,
                       distribution(hists[p.float_value]), p.upstream, *_entry(s.snr_db, p, snr_of))
              for i, (p, s) in enumerate(live)]
    return Comparison(tuple(layers), tuple(compare_weights(gf, q)), tuple(o.row() for o in outs), count,
                      tuple(notes))


def _dequantize(q: np.ndarray, p: Probe) -> np.ndarray:
    return np.asarray(fixedpoint.dequantize(q, np.float32(p.scale), p.zero_point), dtype=np.float32)


def _nsr(snr: float) -> float:
    return 0.0 if snr == math.inf else (math.inf if snr == -math.inf else 10.0 ** (-snr / 10.0))


def _entry(snr: float, p: Probe, snr_of: dict[str, float]) -> tuple[float | None, float]:
    """(SNR drop, own SNR) of a probe against the lowest SNR among its upstream probes
    (qcomp.report docstring)."""
    before = min((snr_of[u] for u in p.upstream if u in snr_of), default=math.inf)
    if snr == math.inf:
        drop = 0.0
    elif before == math.inf:
        drop = None
    else:
        drop = before - snr
    added = _nsr(snr) - _nsr(before)
    own = math.inf if not added > 0 else (-math.inf if added == math.inf else -10.0 * math.log10(added))
    return drop, own


def compare_weights(gf: Graph, q: Graph) -> list[WeightRow]:
    rows = []
    for pair in weight_pairs(gf, q):
        w = q.constants[pair.value]
        qp = q.types[pair.value].quant
        shape = [1] * w.ndim
        if qp.axis is not None:
            shape[qp.axis] = -1
        w_hat = np.asarray(fixedpoint.dequantize(w, qp.scale.reshape(shape), qp.zero_point.reshape(shape)),
                           dtype=np.float32)
        ref = gf.constants[pair.float_value].astype(np.float32)
        total = ErrorStats()
        total.update(ref, w_hat)
        # weights are [O, ...]: output channels on axis 0
        ref64 = ref.reshape(w.shape[0], -1).astype(np.float64)
        err = w_hat.reshape(w.shape[0], -1).astype(np.float64) - ref64
        worst = min((snr_db(float(sig), float(noise))
                     for sig, noise in zip((ref64 ** 2).sum(axis=1), (err ** 2).sum(axis=1))), default=math.inf)
        rows.append(WeightRow(pair.node, pair.op, pair.value, tuple(w.shape), qp.axis is not None,
                              total.summary(), worst))
    return rows
