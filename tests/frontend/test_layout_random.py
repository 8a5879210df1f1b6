"""Seeded random chains of layout-moving ops after a Conv (whose output is NHWC inside qcomp),
checked against onnxruntime. Each chain mixes ops that keep, remap or materialize the layout
(Transpose, Concat, Slice, Pad, Split, Softmax, ReduceMean, LayerNormalization, Reshape,
Unsqueeze, binary ops between values of different layouts, another Conv), so a wrong axis
remapping anywhere shows up as a numeric mismatch."""
from __future__ import annotations

import numpy as np
import pytest
from onnx import helper

from qcomp.frontend import import_onnx
from qcomp.ref import run_float

from .onnx_util import assert_matches, model, run_onnxruntime


class Chain:
    def __init__(self, rng: np.random.Generator):
        self.rng = rng
        self.nodes, self.inits = [], {}
        self.values: list[tuple[str, tuple[int, ...]]] = []   # (name, ONNX shape)
        self.k = 0

    def name(self, base: str) -> str:
        self.k += 1
        return f"{base}{self.k}"

    def const(self, arr: np.ndarray) -> str:
        n = self.name("c")
        self.inits[n] = arr
        return n

    def add(self, op: str, ins: list[str], shape: tuple[int, ...], outputs: int = 1, **attrs) -> str:
        outs = [self.name(op.lower()) for _ in range(outputs)]
        self.nodes.append(helper.make_node(op, ins, outs, name=outs[0], **attrs))
        self.values.append((outs[0], shape))
        return outs[0]


def _step(c: Chain, x: str, s: tuple[int, ...]) -> tuple[str, tuple[int, ...]]:
    rng, r = c.rng, len(s)
    choice = rng.choice(["transpose", "binary_const", "binary_value", "softmax", "reduce", "concat", "slice",
                         "pad", "split", "layernorm", "reshape", "unsqueeze", "conv", "relu"])
    dummy = np.zeros(s)
    if choice == "transpose":
        perm = [int(p) for p in rng.permutation(r)]
        shape = dummy.transpose(perm).shape
        return c.add("Transpose", [x], shape, perm=perm), shape
    if choice == "binary_const":
        cshape = tuple(d if rng.random() < 0.5 else 1 for d in s)[int(rng.integers(0, r)):]
        op = str(rng.choice(["Add", "Mul", "Sub"]))
        return c.add(op, [x, c.const(rng.standard_normal(cshape).astype(np.float32))], s), s
    if choice == "binary_value":
        same = [n for n, sh in c.values if sh == s and n != x]
        if not same:
            return c.add("Relu", [x], s), s
        other = same[int(rng.integers(0, len(same)))]
        return c.add(str(rng.choice(["Add", "Mul"])), [x, other] if rng.random() < 0.5 else [other, x], s), s
    if choice == "softmax":
        return c.add("Softmax", [x], s, axis=int(rng.integers(-r, r))), s
    if choice == "reduce":
        axes = sorted({int(a) for a in rng.choice(r, size=int(rng.integers(1, r + 1)), replace=False)})
        keep = int(rng.integers(0, 2))
        shape = dummy.mean(axis=tuple(axes), keepdims=bool(keep)).shape
        if len(shape) == 0:
            keep, shape = 1, dummy.mean(axis=tuple(axes), keepdims=True).shape
        return c.add("ReduceMean", [x], shape, axes=axes, keepdims=keep), shape
    if choice == "concat":
        axis = int(rng.integers(0, r))
        shape = np.concatenate([dummy, dummy], axis=axis).shape
        return c.add("Concat", [x, x], shape, axis=axis), shape
    if choice == "slice":
        axis = int(rng.integers(0, r))
        if s[axis] < 2:
            return c.add("Relu", [x], s), s
        step = int(rng.choice([1, 2, -1, -2]))
        start, end = (0, s[axis]) if step > 0 else (s[axis] - 1, -s[axis] - 1)
        start += int(np.sign(step)) * int(rng.integers(0, s[axis] // 2))
        idx = [slice(None)] * r
        idx[axis] = slice(start, end if end >= 0 else None, step)
        shape = dummy[tuple(idx)].shape
        ins = [x] + [c.const(np.array([v], np.int64)) for v in (start, end, axis, step)]
        return c.add("Slice", ins, shape), shape
    if choice == "pad":
        pads = [int(p) for p in rng.integers(0, 2, size=2 * r)]
        mode = str(rng.choice(["constant", "edge", "reflect"]))
        if mode == "reflect" and min(s) < 2:
            mode = "edge"
        shape = tuple(d + pads[i] + pads[i + r] for i, d in enumerate(s))
        return c.add("Pad", [x, c.const(np.array(pads, np.int64))], shape, mode=mode), shape
    if choice == "split":
        axis = int(rng.integers(0, r))
        if s[axis] < 2:
            return c.add("Relu", [x], s), s
        sizes = [1, s[axis] - 1]
        shape = tuple(1 if i == axis else d for i, d in enumerate(s))
        return c.add("Split", [x, c.const(np.array(sizes, np.int64))], shape, outputs=2, axis=axis), shape
    if choice == "layernorm":
        axis = int(rng.integers(0, r))
        scale = c.const(rng.standard_normal(s[axis:]).astype(np.float32))
        return c.add("LayerNormalization", [x, scale], s, axis=axis), s
    if choice == "reshape" and r >= 2:
        shape = s[:-2] + (s[-2] * s[-1],)
        return c.add("Reshape", [x, c.const(np.array(shape, np.int64))], shape), shape
    if choice == "unsqueeze" and r < 5:
        axis = int(rng.integers(0, r + 1))
        shape = s[:axis] + (1,) + s[axis:]
        return c.add("Unsqueeze", [x, c.const(np.array([axis], np.int64))], shape), shape
    if choice == "conv" and r == 4:
        w = (rng.standard_normal((3, s[1], 1, 1)) / np.sqrt(s[1])).astype(np.float32)
        shape = (s[0], 3, s[2], s[3])
        return c.add("Conv", [x, c.const(w)], shape), shape
    return c.add("Sigmoid", [x], s), s


def build_chain(seed: int, length: int = 6):
    rng = np.random.default_rng(seed)
    c = Chain(rng)
    w = (rng.standard_normal((4, 3, 1, 1)) / np.sqrt(3)).astype(np.float32)
    x, s = c.add("Conv", ["x", c.const(w)], (1, 4, 5, 6)), (1, 4, 5, 6)
    for _ in range(length):
        x, s = _step(c, x, s)
    # a final offset keeps the output away from all-zero (LayerNorm then ReduceMean over the same
    # axes is exactly 0, where a relative error means nothing)
    x = c.add("Add", [x, c.const(rng.uniform(1.0, 2.0, size=s).astype(np.float32))], s)
    m = model(c.nodes, {"x": (1, 3, 5, 6)}, [x], c.inits, opset=17)
    return m, {"x": rng.standard_normal((1, 3, 5, 6)).astype(np.float32)}


@pytest.mark.parametrize("seed", range(100))
def test_random_layout_chain_matches_onnxruntime(seed):
    m, feeds = build_chain(seed)
    assert_matches(run_float(import_onnx(m), feeds), run_onnxruntime(m, feeds))
