"""Op cases of the ops that read run-time integer tensors (token models):

- Gather with run-time indices: an int8 embedding table (a quantized constant) indexed by int64
  token ids, negative ones included (they count from the end), repeated ones too; and an int8
  activation gathered along axis 1 by int32 indices.
- IntLut (qcomp/ir/qops_intlut.py): an int64 mask, an int32 tensor and a bool tensor to int8
  through tables whose low ends are 0, negative and positive; the feeds include values below and
  above the tables (they clamp onto the ends).
"""
from __future__ import annotations

import numpy as np

from qcomp.ir import DType, QuantParams, TensorType, ops
from qcomp.ir.qops_intlut import IntLut

from .graphs import Builder


def _int_input(b: Builder, name: str, values: np.ndarray, dtype: DType) -> str:
    b.g.add_input(name, TensorType(values.shape, dtype))
    b.feeds[name] = values.astype(dtype.np)
    return name


def gather_run_time(name, rng):
    b = Builder(name, rng)
    table = b.const("table", rng.integers(-128, 128, (37, 5)).astype(np.int8), QuantParams(0.02, -3))
    ids = _int_input(b, "ids", rng.integers(-37, 37, (2, 6)), DType.INT64)
    b.feeds[ids][0, :3] = [36, -37, 36]                        # both ends, and a repeat
    tokens = b.node(ops.Gather(axis=0), [table, ids], "tokens")          # (2, 6, 5)
    x = b.input("x", (2, 7, 3), -128)
    cols = _int_input(b, "cols", np.array([6, -7, 0, 3, 3, -1, 2]), DType.INT32)
    picked = b.node(ops.Gather(axis=1), [x, cols], "picked")             # (2, 7, 3)
    return b.done(tokens, picked)


def int_lut(name, rng):
    b = Builder(name, rng)
    mask = _int_input(b, "mask", rng.integers(-3, 5, (2, 9)), DType.INT64)
    t_mask = b.const("mask_table", np.array([-128, -40, 90, 127], np.int8), QuantParams(0.01, -128))
    ints = _int_input(b, "ints", rng.integers(-300, 300, (3, 11)), DType.INT32)
    t_ints = b.const("ints_table", rng.integers(-128, 128, 200).astype(np.int8), QuantParams(0.01, 0))
    flags = _int_input(b, "flags", rng.integers(0, 2, (2, 5)), DType.BOOL)
    t_flags = b.const("flags_table", np.array([-100, 100], np.int8), QuantParams(0.01, 0))
    t_low = b.const("low_table", np.array([3, -7, 50], np.int8), QuantParams(0.01, 0))
    return b.done(b.node(IntLut(low=-1), [mask, t_mask], "mask_q", zp=-128, scale=0.01),
                  b.node(IntLut(low=-80), [ints, t_ints], "ints_q", zp=0, scale=0.01),
                  b.node(IntLut(low=0), [flags, t_flags], "flags_q", zp=0, scale=0.01),
                  b.node(IntLut(low=1), [ints, t_low], "low_q", zp=0, scale=0.01))


def gather_index_ops(name, rng):
    """GatherElements along axis 2 (int64, negative indices), GatherND of pairs (int32) and GatherND
    with batch_dims 1 of rows, on int8 activations."""
    from qcomp.ir.ops_index import GatherElements, GatherND
    b = Builder(name, rng)
    x = b.input("x", (2, 5, 7, 3), -128)
    ie = _int_input(b, "ie", rng.integers(-7, 7, (2, 5, 4, 3)), DType.INT64)
    pairs = _int_input(b, "pairs", np.stack([rng.integers(-2, 2, (4, 3)), rng.integers(-5, 5, (4, 3))], -1),
                       DType.INT32)
    y = b.input("y", (2, 6, 4), 17)
    rows = _int_input(b, "rows", np.array([[[5], [-6], [0]], [[2], [2], [-1]]]), DType.INT64)
    return b.done(b.node(GatherElements(axis=2), [x, ie], "gather_elements"),
                  b.node(GatherND(), [x, pairs], "gather_nd_pairs"),
                  b.node(GatherND(batch_dims=1), [y, rows], "gather_nd_batch"))


def scatter_index_ops(name, rng):
    """ScatterElements (none along axis 1 with repeats: the last wins; max along axis 0) and
    ScatterND (min of repeated rows; none of single elements) on int8 values sharing params."""
    from qcomp.ir.ops_index import ScatterElements, ScatterND
    b = Builder(name, rng)
    x = b.input("x", (4, 9), 5)
    ie = _int_input(b, "ie", np.array([[8, 0, 8], [-1, 3, 3], [-9, 4, 2], [1, 1, 1]]), DType.INT64)
    u = b.input("u", (4, 3), 5)
    im = _int_input(b, "im", rng.integers(-4, 4, (6, 9)), DType.INT32)
    um = b.input("um", (6, 9), 5)
    rows = _int_input(b, "rows", np.array([[2], [0], [-2], [2]]), DType.INT64)
    ur = b.input("ur", (4, 9), 5)
    cells = _int_input(b, "cells", np.array([[0, 8], [3, -9], [-4, 4]]), DType.INT64)
    uc = b.input("uc", (3,), 5)
    return b.done(b.node(ScatterElements(axis=1), [x, ie, u], "scatter_elements"),
                  b.node(ScatterElements(axis=0, reduction="max"), [x, im, um], "scatter_elements_max"),
                  b.node(ScatterND(reduction="min"), [x, rows, ur], "scatter_nd_min"),
                  b.node(ScatterND(), [x, cells, uc], "scatter_nd"))
