"""kernels_runs.run_length: which gather maps copy whole runs (the op case
transpose_head_split_slice_runs runs them on every target)."""
from qcomp.codegen.llvm import tables
from qcomp.codegen.llvm.kernels_runs import run_length
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
