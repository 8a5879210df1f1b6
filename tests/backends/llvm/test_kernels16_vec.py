"""The llvm backend's vector A16W8 kernels (kernels16_matmul.py, kernels16_elem.py) on the shapes their
loops branch on, bit-exact to the reference: the parts below in one graph (tests/opcases/batch.union),
compiled once per target: x86-vnni (1 and 2 threads), x86-avx2, arm-sdot (under QEMU).

- QMatMul16: K = 600 (two int32 blocks per output, 510 + 90 terms) over heads with A and B batch
  broadcasting, row tails (M past the last MR tile) and channel tails (N past the last full block);
  odd K (A packed and zero-padded on the depth-2 x86 steps) to int8 with a zero point; N = 150
  (several chunks of blocks, threaded jobs); operands of -32768 and 32767 (the split of B at its
  bounds: 32767 = 256 * 128 - 1, -32768 = 256 * -128).
- QAdd16 / QSub16 / QMul16: a trailing-block operand (a bias [37] on [3, 7, 37]), a one-element
  operand, an attention-mask block [1, 1, 1, 19], a middle-axis broadcast (kernels16's scalar loop),
  rows with vector bodies and tails for 16, 8 and 4 lanes, a tensor of several row jobs (64 x 300).
- QConvert int8 -> int16, int16 -> int8, int16 -> int16 and Lut16 to int16 and int8 on rows of 301
  (bodies and tails).
"""
import numpy as np
import pytest

from tests.opcases import graphs16 as g16

from tests.backends.llvm.vector_checks import target_tests, with_reference


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


PARTS = [
    (g16.matmul16, ((2, 3, 19, 600), (3, 600, 37))),
    (g16.matmul16, ((2, 9, 35), (2, 35, 20)), {"out_dtype": "i8", "zp": -20}),
    (g16.matmul16, ((1, 30, 64), (64, 150))),
    (g16.binary16, ("add", (3, 7, 37), (37,)), {"relu": True}),
    (g16.binary16, ("sub", (2, 70), (1,))),
    (g16.binary16, ("mul", (1, 3, 4, 19), (1, 1, 1, 19)), {"scales": (0.0005, 0.0002, 0.003)}),
    (g16.binary16, ("add", (2, 3, 4), (2, 1, 4))),
    (g16.binary16, ("mul", (64, 300), (64, 300)), {"scales": (0.0005, 0.0002, 0.003)}),
    (g16.convert, ((5, 301),), {"in_dtype": "i8", "out_dtype": "i16", "ratio": 251.37, "zp_in": -7}),
    (g16.convert, ((5, 301),), {"in_dtype": "i16", "out_dtype": "i8", "ratio": 1 / 255.3, "zp_out": 9}),
    (g16.convert, ((7, 45),), {"in_dtype": "i16", "out_dtype": "i16", "ratio": 0.7131}),
    (g16.lut16, ((5, 301), _sigmoid), {"s_in": 8 / 32768, "s_out": 1 / 32768}),
    (g16.lut16, ((5, 301), np.tanh), {"s_in": 3 / 32768, "s_out": 1 / 128, "out_dtype": "i8"}),
]


def _extremes(feeds: dict, rng) -> None:
    """A tenth of every int16 feed set to -32768 or 32767 (the first matmul's A and B entirely
    extreme in its first row and column)."""
    for name, x in feeds.items():
        if x.dtype == np.int16:
            flat = x.reshape(-1)
            at = rng.choice(flat.size, size=max(1, flat.size // 10), replace=False)
            flat[at] = rng.choice(np.array([-32768, 32767], np.int16), size=at.size)


@pytest.fixture(scope="module")
def graph():
    rng = np.random.default_rng(1616)
    graphs, feeds = [], {}
    for i, (build, args, *kw) in enumerate(PARTS):
        g, f = build(f"part{i}", rng, *args, **(kw[0] if kw else {}))
        _extremes(f, rng)
        graphs.append(g)
        feeds |= {f"c{i}.{k}": v for k, v in f.items()}
    first = feeds["c0.a"], feeds["c0.b"]
    first[0][..., 0, :] = -32768
    first[1][..., :, 0] = 32767
    return with_reference(graphs, feeds)


test_x86_vnni_threads, test_x86_avx2, test_arm_sdot = target_tests()
