"""kernels_runs.run_length: which gather maps copy whole runs (the op case
transpose_head_split_slice_runs runs them on every target)."""
import numpy as np

from qcomp.codegen.llvm import tables
from qcomp.codegen.llvm.kernels_runs import reduce_transpose, run_length
from qcomp.ir import ops


def test_head_split_copies_runs_of_the_head_size():
    m = tables.gather_map(ops.Transpose(perm=(0, 2, 1, 3)), [(1, 128, 12, 32)])[0]
    assert run_length(m, (1, 12, 128, 32)) == 32


def test_unit_axis_move_is_one_run():
    m = tables.gather_map(ops.Transpose(perm=(1, 0, 2, 3)), [(1, 3, 7, 5)])[0]
    assert run_length(m, (3, 1, 7, 5)) == 105


def test_slice_of_rows_copies_the_rows():
    m = tables.gather_map(ops.Slice(starts=(0, 2, 0), ends=(3, 6, 5), steps=(1, 1, 1)), [(3, 7, 5)])[0]
    assert run_length(m, (3, 4, 5)) == 20


def test_no_runs_where_the_inner_axis_moves_or_pads():
    kt = tables.gather_map(ops.Transpose(perm=(0, 2, 3, 1)), [(1, 8, 2, 4)])[0]
    assert run_length(kt, (1, 2, 4, 8)) == 1
    pad = tables.gather_map(ops.Pad(pads=(0, 1, 0, 0, 0, 0)), [(2, 3, 4)])[0]
    assert (pad < 0).any() and run_length(pad, (2, 4, 4)) == 1
    step = tables.gather_map(ops.Slice(starts=(0, 0), ends=(4, 6), steps=(1, 2)), [(4, 6)])[0]
    assert run_length(step, (4, 3)) == 1


def test_reduced_transposes_keep_the_element_order():
    rng = np.random.default_rng(0)
    cases = [((1, 128, 12, 32), (0, 2, 3, 1), (128, 384), (1, 0)),      # attention's K^T
             ((1, 3, 22, 24), (0, 2, 3, 1), (3, 528), (1, 0)),           # NCHW -> NHWC
             ((2, 1, 3, 4, 5), (4, 1, 0, 3, 2), (2, 3, 4, 5), (3, 0, 2, 1)),
             ((1, 1, 6), (2, 0, 1), (6,), (0,))]
    for shape, perm, want_shape, want_perm in cases:
        got_shape, got_perm = reduce_transpose(shape, perm)
        assert (got_shape, got_perm) == (want_shape, want_perm)
        x = rng.integers(-128, 128, shape).astype(np.int8)
        np.testing.assert_array_equal(x.transpose(perm).ravel(), x.reshape(got_shape).transpose(got_perm).ravel())
