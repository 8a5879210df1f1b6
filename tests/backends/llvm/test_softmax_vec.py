"""The llvm backend's vector int8 QSoftmax (kernels_softmax_vec.py) on the shapes its loops branch on,
bit-exact to the reference: the parts below in one graph (tests/opcases/batch.union), compiled once
per target: x86-vnni (1 and 2 threads), x86-avx2, arm-sdot (under QEMU).

- rows of 37 (vector bodies and tails for 16, 8 and 4 lanes), of 16 (bodies only on 16 and 8 lanes),
  of 3 (tails only), of 128 as in attention, and 64 x 300 (several row jobs);
- a row of extremes (-128 next to 127: the table's last entry, t = 255);
- rows of 24 at a large scale (diff_min -31: most elements skipped, their table entry 0), one of
  them a single 127 among -128s (every other element skipped: the output's cap at 127);
- rows of 700 with one row of ties (sum 700 * 2^19: the final exponent past 31, recip 0);
- Softmax over a middle axis (kernels_softmax's scalar loops, unchanged).
"""
import numpy as np
import pytest

from tests.opcases import graphs as gb

from tests.backends.llvm.vector_checks import target_tests, with_reference

PARTS = [
    ((3, 4, 37), 2, 0.05),
    ((5, 16), 1, 0.1),
    ((7, 3), 1, 0.01),
    ((12, 128), 1, 0.06),
    ((64, 300), 1, 0.05),
    ((6, 24), 1, 0.5),
    ((3, 700), 1, 0.1),
    ((2, 70, 3), 1, 0.2),
]


@pytest.fixture(scope="module")
def graph():
    rng = np.random.default_rng(1619)
    graphs, feeds = [], {}
    for i, (shape, axis, s_in) in enumerate(PARTS):
        g, f = gb.softmax(f"part{i}", rng, shape, axis, s_in=s_in)
        graphs.append(g)
        feeds |= {f"c{i}.{k}": v for k, v in f.items()}
    feeds["c0.x"][0, 0, :] = np.where(np.arange(37) % 2, 127, -128)
    feeds["c5.x"][0, :] = -128
    feeds["c5.x"][0, 3] = 127
    feeds["c6.x"][2, :] = 5
    return with_reference(graphs, feeds)


test_x86_vnni_threads, test_x86_avx2, test_arm_sdot = target_tests()
