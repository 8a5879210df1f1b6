"""Markdown for benchmarks/RESULTS.md, and the update of one marked section of that file.

A section lives between `<!-- NAME:begin -->` and `<!-- NAME:end -->`; `update_section` replaces
what is between the markers (other benchmarks own other sections of the same file) or appends the
section when the file does not have it yet.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from .metrics import Comparison

HEADER = "# qcomp benchmark results\n\nEach section is written by the script it names; rerun that command to update it.\n"


def pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.2f}%"


def cos(x: float) -> str:
    return f"{x:.5f}"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
    out = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    out += ["| " + " | ".join(str(c) for c in r) + " |" for r in rows]
    return out


def comparison_table(rows: Sequence[Comparison], fp32_top1: float | None, with_labels: bool) -> list[str]:
    """One row per quantized path: top-1 (and its change vs FP32), agreement, cosine mean and min."""
    argmax = any(c.agreement is not None for c in rows)
    notes = any(c.note for c in rows)
    headers = ["path"] + (["top-1", "vs FP32"] if with_labels else []) + \
              (["top-1 = FP32 top-1"] if argmax else []) + ["cosine mean", "cosine min"] + (["notes"] if notes else [])
    body = []
    if with_labels:
        body.append(["FP32 (onnxruntime)", pct(fp32_top1)] + [""] * (len(headers) - 2))
    for c in rows:
        row = [c.path]
        if with_labels:
            delta = None if c.top1 is None or fp32_top1 is None else 100 * (c.top1 - fp32_top1)
            row += [pct(c.top1), "-" if delta is None else f"{delta:+.2f} pt"]
        if argmax:
            row.append("-" if c.agreement is None else f"{pct(c.agreement)} ({round(c.agreement * c.count)}/{c.count})")
        row += [cos(c.cosine_mean), cos(c.cosine_min)] + ([c.note] if notes else [])
        body.append(row)
    return table(headers, body)


def markers(name: str) -> tuple[str, str]:
    return f"<!-- {name}:begin -->", f"<!-- {name}:end -->"


def update_section(path: str | Path, name: str, body: str) -> Path:
    """Replace (or append) section `name` of the markdown file at `path` with `body`."""
    path = Path(path)
    begin, end = markers(name)
    block = f"{begin}\n{body.rstrip()}\n{end}\n"
    text = path.read_text() if path.exists() else HEADER
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end) + r"\n?", re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _m: block, text, count=1)
    else:
        text = text.rstrip() + "\n\n" + block
    path.write_text(text)
    return path
