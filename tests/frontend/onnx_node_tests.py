"""The ONNX backend node tests for the ops qcomp imports, run through qcomp.

Where the cases come from: onnx's own node-test generators (`onnx.backend.test.case.node`, the
code that writes the `onnx/backend/test/data/node/test_*` directories; the installed onnx 1.23
wheel ships the generators but not the written .pb files). `np.random` is seeded before they run,
so every case has the same inputs on every run. A case belongs to op X when its model is one node
of op X, or when it is the `_expanded` form (the op's function body) of such a case.

A case written at an opset outside qcomp's 11 to 21 is first converted to the nearest of them by
onnx's version converter (opset 22 to 28 mostly widened type lists: bfloat16, float8, int4); one it
cannot convert (a dtype the older opset does not have) fails with the converter's reason.

Each case runs twice:
- float: `import_onnx` + `ref.run_float`, every output against the case's expected output with a
  tight tolerance (RTOL, ATOL; the onnx runner itself allows rtol 1e-3). Inputs that are parameters
  in a compiled model (weights, clip bounds, shapes, scales, axes) may be frozen to initializers, as
  a compiler takes them as constants: the case is first imported as written, and only if qcomp
  refuses that, with every input but the first frozen to its test value (`frozen` in the result).
- int8, where sensible (float32 inputs and outputs, and the quantized graph computes some int8
  value): calibrated on the case's own inputs, `quantize` + `lower_integer` + `ref.run_integer`,
  against onnxruntime running qcomp's QDQ export of the same quantized graph (`export_qdq`,
  optimizations off): every output within 1 LSB of its int8 scale.
"""
from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from functools import cache

import numpy as np
import onnx
from onnx import numpy_helper

RTOL, ATOL = 1e-5, 1e-6
MAX_LSB = 1


OPSETS = (11, 21)    # what qcomp imports (ARCHITECTURE.md section 1)


@dataclasses.dataclass(frozen=True)
class NodeCase:
    name: str
    op: str                                   # the op the case tests
    model: onnx.ModelProto                    # at an opset qcomp imports, where it converts
    inputs: tuple[dict[str, np.ndarray], ...]  # one dict per data set
    outputs: tuple[dict[str, np.ndarray], ...]
    opset: int                                # the opset the case was written at
    conversion_error: str = ""                # why onnx's version converter could not bring it to OPSETS


def opset_of(model: onnx.ModelProto) -> int:
    return max(o.version for o in model.opset_import if o.domain in ("", "ai.onnx"))


def _converted(model: onnx.ModelProto) -> tuple[onnx.ModelProto, str]:
    """The model at the nearest opset of OPSETS (onnx's version converter), or the reason it cannot be."""
    from onnx import version_converter
    v = opset_of(model)
    if OPSETS[0] <= v <= OPSETS[1]:
        return model, ""
    try:
        return version_converter.convert_version(model, min(max(v, OPSETS[0]), OPSETS[1])), ""
    except Exception as e:  # noqa: BLE001 - the converter raises RuntimeError / its own types
        return model, str(e).splitlines()[0].split(": ", 2)[-1][:200]


@cache
def _generated() -> tuple:
    from onnx.backend.test.case.node import collect_testcases
    state = np.random.get_state()
    np.random.seed(0)
    try:
        with np.errstate(all="ignore"):
            return tuple(collect_testcases())
    finally:
        np.random.set_state(state)


def _array(v) -> np.ndarray:
    """A data-set value as numpy (some generators store a TensorProto: float16 bits, float8, int4; a
    sequence of tensors of different shapes becomes an object array)."""
    if isinstance(v, onnx.TensorProto):
        return numpy_helper.to_array(v)
    if isinstance(v, list) and len({np.shape(x) for x in v}) > 1:
        seq = np.empty(len(v), dtype=object)
        seq[:] = [np.asarray(x) for x in v]
        return seq
    return np.asarray(v)


def _as_dict(names, values) -> dict[str, np.ndarray]:
    return {n: _array(v) for n, v in zip(names, values)}


@cache
def node_cases(claimed: frozenset[str]) -> tuple[NodeCase, ...]:
    """Every generated node case of an op in `claimed` (standard domain), by name."""
    single: dict[str, str] = {}
    for tc in _generated():
        nodes = tc.model.graph.node
        if len(nodes) == 1 and nodes[0].domain in ("", "ai.onnx"):
            single[tc.name] = nodes[0].op_type
    out = []
    for tc in _generated():
        base = re.sub(r"_expanded(_ver\d+)?$", "", tc.name)
        op = single.get(base)
        if op not in claimed:
            continue
        g = tc.model.graph
        ins = [i.name for i in g.input if i.name not in {t.name for t in g.initializer}]
        outs = [o.name for o in g.output]
        model, error = _converted(tc.model)
        out.append(NodeCase(tc.name, op, model, tuple(_as_dict(ins, i) for i, _ in tc.data_sets),
                            tuple(_as_dict(outs, o) for _, o in tc.data_sets), opset_of(tc.model), error))
    return tuple(sorted(out, key=lambda c: c.name))


def frozen(model: onnx.ModelProto, feeds: dict[str, np.ndarray], keep: int = 0) -> onnx.ModelProto:
    """The model with every graph input but input `keep` (the first, or -1: the last) an initializer
    holding its test value."""
    m = onnx.ModelProto()
    m.CopyFrom(model)
    g = m.graph
    runtime = [i for i in g.input if i.name not in {t.name for t in g.initializer}]
    kept = runtime[keep:][:1] if keep >= 0 else runtime[keep:]
    for i in list(g.input):
        if i.name in feeds and i not in kept:
            g.initializer.append(numpy_helper.from_array(feeds[i.name], i.name))
    return m


def import_case(case: NodeCase, feeds: dict[str, np.ndarray]):
    """(graph, feeds it takes, frozen?): as written, else with its parameters frozen: every input but
    the first (the data of most ops), else every input but the last (Loop: M and cond come first)."""
    from qcomp.errors import QcompError
    from qcomp.frontend import import_onnx
    try:
        return import_onnx(case.model), feeds, False
    except QcompError as first:
        errors = []
        for keep in (0, -1):
            m = frozen(case.model, feeds, keep)
            if len(m.graph.initializer) == len(case.model.graph.initializer):
                raise
            try:
                g = import_onnx(m)
            except QcompError as e:
                errors.append(e)
                continue
            return g, {k: v for k, v in feeds.items() if k in g.inputs}, True
        raise type(errors[0])(f"as written: {first}\nwith its parameters frozen: {errors[0]}") from None


def _compare_float(name: str, got: np.ndarray, want: np.ndarray, rtol: float) -> None:
    if got.shape != want.shape:
        raise AssertionError(f"output {name!r}: shape {got.shape}, expected {want.shape}")
    if want.dtype.kind in "fc":
        np.testing.assert_allclose(got.astype(np.float64), want.astype(np.float64), rtol=rtol, atol=ATOL,
                                   equal_nan=True, err_msg=f"output {name!r}")
    else:
        np.testing.assert_array_equal(got, want, err_msg=f"output {name!r}")
    if got.dtype != want.dtype:
        raise AssertionError(f"output {name!r}: dtype {got.dtype}, expected {want.dtype}")


def run_float(case: NodeCase, rtol: float = RTOL) -> bool:
    """Float check of every data set; returns whether the parameters had to be frozen."""
    from qcomp.api import run_float as ref_float   # the model's integer I/O as the model has it
    if case.conversion_error:
        raise AssertionError(f"opset {case.opset} -> {OPSETS}: onnx's version converter: {case.conversion_error}")
    was_frozen = False
    for ins, outs in zip(case.inputs, case.outputs):
        g, feeds, was_frozen = import_case(case, ins)
        got = ref_float(g, feeds)
        for k, want in outs.items():
            _compare_float(k, np.asarray(got[k]), want, rtol)
    return was_frozen


def int8_sensible(g, feeds) -> bool:
    return (all(v.dtype == np.float32 for v in feeds.values()) and bool(feeds)
            and all(g.types[o].dtype.value == "f32" for o in g.outputs))


def run_int8(case: NodeCase) -> str:
    """The int8 check of data set 0: "" when done, else why it does not apply."""
    import onnxruntime as ort

    from qcomp.frontend.export_qdq import export_qdq
    from qcomp.ir import verify
    from qcomp.passes.calibrate import calibrate
    from qcomp.passes.lower_integer import lower_integer
    from qcomp.passes.quantize import quantize
    from qcomp.ref import run_integer

    g, feeds, _ = import_case(case, case.inputs[0])
    if not int8_sensible(g, feeds):
        return "not float32 in and out"
    q = verify(quantize(g, calibrate(g, [feeds]).ranges))
    if not any(t.dtype.value == "i8" for v, t in q.types.items() if v not in q.constants):
        return "nothing quantized"
    t = verify(lower_integer(q))
    ours = run_integer(t, feeds)
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_DISABLE_ALL
    so.intra_op_num_threads = 1
    sess = ort.InferenceSession(export_qdq(q).SerializeToString(), so, providers=["CPUExecutionProvider"])
    theirs = dict(zip([o.name for o in sess.get_outputs()], sess.run(None, feeds)))
    producers = {o: n for n in q.nodes for o in n.outputs}
    for o in g.outputs:
        src = producers[o]
        quant = q.types[src.inputs[0]].quant if src.kind == "Dequantize" else None
        if quant is None:   # a float output of a float region: the float contract (section 3)
            np.testing.assert_allclose(ours[o], theirs[o], rtol=1e-5, atol=1e-6, err_msg=f"output {o!r}")
            continue
        step = float(quant.scale[0])
        lsb = np.abs(ours[o].astype(np.float64) - theirs[o].astype(np.float64)) / (step if step > 0 else 1.0)
        if lsb.max(initial=0.0) > MAX_LSB + 1e-3:
            raise AssertionError(f"output {o!r}: {lsb.max(initial=0.0):.2f} LSB from onnxruntime's QDQ (scale {step:.4g})")
    return ""


def by_op(cases) -> Iterator[tuple[str, list[NodeCase]]]:
    ops: dict[str, list[NodeCase]] = {}
    for c in cases:
        ops.setdefault(c.op, []).append(c)
    yield from sorted(ops.items())
