"""The llvm backend's vector QSoftmax16 (kernels16_softmax_vec.py) on the shapes its loops branch on,
bit-exact to the reference: the parts below in one graph (tests/opcases/batch.union), compiled once
per target: x86-vnni (1 and 2 threads), x86-avx2, arm-sdot (under QEMU).

- rows of 37 (vector bodies and tails for 16, 8 and 4 lanes), of 16 (bodies only on 16 and 8 lanes),
  of 3 (tails only), of 128 with a masked attention pattern (a tenth of every row at -32768, one row
  entirely masked: every exp equal), and 64 x 300 (several row jobs);
- a row of extremes (-32768 next to 32767: the exp lookup's clamp at -32768);
- Softmax over a middle axis (kernels16_softmax's scalar loops, unchanged).
"""
import numpy as np
import pytest

from tests.opcases import graphs16_softmax as gs16

from tests.backends.llvm.vector_checks import target_tests, with_reference

PARTS = [
    ((3, 4, 37), 2, 0.0004, {}),
    ((5, 16), 1, 0.002, {}),
    ((7, 3), 1, 0.01, {"lo": -300, "hi": 300}),
    ((2, 128), 1, 0.0003, {"masked": 0.1}),
    ((64, 300), 1, 0.0002, {}),
    ((2, 70, 3), 1, 0.003, {}),
]


@pytest.fixture(scope="module")
def graph():
    rng = np.random.default_rng(1617)
    graphs, feeds = [], {}
    for i, (shape, axis, s_in, kw) in enumerate(PARTS):
        g, f = gs16.softmax16(f"part{i}", rng, shape, axis, s_in, **kw)
        graphs.append(g)
        feeds |= {f"c{i}.{k}": v for k, v in f.items()}
    feeds["c0.x"][0, 0, :] = np.where(np.arange(37) % 2, 32767, -32768)
    feeds["c3.x"][1, :] = -32768
    return with_reference(graphs, feeds)


test_x86_vnni_threads, test_x86_avx2, test_arm_sdot = target_tests()
