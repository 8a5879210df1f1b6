"""The accuracy targets of the issue, checked against the measured figures, and where they were measured.

    1. bundled example CNN, whole test set:  |top1(qcomp int8) - top1(FP32)| <= 0.5 points
    2. EfficientNet-Lite0, real photos:     top-1 agreement with FP32 >= 95% and logits cosine >= 0.99
    3. all-MiniLM-L6-v2, --quant dynamic:   sentence-embedding cosine >= 0.99 (every sentence)
    4. side by side with onnxruntime:        qcomp's error no worse than onnxruntime's, same method

qcomp's row for targets 1, 2 and 4 is its default configuration (minmax calibration). Target 2's
cosine is checked twice: on the mean over the photos, and (stricter) on every photo; target 3 uses
every sentence (the minimum). "Error" in target 4 is, per model: the top-1 drop against FP32
(example CNN), 1 - agreement and 1 - mean cosine (EfficientNet), 1 - mean cosine (MiniLM).
"""
from __future__ import annotations

import datetime
import os
import platform
import subprocess
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from .metrics import Comparison
from .report import cos, pct, table

REPO = Path(__file__).resolve().parents[2]
QCOMP_DEFAULT = "qcomp int8 (minmax)"
ORT_SAME = "onnxruntime quantize_static (minmax)"


@dataclass(frozen=True)
class Target:
    what: str
    measured: str
    met: bool | None            # None: not measured


def _verdict(met: bool | None) -> str:
    return {True: "met", False: "**not met**", None: "not measured"}[met]


def fashion_target(fp32_top1: float, q: Comparison, full: bool) -> Target:
    drop = 100 * (fp32_top1 - q.top1)
    scope = "10 000 test images" if full else f"{q.count} test images (not the whole set)"
    return Target("example CNN: int8 top-1 within 0.5 points of FP32",
                  f"FP32 {pct(fp32_top1)}, qcomp {pct(q.top1)} ({-drop:+.2f} pt) on {scope}",
                  abs(drop) <= 0.5 if full else None)


def efficientnet_targets(q: Comparison) -> list[Target]:
    return [Target("EfficientNet-Lite0: top-1 = FP32 top-1 on >= 95% of the photos",
                   f"{pct(q.agreement)} of {q.count} photos", q.agreement >= 0.95),
            Target("EfficientNet-Lite0: logits cosine >= 0.99, mean over the photos",
                   f"mean {cos(q.cosine_mean)}", q.cosine_mean >= 0.99),
            Target("EfficientNet-Lite0: logits cosine >= 0.99, every photo (stricter reading)",
                   f"min {cos(q.cosine_min)}", q.cosine_min >= 0.99)]


def minilm_target(q: Comparison) -> Target:
    return Target("all-MiniLM-L6-v2 --quant dynamic: embedding cosine >= 0.99",
                  f"min {cos(q.cosine_min)}, mean {cos(q.cosine_mean)} over {q.count} sentences",
                  q.cosine_min >= 0.99)


def versus_onnxruntime(model: str, errors: dict[str, tuple[float, float]]) -> Target:
    """errors: figure name -> (qcomp's error, onnxruntime's error); lower is better."""
    parts = [f"{k}: qcomp {a:.4g} vs onnxruntime {b:.4g}" for k, (a, b) in errors.items()]
    return Target(f"{model}: qcomp's error no worse than onnxruntime's",
                  "; ".join(parts), all(a <= b for a, b in errors.values()))


def render_targets(targets: list[Target]) -> list[str]:
    return table(["target", "measured", "verdict"], [[t.what, t.measured, _verdict(t.met)] for t in targets])


def _git(*args: str) -> str:
    try:
        return subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, timeout=30).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""


def _cpu() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def environment() -> str:
    """One line: date (UTC), machine, OS, and the versions that decide the figures."""
    commit = _git("rev-parse", "--short", "HEAD") or "unknown"
    dirty = " with uncommitted changes" if _git("status", "--porcelain", "--", "qcomp") else ""
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    versions = ", ".join(f"{d} {_version(d)}" for d in ("numpy", "onnxruntime", "onnx", "torch"))
    return (f"{date}; {_cpu()}, {os.cpu_count()} cores, {platform.system()} {platform.release()}; "
            f"Python {platform.python_version()}, {versions}; qcomp {commit}{dirty}")
