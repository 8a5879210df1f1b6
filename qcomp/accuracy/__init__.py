"""Accuracy from measurement: per-tensor sensitivity (`qcomp report`) and `--accuracy COS` (`qcomp build`).

    kinds.py        which precisions a tensor can be raised to on a target, what a raise names
                    (--precision entries) and what it costs (the cost model)
    trials.py       one trial: quantize under a precision choice (the builder's pipeline, one
                    calibration), lower, run the integer reference, output cosine vs float
    sensitivity.py  the cosine gained by raising each activation tensor alone
    proxy.py        a cheap float proxy (the output error each tensor's int8 grid adds alone) that
                    orders the candidates, so trials measure the promising ones first
    autopilot.py    --accuracy COS: the fewest, cheapest raises that reach COS on held-back samples

Api-level like qcomp/report: it quantizes exactly as `qcomp build` does (qcomp.builder).
"""
from .autopilot import accuracy_lines, check_accuracy_target, choose_precision
from .kinds import available_raise_kinds, raise_cost, raise_entries, resolve_target
from .sensitivity import Sensitivity, SensitivityResult, measure
from .trials import Trials, split_held_back

__all__ = ["available_raise_kinds", "raise_cost", "raise_entries", "resolve_target", "Trials", "split_held_back",
           "Sensitivity", "SensitivityResult", "measure", "choose_precision", "check_accuracy_target", "accuracy_lines"]
