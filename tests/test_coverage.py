"""docs/ops.md is the op x backend table generated from the emitter tables (qcomp/coverage.py):
it must match what the code says today."""
from pathlib import Path

from qcomp.coverage import COMMAND, coverage_markdown
from qcomp.ir import ALL_OPS, qops, qops_fused
from qcomp.protocol import BACKENDS, backend_module

DOC = Path(__file__).resolve().parents[1] / "docs" / "ops.md"


def test_docs_ops_md_is_up_to_date():
    assert DOC.is_file(), f"docs/ops.md is missing; generate it: {COMMAND}"
    assert DOC.read_text() == coverage_markdown(), f"docs/ops.md is stale; regenerate it: {COMMAND}"


def test_every_op_has_a_row_and_every_cell_follows_the_table():
    text = coverage_markdown()
    rows = {line.split(" | ")[0].lstrip("| "): line.strip(" |").split(" | ")[1:]
            for line in text.splitlines() if line.startswith("| ") and not line.startswith("| op ")}
    ops = {**ALL_OPS, **qops.INTEGER_OPS}
    ops.update(qops_fused.FUSED_OPS)   # the TARGET-stage fusions of --quant dynamic
    assert set(rows) == set(ops)
    for name, cls in ops.items():
        for backend, cell in zip(BACKENDS, rows[name]):
            assert (cell == "—") == (cls not in backend_module(backend).EMITTERS), (name, backend, cell)
