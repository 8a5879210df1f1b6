"""report.html: one self-contained page (inline CSS and SVG, no script, no external file).

Sections: the sources; the model outputs (cosine, SNR, max abs error, top-1 agreement and accuracy);
the SNR chart (qcomp.report.svg); the table of every int8 activation in graph order, the worst
layers highlighted; the weights; the notes. The page is well-formed XML as well as HTML, and every
name from the model is escaped.
"""
from __future__ import annotations

import math
from html import escape

from .records import ENTRY_DROP_DB, LayerRow, OutputRow, Report, WeightRow
from .svg import AXIS_MAX_DB, render_svg

_CSS = """
body { font-family: system-ui, sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: collapse; font-size: 12px; margin-bottom: 1.5em; }
th, td { border: 1px solid #ccc; padding: 2px 6px; text-align: right; white-space: nowrap; }
th { background: #f0f0f0; position: sticky; top: 0; }
td.name { text-align: left; font-family: monospace; }
tr.worst td { background: #fde0dc; }
tr.entry td.name { border-left: 4px solid #f28e2b; }
.chart .bar { fill: #4e79a7; }
.chart .bar.over { fill: url(#hatch); }
.chart .bar.worst { fill: #e15759; }
.chart .bar.entry { stroke: #f28e2b; stroke-width: 2; }
.chart .line { fill: none; stroke: #333; stroke-width: 1; stroke-opacity: 0.6; }
.chart .grid { stroke: #e5e5e5; }
.chart .axisline { stroke: #555; }
.chart .tick, .chart .label { font-size: 9px; fill: #444; }
.chart .axis { font-size: 11px; fill: #222; }
.chart .marker { font-size: 10px; fill: #f28e2b; }
.legend { font-size: 12px; color: #555; }
"""


def _num(v: float | None, fmt: str = ".4g") -> str:
    if v is None:
        return ""
    if isinstance(v, float) and not math.isfinite(v):
        return "inf" if v > 0 else ("-inf" if v < 0 else "nan")
    return format(v, fmt)


def _pct(v: float | None) -> str:
    if v is None:
        return ""
    return f"{100 * v:.2f}%" if v == 0 or v >= 1e-4 else f"{100 * v:.2g}%"


def _table(headers: list[str], rows: list[tuple[str, list[str]]], names: int) -> str:
    """rows: (css class, cells); the first `names` cells are left-aligned names."""
    out = ["<table>", "<tr>" + "".join(f"<th>{escape(h)}</th>" for h in headers) + "</tr>"]
    for cls, cells in rows:
        tds = "".join(f'<td class="name">{escape(c)}</td>' if i < names else f"<td>{escape(c)}</td>"
                      for i, c in enumerate(cells))
        out.append(f'<tr class="{cls}">{tds}</tr>' if cls else f"<tr>{tds}</tr>")
    out.append("</table>")
    return "\n".join(out)


def _layer_cells(r: LayerRow) -> list[str]:
    e, d = r.error, r.distribution
    return [r.node, r.op, r.value, str(r.index), "x".join(map(str, r.shape)), _num(e.cosine, ".6f"),
            _num(e.snr_db, ".2f"), _num(r.snr_drop_db, ".2f"), _num(r.own_snr_db, ".2f"), _num(e.max_abs_error),
            _pct(e.clip_rate),
            _num(d.min), _num(d.q1), _num(d.median), _num(d.q3), _num(d.max), _num(r.scale, ".6g"),
            str(r.zero_point)]


def _output_cells(o: OutputRow) -> list[str]:
    e = o.error
    return [o.name, "x".join(map(str, o.shape)), _num(e.cosine, ".6f"), _num(e.snr_db, ".2f"),
            _num(e.max_abs_error), _pct(o.top1_agreement), _pct(o.accuracy_float), _pct(o.accuracy_int8)]


def _weight_cells(w: WeightRow) -> list[str]:
    e = w.error
    return [w.node, w.op, w.value, "x".join(map(str, w.shape)), "per channel" if w.per_channel else "per tensor",
            _num(e.cosine, ".6f"), _num(e.snr_db, ".2f"), _num(w.worst_channel_snr_db, ".2f"),
            _num(e.max_abs_error)]


def _layer_section(report: Report, worst_rows: set[str], entry_rows: set[str]) -> list[str]:
    return [
        "<h2>SNR per layer</h2>",
        render_svg(report.layers, worst_rows, entry_rows),
        f'<p class="legend">Bars in graph order. Red: the {len(worst_rows)} layers with the lowest SNR. '
        f"Orange outline and \u25bc: where the error enters, the (at most 3) layers that add the most error "
        f"(lowest own SNR) among those at least {ENTRY_DROP_DB:g} dB worse than their inputs. Hatched: "
        f"SNR above {AXIS_MAX_DB:g} dB, drawn at the top (infinite: exact). Hover a bar for its numbers.</p>",
        "<h2>Layers</h2>",
        _table(["node", "op", "value", "#", "shape", "cosine", "SNR dB", "SNR drop dB", "own SNR dB", "max abs error",
                "clip rate", "min", "q1", "median", "q3", "max", "scale", "zero point"],
               [(" ".join(k for k, on in (("worst", r.value in worst_rows), ("entry", r.value in entry_rows)) if on),
                 _layer_cells(r)) for r in report.layers], 3),
    ]


def render_html(report: Report) -> str:
    worst_rows = {r.value for r in report.worst()}
    entry_rows = {r.value for r in report.entry_points()}
    c, d = report.calibration, report.data
    labels = f"; labels from {report.labels!r}" if report.labels else ""
    calibrated = (f"Calibrated with {report.calibration_method} on {c.samples} samples of {c.path} ({c.format})"
                  if c is not None else f"Quantized with --quant {report.quant} (no calibration)")
    parts = [
        "<!DOCTYPE html>", '<html lang="en">', "<head>", '<meta charset="utf-8"/>',
        f"<title>qcomp report: {escape(report.model)}</title>", f"<style>{_CSS}</style>", "</head>", "<body>",
        f"<h1>Quantization error report: {escape(report.model)}</h1>",
        f"<p>{escape(calibrated)}; evaluated on {d.samples} samples of {escape(d.path)} "
        f"({escape(d.format)}){escape(labels)}. Each int8 tensor is dequantized, (q - zero_point) * scale, and "
        f"compared with the float model's tensor of the same name.</p>",
        "<h2>Outputs</h2>",
        _table(["output", "shape", "cosine", "SNR dB", "max abs error", "top-1 agreement", "accuracy float",
                "accuracy int8"], [("", _output_cells(o)) for o in report.outputs], 1),
        *(_layer_section(report, worst_rows, entry_rows) if report.layers else
          ["<p>No int8 activations with fixed quantization parameters in this model "
           f"(--quant {escape(report.quant)}): nothing to chart per layer.</p>"]),
        "<h2>Weights</h2>",
        _table(["node", "op", "value", "shape", "scales", "cosine", "SNR dB", "worst channel SNR dB",
                "max abs error"], [("", _weight_cells(w)) for w in report.weights], 3),
    ]
    s = report.sensitivity
    if s is not None:   # measured per tensor (qcomp/report/sensitivity.py)
        parts += ["<h2>Sensitivity</h2>", f"<p>Output cosine {s.baseline:.6f} in int8, and with each tensor alone "
                  f"raised, measured with the integer reference on {s.samples} samples.</p>",
                  _table(["tensor", "kind", "cosine", "gain", "cost (MACs)", "flags"],
                         [("", [r.tensor, r.kind, f"{r.cosine:.6f}", f"{r.gain:+.6f}", f"{r.cost:,}", r.flags])
                          for r in s.ranked()], 2)]
    if report.notes:
        parts += ["<h2>Notes</h2>", "<ul>", *(f"<li>{escape(n)}</li>" for n in report.notes), "</ul>"]
    parts += ["</body>", "</html>", ""]
    return "\n".join(parts)
