"""The llvm backend's vector int8 QAdd / QSub / QMul / QRequantize (kernels_elem_vec.py) on the shapes
their loops branch on, bit-exact to the reference: the parts below in one graph
(tests/opcases/batch.union), compiled once per target: x86-vnni (1 and 2 threads), x86-avx2, arm-sdot
(under QEMU).

- a residual Add of two full operands over several row jobs (64 x 300) with a fused ReLU;
- a trailing-block operand (a bias [37] on [3, 7, 37]: vector bodies and tails for 16, 8 and 4 lanes),
  a one-element operand, an attention-mask block [1, 1, 1, 19] on [1, 3, 4, 19];
- a middle-axis broadcast (kernels_elem's scalar loop, unchanged);
- zero points at -128 and 127 (|x - zp| = 255) and an output scale small enough to saturate;
- QRequantize with the largest multiplier and shift 2 (saturating at 127), and a multiplier near 0.6.
"""
import numpy as np
import pytest

from tests.opcases import graphs as gb

from tests.backends.llvm.vector_checks import target_tests, with_reference

M_MAX = 2 ** 31 - 1

PARTS = [
    (gb.binary, ("add", (64, 300), (64, 300)), {"act": "relu"}),
    (gb.binary, ("add", (3, 7, 37), (37,))),
    (gb.binary, ("sub", (2, 70), (1,)), {"zps": (-128, 127, 3)}),
    (gb.binary, ("mul", (1, 3, 4, 19), (1, 1, 1, 19)), {"scales": (0.05, 0.03, 0.01)}),
    (gb.binary, ("add", (2, 3, 4), (2, 1, 4))),
    (gb.binary, ("mul", (5, 33), (5, 33)), {"zps": (127, -128, -3), "scales": (0.05, 0.02, 0.3)}),
    (gb.binary, ("add", (4, 29), (4, 29)), {"scales": (0.05, 0.02, 0.004)}),
    (gb.requantize, ((4, 33),), {"zp_in": -120, "zp_out": 0, "multiplier": M_MAX, "shift": 2,
                                 "x_range": (-128, -20)}),
    (gb.requantize, ((3, 41),), {"zp_in": 5, "zp_out": 9, "multiplier": 1288490189, "shift": 1}),
]


@pytest.fixture(scope="module")
def graph():
    rng = np.random.default_rng(1620)
    graphs, feeds = [], {}
    for i, (build, args, *kw) in enumerate(PARTS):
        g, f = build(f"part{i}", rng, *args, **(kw[0] if kw else {}))
        graphs.append(g)
        feeds |= {f"c{i}.{k}": v for k, v in f.items()}
    return with_reference(graphs, feeds)


test_x86_vnni_threads, test_x86_avx2, test_arm_sdot = target_tests()
