"""Write a Report as DIR/report.csv, DIR/report.json and DIR/report.html.

report.csv: one row per int8 activation, in graph order (the columns of CSV_COLUMNS).
report.json: everything: sources, layers (with `upstream`), weights, outputs, notes, and the names
of the worst layers and of the entry points (Report.worst, Report.entry_points). JSON has no
infinities: a non-finite number is written as null, and each error carries `exact` (true when
the int8 tensor equals the float one, the usual reason for an infinite SNR).
report.html: a self-contained page (qcomp.report.html).
"""
from __future__ import annotations

import csv
import json
import math
import os
from dataclasses import asdict
from pathlib import Path

from ..errors import QcompError
from .html import render_html
from .records import LayerRow, Report
from .sensitivity import sensitivity_json
from .stats import ErrorSummary

CSV_COLUMNS = ("index", "value", "node", "op", "float_value", "shape", "cosine", "snr_db", "snr_drop_db", "own_snr_db",
               "max_abs_error", "clip_rate", "min", "q1", "median", "q3", "max", "scale", "zero_point")


def number(v: float | int | None) -> str:
    """A CSV cell: full float precision, `inf`/`-inf` spelled out, empty for None."""
    if v is None:
        return ""
    if isinstance(v, int):
        return str(v)
    return format(v, ".9g") if math.isfinite(v) else ("inf" if v > 0 else ("-inf" if v < 0 else "nan"))


def shape_text(shape: tuple[int, ...]) -> str:
    return "x".join(str(d) for d in shape)


def csv_row(r: LayerRow) -> list[str]:
    e, d = r.error, r.distribution
    return [str(r.index), r.value, r.node, r.op, r.float_value, shape_text(r.shape), number(e.cosine),
            number(e.snr_db), number(r.snr_drop_db), number(r.own_snr_db), number(e.max_abs_error), number(e.clip_rate),
            number(d.min), number(d.q1), number(d.median), number(d.q3), number(d.max), number(r.scale),
            number(r.zero_point)]


def _finite(v):
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {k: _finite(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_finite(x) for x in v]
    return v


def _error(e: ErrorSummary) -> dict:
    return asdict(e) | {"exact": e.max_abs_error == 0.0}


def report_json(report: Report) -> dict:
    def row(r) -> dict:
        d = asdict(r)
        d["error"] = _error(r.error)
        return d

    return _finite({
        "model": report.model,
        "quant": report.quant,
        "calibration": None if report.calibration is None else
        asdict(report.calibration) | {"method": report.calibration_method}
        | ({"methods": report.calibration_methods} if report.calibration_methods else {}),
        "data": asdict(report.data) | {"labels": report.labels},
        "layers": [row(r) for r in report.layers],
        "weights": [row(w) for w in report.weights],
        "outputs": [row(o) for o in report.outputs],
        "worst": [r.value for r in report.worst()],
        "entry_points": [r.value for r in report.entry_points()],
        "sensitivity": sensitivity_json(report.sensitivity),
        "notes": list(report.notes),
    })


def write_report(report: Report, out: str | os.PathLike) -> dict[str, Path]:
    """Write the three files into `out` (created if needed; other files there are left alone)."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise QcompError(f"-o {str(out)!r} is a file; give a directory for the report")
    out.mkdir(parents=True, exist_ok=True)
    paths = {"csv": out / "report.csv", "json": out / "report.json", "html": out / "report.html"}
    with open(paths["csv"], "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(CSV_COLUMNS)
        w.writerows(csv_row(r) for r in report.layers)
    paths["json"].write_text(json.dumps(report_json(report), indent=1, allow_nan=False) + "\n", encoding="utf-8")
    paths["html"].write_text(render_html(report), encoding="utf-8")
    return paths
