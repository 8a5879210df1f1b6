"""The op x backend coverage table (docs/ops.md), generated from the backends' emitter tables.

    python -m qcomp.coverage > docs/ops.md

Rows are the IR ops (qcomp.ir.ALL_OPS, then the integer ops of qcomp.ir.qops), columns the
backends of qcomp.protocol.BACKENDS with the targets that use them. A cell is "yes" when the
backend's EMITTERS table has an emitter for the op, "—" when it has none (check() refuses the
node), and "yes (n)" when the emitter has a precondition (a why_not hook): note n is the first
line of that hook's docstring. tests/test_coverage.py fails when docs/ops.md is stale.
"""
from __future__ import annotations

from .ir import ALL_OPS, qops, qops_fused
from .protocol import BACKENDS, backend_module, why_not_of
from .target import all_targets

COMMAND = "python -m qcomp.coverage > docs/ops.md"


def _note(hook) -> str:
    doc = (hook.__doc__ or "").strip().splitlines()
    if not doc:
        return f"precondition {hook.__module__}.{hook.__name__}"
    return doc[0][0].lower() + doc[0][1:].rstrip(".")


def coverage_markdown() -> str:
    backends = list(BACKENDS)
    tables = {b: backend_module(b).EMITTERS for b in backends}
    targets = {b: sorted(t.name for t in all_targets().values() if t.backend == b) for b in backends}
    header = [f"{b} ({', '.join(targets[b])})" if targets[b] else b for b in backends]
    notes: dict[str, int] = {}
    rows = []
    ops = {**ALL_OPS, **qops.INTEGER_OPS}
    ops.update(qops_fused.FUSED_OPS)   # the TARGET-stage fusions of --quant dynamic (passes/fuse_dynamic.py)
    for name, cls in ops.items():
        cells = []
        for b in backends:
            entry = tables[b].get(cls)
            hook = why_not_of(entry) if entry is not None else None
            if entry is None:
                cells.append("—")
            elif hook is None:
                cells.append("yes")
            else:
                n = notes.setdefault(f"{b}: {_note(hook)}", len(notes) + 1)
                cells.append(f"yes ({n})")
        rows.append(f"| {name} | " + " | ".join(cells) + " |")
    lines = ["# Op coverage of the backends", "",
             f"Generated from the backends' emitter tables by `{COMMAND}`; do not edit by hand.",
             "A node whose op is marked — is refused at build time (UnsupportedModelError naming every such",
             "node, with what to do: `--skip NODE` to keep an int8 node in float, or another target).", "",
             "| op | " + " | ".join(header) + " |", "|---|" + "---|" * len(backends), *rows, "",
             "Preconditions (the emitter's why_not hook; a node that fails one is refused like a missing op):", ""]
    lines += [f"{n}. {text}" for text, n in notes.items()]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(coverage_markdown(), end="")
