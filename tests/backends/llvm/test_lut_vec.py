"""The llvm backend's vector Lut (kernels_lut_vec.py: VPERMT2W on AVX-512, TBL4 on AArch64) bit-exact to
the reference: the parts below in one graph (tests/opcases/batch.union), compiled once per target:
x86-vnni (1 and 2 threads: several jobs), x86-avx2 (the scalar loop), arm-sdot (under QEMU).

- every int8 code, twice, in order (each of the 256 entries looked up from every lane position of
  the 16- and 32-element steps: 512 is a multiple of both, and the order shifts the codes by lane);
- 37 elements (one step of 32 or two of 16, then a scalar tail), 18 (below one x86 step: the scalar loop), and 64 x 300 (row
  jobs) with random tables;
- a sigmoid table built by the spec (fixedpoint.build_lut) at input zero point 127.
The generated IR is checked to hold the permute (so the scalar fallback cannot pass for it).
"""
import numpy as np
import pytest

from qcomp.codegen.llvm.isa import dot_spec
from qcomp.codegen.llvm.kernels_lut_vec import step_of
from qcomp.target import get_target
from tests.backends.llvm.vector_checks import target_tests, with_reference
from tests.opcases import graphs as gb

PARTS = [((2, 256), "random", 0), ((37,), "random", 0), ((18,), "random", 0), ((64, 300), "random", 0),
         ((3, 41), "sigmoid", 127)]


@pytest.fixture(scope="module")
def graph():
    rng = np.random.default_rng(1917)
    graphs, feeds = [], {}
    for i, (shape, table, zp) in enumerate(PARTS):
        g, f = gb.lut(f"part{i}", rng, shape, table, zp_in=zp)
        graphs.append(g)
        feeds |= {f"c{i}.{k}": v for k, v in f.items()}
    feeds["c0.x"][:] = np.arange(-128, 128, dtype=np.int8)
    return with_reference(graphs, feeds)


test_x86_vnni_threads, test_x86_avx2, test_arm_sdot = target_tests()


@pytest.mark.parametrize("target, step, marker", [("x86-vnni", 32, "vpermi2var.hi.512"),
                                                  ("arm-sdot", 16, "neon.tbl4"), ("x86-avx2", None, None)])
def test_the_vector_form_is_emitted(graph, target, step, marker):
    from qcomp.codegen.llvm import build_module
    from qcomp.codegen.memory import planned
    spec = dot_spec(get_target(target))
    assert step_of(spec) == step
    mod, _ = build_module(planned(graph[0]), get_target(target))
    text = str(mod.m)
    if marker is None:
        assert "vpermi2var" not in text and "tbl4" not in text
    else:
        assert marker in text
