"""The per-layer SNR chart: an inline SVG, no plotting library.

One bar per int8 activation in graph order, its height the SNR in dB, joined by a line so the
fall of the SNR along the graph is visible; the layers with the lowest SNR are red, the layers that
add the most error (`Report.entry_points`) have an orange outline and a marker.
The axis stops at 80 dB (int8 itself gives at most about 6.02 * 8 + 1.76 = 50 dB on a full-scale
signal; more means the tensor is all but exact): a higher SNR, infinite included, is drawn to the
top, hatched, so one near-exact input does not flatten every other bar. An SNR below the axis floor
is drawn down to the floor. Each bar has a <title> tooltip with its numbers.
The markup is well-formed XML (an XML parser reads it), so it can be embedded anywhere.
"""
from __future__ import annotations

import math
from html import escape

from .records import EXACT_DB, LayerRow

LEFT, RIGHT, TOP = 56, 16, 28   # margins in px: axis labels left
HEIGHT = 300                    # plot area height in px
MAX_LABEL = 30                  # characters of a node name under its bar
AXIS_MAX_DB = EXACT_DB


def _fmt(v: float, unit: str = "") -> str:
    if math.isinf(v):
        return ("+" if v > 0 else "-") + "inf"
    return f"{v:.4g}{unit}"


def _axis(layers: tuple[LayerRow, ...]) -> tuple[float, float]:
    finite = [r.error.snr_db for r in layers if math.isfinite(r.error.snr_db)]
    top = min(max(finite, default=10.0), AXIS_MAX_DB)
    low = min(finite, default=0.0)
    ymax = max(10.0, min(AXIS_MAX_DB, 10.0 * math.ceil(top / 10.0 + 1e-9)))
    ymin = min(0.0, 10.0 * math.floor(low / 10.0))
    return ymin, ymax


def _tooltip(r: LayerRow) -> str:
    e = r.error
    drop = ("" if r.snr_drop_db is None else f", drop {_fmt(r.snr_drop_db, ' dB')}") + \
        f", own SNR {_fmt(r.own_snr_db, ' dB')}"
    clip = "" if e.clip_rate is None else f", clip {100 * e.clip_rate:.3g}%"
    return (f"#{r.index} {r.node} ({r.op}) value {r.value}: SNR {_fmt(e.snr_db, ' dB')}{drop}, "
            f"cosine {e.cosine:.6f}, max abs error {e.max_abs_error:.4g}{clip}")


def render_svg(layers: tuple[LayerRow, ...], worst: set[str], entry: set[str]) -> str:
    n = max(len(layers), 1)
    bw = max(4.0, min(40.0, 1100.0 / n))
    width = LEFT + RIGHT + bw * n
    labels = [r.node if len(r.node) <= MAX_LABEL else "\u2026" + r.node[-(MAX_LABEL - 1):] for r in layers]
    bottom = 24 + 5 * max((len(t) for t in labels), default=0)   # names at -60 degrees, ~5.5 px a char
    total_h = TOP + HEIGHT + bottom
    ymin, ymax = _axis(layers)

    def y(v: float) -> float:
        v = min(max(v, ymin), ymax)
        return TOP + HEIGHT * (ymax - v) / (ymax - ymin)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{width:.0f}" height="{total_h}" '
           f'viewBox="0 0 {width:.0f} {total_h}" role="img" aria-label="SNR per layer in dB">',
           '<defs><pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" '
           'patternTransform="rotate(45)"><rect width="3" height="6" fill="#9ecae1"/></pattern></defs>']
    step = 10.0 if ymax - ymin <= 100 else 20.0
    tick = ymin
    while tick <= ymax + 1e-9:
        ty = y(tick)
        out.append(f'<line class="grid" x1="{LEFT}" y1="{ty:.1f}" x2="{width - RIGHT:.1f}" y2="{ty:.1f}"/>')
        out.append(f'<text class="tick" x="{LEFT - 6}" y="{ty + 3:.1f}" text-anchor="end">{tick:.0f}</text>')
        tick += step
    out.append(f'<text class="axis" x="14" y="{TOP + HEIGHT / 2:.0f}" text-anchor="middle" '
               f'transform="rotate(-90 14 {TOP + HEIGHT / 2:.0f})">SNR (dB)</text>')
    base = y(max(ymin, 0.0))
    every = max(1, math.ceil(11.0 / bw))       # a name every `every` bars: at least 11 px apart
    points = []
    for k, r in enumerate(layers):
        snr = r.error.snr_db
        x = LEFT + k * bw
        top = y(snr if math.isfinite(snr) else (ymax if snr > 0 else ymin))
        y0, h = min(top, base), abs(base - top)
        cls = "bar" + (" worst" if r.value in worst else "") + (" entry" if r.value in entry else "") + \
              (" over" if snr > ymax else "")
        out.append(f'<rect class="{cls}" x="{x + 0.1 * bw:.1f}" y="{y0:.1f}" width="{0.8 * bw:.1f}" '
                   f'height="{max(h, 0.5):.1f}"><title>{escape(_tooltip(r))}</title></rect>')
        points.append(f"{x + bw / 2:.1f},{top:.1f}")
        if r.value in entry:
            out.append(f'<text class="marker" x="{x + bw / 2:.1f}" y="{top - 4:.1f}" text-anchor="middle">'
                       f'\u25bc</text>')
        if k % every == 0:
            lx, ly = x + bw / 2 + 3, TOP + HEIGHT + 8
            out.append(f'<text class="label" x="{lx:.1f}" y="{ly:.1f}" text-anchor="end" '
                       f'transform="rotate(-60 {lx:.1f} {ly:.1f})">{escape(labels[k])}</text>')
    if len(points) > 1:
        out.append(f'<polyline class="line" points="{" ".join(points)}"/>')
    out.append(f'<line class="axisline" x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{TOP + HEIGHT}"/>')
    out.append(f'<line class="axisline" x1="{LEFT}" y1="{base:.1f}" x2="{width - RIGHT:.1f}" y2="{base:.1f}"/>')
    out.append("</svg>")
    return "\n".join(out)
