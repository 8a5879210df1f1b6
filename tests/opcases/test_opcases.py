"""Every op case x every target, compared with naive.py by exact equality (never allclose).

Test ids read `test_opcase[conv3x3_s2_pad_asym[ref]]` (case[target]); select a case with
`-k conv3x3_s2_pad_asym`, a target with `-k "ref]"`. A backend that lacks an emitter for a case
fails it; the refusals by design (targets.REFUSED) are asserted as refusals.
"""
from __future__ import annotations

import ast
import functools
from pathlib import Path

import numpy as np
import pytest

from qcomp.errors import UnsupportedModelError
from qcomp.ir import qops
from qcomp.protocol import backend_module, refuse
from qcomp.target import get_target

from . import naive
from .cases import CASES, Case, materialize
from .targets import REFUSED, TARGETS, Target


@functools.cache
def expected(case: Case) -> dict[str, np.ndarray]:
    graph, feeds = materialize(case)
    return naive.run(graph, feeds)


@pytest.mark.parametrize("case,target", [pytest.param(c, t, id=f"{c.name}[{t.name}]")
                                         for c in CASES for t in TARGETS])
def test_opcase(case: Case, target: Target):
    why = target.skip()
    if why is not None:
        pytest.skip(why)
    graph, feeds = materialize(case)
    if (target.name, case.name) in REFUSED:
        with pytest.raises(UnsupportedModelError) as e:
            target.run(graph, {k: v.copy() for k, v in feeds.items()})
        for word in REFUSED[target.name, case.name]:
            assert word in str(e.value), f"{target.name} refused {case.name} without {word!r}: {e.value}"
        return
    got = target.run(graph, {k: v.copy() for k, v in feeds.items()})
    want = expected(case)
    assert sorted(got) == sorted(want), f"{target.name} returned outputs {sorted(got)}"
    for name, value in want.items():
        assert got[name].dtype == value.dtype and got[name].shape == value.shape, name
        np.testing.assert_array_equal(got[name], value, err_msg=f"{case.name}: output {name!r} on {target.name}")


@pytest.mark.parametrize("case,target", [pytest.param(c, t, id=f"{c.name}[{t.name}]")
                                         for c in CASES for t in TARGETS])
def test_check_agrees_with_emit(case: Case, target: Target):
    """check(graph, target) is empty exactly for the cases test_opcase runs (and emit builds); for
    a refused case it lists the problems emit's UnsupportedModelError reports. Needs no toolchain:
    every backend's check runs on any host."""
    graph, _ = materialize(case)
    qt = get_target(target.backend_target)
    problems = backend_module(qt.backend).check(graph, qt)
    assert bool(problems) == ((target.name, case.name) in REFUSED), f"{target.name}: {problems}"
    if problems:
        with pytest.raises(UnsupportedModelError) as e:
            backend_module(qt.backend).emit(graph, qt, "/nonexistent/qcomp-refused")
        assert str(e.value) == str(refuse(problems, qt))


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.name)
def test_case_is_not_degenerate(case: Case):
    """A case whose expected output barely varies (all clamped, say) would pass on a broken target."""
    for name, value in expected(case).items():
        distinct, need = np.unique(value).size, min(case.min_distinct, (value.size + 1) // 2)
        assert distinct >= need, f"{case.name}: output {name!r} takes only {distinct} values"


def test_every_integer_op_has_a_case():
    used = {type(n.op) for c in CASES for n in materialize(c)[0].nodes}
    missing = sorted(cls.__name__ for cls in qops.INTEGER_OPS.values() if cls not in used)
    assert not missing, f"no op case uses {missing}: add one to tests/opcases/cases.py"


def test_naive_is_independent_of_the_reference():
    """naive.py (and the op families it imports, naive_*.py) may read graphs (qcomp.ir) but must not
    share code with what it checks."""
    names = set()
    here = Path(naive.__file__).parent
    sources = [here / f"naive{part}.py" for part in ("", "_rescale", "_gemm", "_float", "_select")]
    for node in (n for path in sources for n in ast.walk(ast.parse(path.read_text()))):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            names |= {f"{node.module}.{a.name}" for a in node.names}
    qcomp = {m for m in names if m.split(".")[0] == "qcomp"}
    assert qcomp and all(m.startswith("qcomp.ir.") for m in qcomp), qcomp


def test_naive_requantize_rounds_half_up_and_clamps():
    """The formula on its edge values, worked by hand (ties toward +inf, int64-free)."""
    assert naive.mbqm(5, 1 << 30, 0) == 3            # 2.5 -> 3
    assert naive.mbqm(-5, 1 << 30, 0) == -2          # -2.5 -> -2
    assert naive.mbqm(-7, 1 << 30, 0) == -3          # -3.5 -> -3
    assert naive.mbqm(1, (1 << 31) - 1, 30) == 1 << 30
    assert naive.mbqm(-(1 << 31), (1 << 31) - 1, 30) == -(1 << 61) + (1 << 30)
    assert naive.requantize_int(1000, 1 << 30, 0, -100, -128, 127) == 127
    assert naive.requantize_int(-1000, 1 << 30, 0, 100, -128, 127) == -128
