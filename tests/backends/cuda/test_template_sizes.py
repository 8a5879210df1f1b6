"""The cuda templates repeat no block or tile size and shift no signed value left: every size comes
from Python (context.BLOCK, emit_compute.GemmTile) and the launch plan agrees with the kernels."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from qcomp.codegen.cuda import emit_compute

TEMPLATES = sorted((Path(emit_compute.__file__).parent / "templates").glob("*.j2"))
# a literal where a size belongs: launch bounds, block strides, shared arrays, GEMM steps
LITERAL_SIZE = re.compile(r"__launch_bounds__\(\d|[Ii]dx\.[xyz] \* \d|\+= \d+\)|__shared__ \w+ \w+\[(?!256\])\d+\]"
                          r"|\[\d+\]\[\d+\]|k0 \+= \d|step = \d")


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: p.name)
def test_template_has_no_literal_size_and_no_signed_left_shift(path):
    text = path.read_text()
    assert not LITERAL_SIZE.search(text), f"{path.name}: a literal size: {LITERAL_SIZE.search(text).group(0)!r}"
    # `x << n` only on an unsigned value or the constant (int64_t)1 (total, left_shift: in range by fixedpoint)
    for m in re.finditer(r"(\S+)\s*<<\s*\(?[\w.]", text):
        assert m.group(1).endswith(("(int64_t)1", "0xffu)")), f"{path.name}: a left shift of {m.group(1)!r}"


def test_gemm_tile_is_consistent():
    t = emit_compute.TILE
    assert t.threads == t.m * t.words == t.n * t.words   # one staged word of As and of Bs per thread
    assert t.warps * t.warp == t.threads and t.shared_bytes == (t.m + t.n) * (t.k // 4 + 1) * 4
    assert (t.a_regs, t.b_regs, t.per_thread) == (4, 2, 4)   # mma.sync.m16n8k32 .s8 operand registers per lane
