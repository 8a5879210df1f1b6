"""x86 1x1 convolutions and Dense read x itself as the GEMM's A operand (kernels_dot, flip): the u8
offset +128 of VPDPBUSD / VPMADDUBSW is applied to each broadcast word as an XOR with 0x80808080
instead of an im2col pack, where every row is whole depth steps (C a multiple of 4) and there are
two output blocks or more; other layers keep the pack. Checked on the emitted IR, and bit-exact to the reference at 1 and 2 threads."""
import re

import numpy as np
import pytest

from qcomp.codegen.llvm import build_module, emit
from qcomp.ref import run_integer
from qcomp.target import get_target, host_support
from tests.opcases import graphs as gb

VNNI = get_target("x86-vnni")
FLIP = "-2139062144"                      # 0x80808080 as an i32 constant of the IR


def _ir(graph, target: str) -> str:
    return str(build_module(graph, get_target(target))[0].m)


def _packs(text: str) -> bool:
    return re.search(r'define internal void @"?pack_rows', text) is not None


@pytest.mark.parametrize("target", ["x86-vnni", "x86-avx2"])
def test_pointwise_and_dense_read_x_directly(target):
    conv, _ = gb.conv("pw", np.random.default_rng(0), (1, 9, 9, 32), 40, (1, 1))
    dense, _ = gb.dense("fc", np.random.default_rng(0), (1, 64), 24)
    for g in (conv, dense):
        text = _ir(g, target)
        assert FLIP in text and not _packs(text), g.name


def test_other_layers_keep_the_pack():
    odd, _ = gb.conv("pw_odd", np.random.default_rng(0), (1, 9, 9, 30), 40, (1, 1))          # K = 30: not whole steps
    spatial, _ = gb.conv("c3", np.random.default_rng(0), (1, 9, 9, 32), 40, (3, 3), pads=(1, 1, 1, 1))
    strided, _ = gb.conv("pw_s2", np.random.default_rng(0), (1, 9, 9, 32), 40, (1, 1), strides=(2, 2))
    narrow, _ = gb.conv("pw16", np.random.default_rng(0), (1, 9, 9, 32), 16, (1, 1))          # one output block
    for g in (odd, spatial, strided, narrow):
        text = _ir(g, "x86-vnni")
        assert FLIP not in text and _packs(text), g.name
    sdot, _ = gb.conv("pw", np.random.default_rng(0), (1, 9, 9, 32), 40, (1, 1))
    assert FLIP not in _ir(sdot, "arm-sdot")                                                   # offset 0: x as is


@pytest.mark.skipif(not host_support(VNNI).can_run, reason=f"target x86-vnni: {host_support(VNNI).why}")
def test_flipped_operand_equals_the_reference(tmp_path):
    """x spans all of -128..127 (the XOR's whole domain); the conv has many jobs and a tail tile."""
    from qcomp.runtime.llvm import Runner
    graph, feeds = gb.conv("pw", np.random.default_rng(4), (1, 23, 23, 64), 72, (1, 1), zp_in=-128)
    assert {-128, 127} <= set(np.unique(feeds["x"]).tolist())
    want = run_integer(graph, feeds)["conv"]
    assert np.unique(want).size > 8
    emit(graph, VNNI, tmp_path)
    runner = Runner(tmp_path / "model.so")
    for n in (1, 2):
        runner.set_num_threads(n)
        np.testing.assert_array_equal(runner.run(feeds)["conv"], want, err_msg=f"{n} threads")
