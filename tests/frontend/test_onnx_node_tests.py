"""The ONNX backend node tests of every op qcomp imports (onnx_node_tests.py says how they run):
float through the reference interpreter against the cases' expected outputs, and int8 within 1 LSB
of onnxruntime running qcomp's QDQ export. Cases that cannot pass are listed with their reason in
onnx_node_known.py; a listed case that passes, or fails otherwise, fails here.

`python -m tests.frontend.test_onnx_node_tests` prints the pass count per op and every known failure.
"""
from __future__ import annotations

import re
import sys
import warnings

import pytest

from qcomp.frontend.importer import SUPPORTED_OPS

from . import onnx_node_tests as harness
from .onnx_node_known import KNOWN, LOOSE

KNOWN_BY_CASE = {name: k for k in KNOWN for name in k.cases}


def _cases():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # the generators' own numpy warnings (divide by zero on purpose)
        return harness.node_cases(frozenset(SUPPORTED_OPS))


CASES = _cases()


def _failure_text(e: BaseException) -> str:
    return re.sub(r"qcomp imports these ONNX ops:[^\n]*", "", f"{type(e).__name__}: {e}")


def check(case: harness.NodeCase) -> str:
    """'' when the case passes both checks, else the failure's text."""
    try:
        harness.run_float(case, LOOSE.get(case.name, harness.RTOL))
        harness.run_int8(case)
    except Exception as e:  # noqa: BLE001 - every failure is compared with the table
        return _failure_text(e)
    return ""


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_node_case(case):
    failure = check(case)
    known = KNOWN_BY_CASE.get(case.name)
    if known is None:
        assert not failure, f"{case.name} ({case.op}) fails:\n{failure}"
    else:
        assert failure, f"{case.name} passes now: remove it from onnx_node_known.py ({known.reason})"
        assert re.search(known.pattern, failure), \
            f"{case.name} fails for another reason than listed ({known.reason}):\n{failure}"


def test_known_failures_name_real_cases_once():
    names = [n for k in KNOWN for n in k.cases]
    assert len(names) == len(set(names))
    assert not set(names) - {c.name for c in CASES} and not set(LOOSE) - {c.name for c in CASES}


# com.microsoft ops qcomp imports (onnxruntime's contrib QOperator set): onnx has no node tests of them
NO_NODE_CASES = {"QGemm", "QLinearAdd", "QLinearAveragePool", "QLinearConcat", "QLinearGlobalAveragePool",
                 "QLinearLeakyRelu", "QLinearMul", "QLinearSigmoid"}


def test_every_claimed_op_has_node_cases():
    assert set(SUPPORTED_OPS) - {c.op for c in CASES} == NO_NODE_CASES


def main() -> int:
    rows, failures = [], []
    for op, cases in harness.by_op(CASES):
        results = {c.name: check(c) for c in cases}
        passed = sum(not r for r in results.values())
        int8 = sum(not results[c.name] and harness.run_int8(c) == "" for c in cases)
        rows.append(f"| {op} | {passed} / {len(cases)} | {int8} |")
        failures += [f"| {n} | {KNOWN_BY_CASE[n].reason if n in KNOWN_BY_CASE else 'UNLISTED: ' + r[:120]} |"
                     for n, r in results.items() if r]
    total = sum(int(r.split("|")[2].split("/")[0]) for r in rows)
    print(f"ONNX node tests of the ops qcomp imports: {total} of {len(CASES)} pass\n")
    print("| op | pass | of them int8-checked (within 1 LSB) |\n|---|---|---|\n" + "\n".join(rows))
    print("\n| failing case | reason |\n|---|---|\n" + "\n".join(failures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
