"""Print every qcomp-vs-onnxruntime figure measured in this session at the end of the run
(in the terminal summary, so they are visible without -s)."""
from __future__ import annotations

from .compare import FIGURES


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    if not FIGURES:
        return
    terminalreporter.section("qcomp float reference vs onnxruntime")
    for figure in FIGURES:
        terminalreporter.write_line(str(figure))
