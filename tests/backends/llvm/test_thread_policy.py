"""The llvm backend's thread policy: a node forks onto the pool only where its work pays for it.

kernels_depthwise._n_jobs gives a node at most one job per JOB_MACS multiply-accumulates (and
parallel_for calls a single job directly, with no fork-join), so a tiny layer runs on the calling
thread alone whatever the thread count; a large one is split. Checked on the emitted LLVM IR (no
toolchain needed): which node functions call qcomp_parallel_for."""
import re

import numpy as np
import pytest

from qcomp.codegen.llvm import build_module
from qcomp.codegen.llvm.kernels_depthwise import JOB_MACS
from qcomp.target import get_target
from tests.opcases import graphs as gb
from tests.opcases import graphs_fused as gf


def _calls_pool(graph) -> dict[int, bool]:
    """node index -> whether its function calls qcomp_parallel_for (a plain call of its one job otherwise)."""
    text = str(build_module(graph, get_target("x86-vnni"))[0].m)
    bodies = dict(re.findall(r'define internal i32 @"?node\.(\d+)"?\(.*?\)[^{]*\{(.*?)\n\}', text, re.S))
    return {int(i): re.search(r'@"?qcomp_parallel_for"?\(', body) is not None for i, body in bodies.items()}


@pytest.mark.parametrize("case,shape,out_ch,kernel,pays", [
    ("tiny_1x1", (1, 4, 4, 8), 8, (1, 1), False),             # 1 024 MACs
    ("small_3x3", (1, 8, 8, 16), 16, (3, 3), False),          # 147 456 MACs: below 2 jobs' worth
    ("depthwise_3x3", (1, 16, 16, 32), 32, (3, 3), False),    # depthwise: 73 728 MACs
    ("large_3x3", (1, 28, 28, 64), 64, (3, 3), True),         # 28.9 M MACs
])
def test_small_nodes_stay_on_one_thread(case, shape, out_ch, kernel, pays):
    group = shape[3] if case.startswith("depthwise") else 1
    g, _ = gb.conv(case, np.random.default_rng(0), shape, out_ch, kernel, pads=(1, 1, 1, 1) if kernel[0] == 3 else
                   (0, 0, 0, 0), group=group)
    macs = int(np.prod(g.types["conv"].shape)) * kernel[0] * kernel[1] * (shape[3] // group)
    assert (macs >= 2 * JOB_MACS) == pays
    assert _calls_pool(g) == {0: pays}


def test_a_fused_residual_node_follows_the_same_policy():
    small, _ = gf.conv_add("small", np.random.default_rng(0), (1, 6, 6, 8), 8, (1, 1))
    large, _ = gf.conv_add("large", np.random.default_rng(0), (1, 28, 28, 64), 64, (3, 3), pads=(1, 1, 1, 1))
    assert _calls_pool(small) == {0: False}
    assert _calls_pool(large) == {0: True}
