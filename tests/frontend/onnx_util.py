"""Building tiny ONNX models for the frontend tests, and comparing qcomp's float reference with
onnxruntime on them."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

IR_VERSION = 10  # onnxruntime 1.31 reads IR <= 13; 10 covers opsets up to 21

COSINE_MIN = 0.9999
REL_ERR_MAX = 1e-3


def model(nodes: list[onnx.NodeProto], inputs: dict[str, tuple], outputs: list[str],
          inits: dict[str, np.ndarray] | None = None, opset: int = 13,
          dtypes: dict[str, int] | None = None, output_shapes: dict[str, list] | None = None,
          name: str = "test") -> onnx.ModelProto:
    """A model with float32 (or `dtypes`) inputs of the given shapes; outputs with unknown shapes
    unless `output_shapes` declares them."""
    dtypes = dtypes or {}
    output_shapes = output_shapes or {}
    g = helper.make_graph(
        nodes, name,
        [helper.make_tensor_value_info(k, dtypes.get(k, TensorProto.FLOAT), list(s)) for k, s in inputs.items()],
        [helper.make_tensor_value_info(o, TensorProto.FLOAT, output_shapes[o]) if o in output_shapes
         else helper.make_empty_tensor_value_info(o) for o in outputs],
        [numpy_helper.from_array(np.asarray(v), k) for k, v in (inits or {}).items()])
    return helper.make_model(g, opset_imports=[helper.make_opsetid("", opset)], ir_version=IR_VERSION,
                             producer_name="qcomp-tests")


@dataclass(frozen=True)
class Pos:
    """A positive float32 run-time input (for Sqrt, Pow, Div denominators)."""
    shape: tuple[int, ...]


@dataclass(frozen=True)
class Ints:
    """An int64 run-time input with values in [low, high)."""
    shape: tuple[int, ...]
    low: int
    high: int


@dataclass(frozen=True)
class Case:
    """One node (optionally behind a 1x1 Conv, so its first input arrives in NHWC layout).

    ins: per node input, a shape tuple (float32 run-time input), Pos/Ints (run-time input),
    an np.ndarray (initializer) or None (an empty optional input)."""
    id: str
    op: str
    ins: tuple
    attrs: dict = field(default_factory=dict)
    opset: int = 13
    outputs: int = 1
    nhwc: bool = False

    def build(self, rng: np.random.Generator) -> tuple[onnx.ModelProto, dict[str, np.ndarray]]:
        nodes, inputs, inits, feeds, dtypes, names = [], {}, {}, {}, {}, []
        for k, spec in enumerate(self.ins):
            name = f"in{k}"
            if spec is None:
                names.append("")
            elif isinstance(spec, np.ndarray):
                inits[name] = spec
                names.append(name)
            else:
                shape = spec.shape if isinstance(spec, (Pos, Ints)) else tuple(spec)
                inputs[name] = shape
                if isinstance(spec, Ints):
                    feeds[name] = rng.integers(spec.low, spec.high, size=shape).astype(np.int64)
                    dtypes[name] = TensorProto.INT64
                elif isinstance(spec, Pos):
                    feeds[name] = rng.uniform(0.1, 3.0, size=shape).astype(np.float32)
                else:
                    feeds[name] = rng.standard_normal(shape).astype(np.float32)
                names.append(name)
        if self.nhwc:  # in0 -> 1x1 Conv (C -> C) -> the op: the op's first input is NHWC inside qcomp
            c = inputs["in0"][1]
            inits["pre_w"] = (rng.standard_normal((c, c, 1, 1)) / np.sqrt(c)).astype(np.float32)
            nodes.append(helper.make_node("Conv", ["in0", "pre_w"], ["pre"], name="pre"))
            names[0] = "pre"
        outs = [f"out{k}" for k in range(self.outputs)]
        nodes.append(helper.make_node(self.op, names, outs, name=self.id, **self.attrs))
        return model(nodes, inputs, outs, inits, self.opset, dtypes), feeds


def run_onnxruntime(m: onnx.ModelProto, feeds: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    sess = ort.InferenceSession(m.SerializeToString(), so, providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    return dict(zip(names, sess.run(names, feeds)))


def agreement(ours: np.ndarray, ref: np.ndarray) -> tuple[float, float]:
    """(cosine similarity, max|a - b| / max|b|) of two arrays (1.0, 0.0 when both are all zero)."""
    a = ours.astype(np.float64).reshape(-1)
    b = ref.astype(np.float64).reshape(-1)
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if nb == 0.0:
        return (1.0 if na == 0.0 else 0.0), float(np.abs(a).max(initial=0.0))
    cos = float(a @ b / (na * nb)) if na > 0 else 0.0
    return cos, float(np.abs(a - b).max() / np.abs(b).max())


def assert_matches(ours: dict[str, np.ndarray], ref: dict[str, np.ndarray]) -> None:
    assert set(ours) == set(ref), f"outputs differ: qcomp {sorted(ours)}, onnxruntime {sorted(ref)}"
    for k, b in ref.items():
        a = ours[k]
        assert a.shape == b.shape, f"output {k!r}: qcomp shape {a.shape}, onnxruntime {b.shape}"
        assert a.dtype == b.dtype, f"output {k!r}: qcomp dtype {a.dtype}, onnxruntime {b.dtype}"
        cos, rel = agreement(a, b)
        assert cos >= COSINE_MIN and rel <= REL_ERR_MAX, \
            f"output {k!r}: cosine {cos:.6f} (>= {COSINE_MIN}), max rel err {rel:.2e} (<= {REL_ERR_MAX})"
