"""The terminal face of `qcomp report`: a progress bar while comparing, then short rich tables of the
worst layers, the tensors ranked by measured sensitivity with the --precision suggestions, and the
model outputs."""
from __future__ import annotations

import math
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from .compare import Progress
from ..accuracy import SensitivityResult
from .records import LayerRow, Report
from .sensitivity import suggestions


def _num(v: float | None, fmt: str) -> str:
    if v is None:
        return ""
    if not math.isfinite(v):
        return "inf" if v > 0 else "-inf"
    return format(v, fmt)


def _pct(v: float | None) -> str:
    if v is None:
        return ""
    return f"{100 * v:.2f}%" if v == 0 or v >= 1e-4 else f"{100 * v:.2g}%"


@contextmanager
def progress_bar() -> Iterator[Progress | None]:
    """A rich progress bar on a terminal (None elsewhere, so CI logs stay clean). The bar starts at
    the first update: calibration, before it, shows a bar of its own, and rich allows one at a time."""
    if not sys.stderr.isatty():
        yield None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress as Bar, TextColumn, TimeRemainingColumn
    bar = Bar(TextColumn("comparing float and int8"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
              transient=True)
    tasks: list = []

    def update(done: int, total: int | None) -> None:
        if not tasks:
            bar.start()
            tasks.append(bar.add_task("compare", total=total))
        bar.update(tasks[0], completed=done, total=total)

    try:
        yield update
    finally:
        if tasks:
            bar.stop()


def _layer_table(title: str, rows: tuple[LayerRow, ...]):
    from rich.table import Table
    table = Table(title=title, title_justify="left")
    for col in ("#", "node", "op", "SNR dB", "drop dB", "own SNR dB", "cosine", "max abs err", "clip"):
        table.add_column(col, justify="left" if col in ("node", "op") else "right")
    for r in rows:
        e = r.error
        table.add_row(str(r.index), r.node, r.op, _num(e.snr_db, ".2f"), _num(r.snr_drop_db, ".2f"),
                      _num(r.own_snr_db, ".2f"), f"{e.cosine:.5f}", f"{e.max_abs_error:.4g}", _pct(e.clip_rate))
    return table


def _sensitivity_table(result: SensitivityResult, top: int):
    from rich.table import Table
    table = Table(title=f"most sensitive tensors: output cosine {result.baseline:.6f} in int8, and with each tensor "
                        f"alone raised (measured on {result.samples} samples)", title_justify="left")
    for col in ("tensor", "kind", "cosine", "gain", "cost (MACs)"):
        table.add_column(col, justify="left" if col in ("tensor", "kind") else "right")
    for r in result.ranked()[:max(top, 0)]:
        table.add_row(r.tensor, r.kind, f"{r.cosine:.6f}", f"{r.gain:+.6f}", f"{r.cost:,}")
    return table


def print_report(report: Report, console, top: int = 10) -> None:
    """Print the summary of `report` on a rich Console."""
    from rich.table import Table
    d = report.data
    console.print(f"{report.model}: {len(report.layers)} int8 tensors compared with float on {d.samples} "
                  f"samples of {d.path}", markup=False)
    if report.layers:
        console.print(_layer_table(f"worst {min(top, len(report.layers))} layers (lowest SNR)", report.worst(top)))
    if report.sensitivity is not None:
        console.print(_sensitivity_table(report.sensitivity, top))
        for line in suggestions(report.sensitivity):
            console.print(f"suggestion: {line}", markup=False)
    table = Table(title="outputs", title_justify="left")
    for col in ("output", "cosine", "SNR dB", "max abs err", "top-1 agree", "acc float", "acc int8"):
        table.add_column(col, justify="left" if col == "output" else "right")
    for o in report.outputs:
        e = o.error
        table.add_row(o.name, f"{e.cosine:.5f}", _num(e.snr_db, ".2f"), f"{e.max_abs_error:.4g}",
                      _pct(o.top1_agreement), _pct(o.accuracy_float), _pct(o.accuracy_int8))
    console.print(table)
    if report.calibration_methods:   # --calib-method auto: which method each range came from
        counts: dict[str, int] = {}
        for m in report.calibration_methods.values():
            counts[m] = counts.get(m, 0) + 1
        console.print("--calib-method auto chose: " + ", ".join(
            f"{m} for {k} tensors" for m, k in sorted(counts.items(), key=lambda mk: (-mk[1], mk[0])))
            + " (per tensor in report.json, calibration.methods)", markup=False)
    for note in report.notes:
        console.print(note if note.startswith("warning: ") else f"note: {note}", markup=False)
