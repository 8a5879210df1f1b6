"""The importer fuzzer (tests/frontend/fuzz.py) on a fixed budget: 2000 mutants of seed 0 (7 s on an
idle 2-core machine, about 25 s on a busy one). Every mutant must import into a verified graph (and
`qcomp inspect` it) or be refused with a QcompError in qcomp's words; the outcome counts are printed
(pytest -s).
Longer runs: python -m tests.frontend.fuzz --mutants 20000 --seed N."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from .fuzz import ROOT, summary

MUTANTS, SEED = 2000, 0


def test_fuzz_budget(tmp_path):
    out = tmp_path / "report.json"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.run([sys.executable, "-m", "tests.frontend.fuzz", "--mutants", str(MUTANTS), "--seed",
                           str(SEED), "--json", str(out)], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=600)
    assert out.exists(), proc.stderr[-3000:]
    report = json.loads(out.read_text())
    print(summary(report))
    assert report["mutants"] == MUTANTS
    assert not report["defects"], summary(report)
    outcomes = report["outcomes"]
    # the budget exercises both sides of the oracle and every error family of the importer
    assert outcomes.get("imported", 0) >= 30
    for cls in ("ModelLoadError", "ShapeError", "UnsupportedModelError"):
        assert outcomes.get(f"refused:{cls}", 0) >= 5, outcomes
    assert proc.returncode == 0


def test_fuzzer_reports_a_defect(tmp_path, monkeypatch):
    """The oracle is not vacuous: a mutant that raises a non-QcompError is reported as a defect."""
    from . import fuzz
    path = tmp_path / "m.onnx"
    path.write_bytes(Path(ROOT, "examples", "fashion_mnist", "model.onnx").read_bytes())
    assert fuzz._classify(str(path)) == ("imported", "")

    def broken(*args, **kwargs):
        raise IndexError("tuple index out of range")
    monkeypatch.setattr("qcomp.frontend.import_onnx", broken)
    assert fuzz._classify(str(path))[0] == "exception:IndexError"
    assert fuzz.is_defect("exception:IndexError") and not fuzz.is_defect("refused:ShapeError")


def test_every_seed_imports(tmp_path):
    """A mutant's refusal is the mutation's doing: the unmutated seeds import and inspect cleanly."""
    import onnx

    from . import fuzz
    from .fuzz_seeds import seeds
    for name, m in seeds().items():
        path = tmp_path / f"{name}.onnx"
        onnx.save(m, path)
        assert fuzz._classify(str(path)) == ("imported", ""), name
