"""The float reference interpreter: run a FLOAT-stage graph on numpy arrays.

    outputs = run_float(graph, {"input": x})

Nodes run in graph order (the verifier guarantees a topological order), each through the kernel
`KERNELS[type(node.op)]`. A value is freed right after its last consumer has run, so peak memory is
the live set of the graph, not the sum of every intermediate; graph outputs stay alive.

`on_value(name, array)` sees every graph input (in input order) and then every node output (in node
order) as soon as it exists; constants are not reported (they are in `graph.constants`). Calibration
collects its statistics there; the callback must not modify the array.

The graph is verified first (qcomp.ir.verify), so a malformed graph is an IRError naming the node,
never a KeyError from the middle of a run. Every kernel result is checked against the type the graph declares for it (shape and dtype): a
mismatch is a bug in qcomp, raised as RuntimeError naming the node.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping

import numpy as np

from ..errors import InputError, QcompError
from ..ir import Graph, Node, Stage, TensorType, verify
from .kernels import ACCEPTS, KERNELS, MissingKernelError

OnValue = Callable[[str, np.ndarray], None]


def run_float(graph: Graph, feeds: Mapping[str, np.ndarray],
              on_value: OnValue | None = None) -> dict[str, np.ndarray]:
    """Run a FLOAT-stage graph; return its outputs keyed by graph output name."""
    if graph.stage is not Stage.FLOAT:
        raise QcompError(f"run_float runs FLOAT-stage graphs, but graph {graph.name!r} is at stage "
                         f"{graph.stage.name}: run it with the integer reference interpreter")
    return execute(graph, feeds, on_value, _run_node)


def execute(graph: Graph, feeds: Mapping[str, np.ndarray], on_value: OnValue | None,
            run_node: Callable[[Graph, Node, list[np.ndarray]], tuple[np.ndarray, ...]]) -> dict[str, np.ndarray]:
    """The interpreter loop shared by the float and integer references: verify, check feeds, run
    each node through `run_node`, report values, free each value after its last use."""
    verify(graph)
    env: dict[str, np.ndarray] = dict(check_feeds(graph, feeds))
    if on_value is not None:
        for name in graph.inputs:
            on_value(name, env[name])
    last_use = _last_uses(graph)
    keep = set(graph.outputs)
    with np.errstate(all="ignore"):  # IEEE results (inf, nan) as onnxruntime gives them, no warnings
        for step, node in enumerate(graph.nodes):
            args = [graph.constants[i] if i in graph.constants else env[i] for i in node.inputs]
            results = run_node(graph, node, args)
            del args
            for name, value in zip(node.outputs, results):
                env[name] = value
                if on_value is not None:
                    on_value(name, value)
            del results
            for name in last_use.get(step, ()):
                if name not in keep:
                    env.pop(name, None)
    return {o: graph.constants[o] if o in graph.constants else env[o] for o in graph.outputs}


def check_feeds(graph: Graph, feeds: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The feeds as arrays, after checking names, shapes and dtypes against the graph's inputs."""
    if not isinstance(feeds, Mapping):
        raise InputError(f"inputs must be a dict from input name to array, got {type(feeds).__name__}; "
                         f"the model's inputs are {_describe_inputs(graph)}")
    unknown = [k for k in feeds if k not in graph.inputs]
    if unknown:
        raise InputError(f"unknown input {unknown[0]!r}: the model's inputs are {_describe_inputs(graph)}")
    missing = [k for k in graph.inputs if k not in feeds]
    if missing:
        raise InputError(f"missing input {missing[0]!r}: the model's inputs are {_describe_inputs(graph)}")
    arrays = {}
    for name in graph.inputs:
        want = graph.types[name]
        value = feeds[name]
        if isinstance(value, np.generic):  # a numpy scalar for a rank-0 input
            value = np.asarray(value)
        if not isinstance(value, np.ndarray):
            raise InputError(f"input {name!r} must be a numpy array of {_type_text(want)}, "
                             f"got {type(value).__name__}")
        if value.dtype != want.dtype.np:
            raise InputError(f"input {name!r} has dtype {value.dtype}, expected {want.dtype.np} "
                             f"(shape {want.shape}): convert it with .astype(np.{want.dtype.np})")
        if tuple(value.shape) != want.shape:
            raise InputError(f"input {name!r} has shape {tuple(value.shape)}, expected {want.shape} "
                             f"({want.dtype.np})")
        arrays[name] = value
    return arrays


def _describe_inputs(graph: Graph) -> str:
    return ", ".join(f"{i!r} {_type_text(graph.types[i])}" for i in graph.inputs) or "(none)"


def _type_text(t: TensorType) -> str:
    return f"{t.dtype.np}{list(t.shape)}"


def _last_uses(graph: Graph) -> dict[int, list[str]]:
    """Node index -> the non-constant values whose last consumer is that node."""
    last: dict[str, int] = {}
    for step, node in enumerate(graph.nodes):
        for i in node.inputs:
            if i not in graph.constants:
                last[i] = step
        for o in node.outputs:  # an output nobody reads dies where it is born
            last.setdefault(o, step)
    by_step: dict[int, list[str]] = {}
    for name, step in last.items():
        by_step.setdefault(step, []).append(name)
    return by_step


def _run_node(graph: Graph, node: Node, args: list[np.ndarray]) -> tuple[np.ndarray, ...]:
    return call_kernel(graph, node, args, float_kernel(node, args))


def float_kernel(node: Node, args: list[np.ndarray]):
    op_type = type(node.op)
    kernel = KERNELS.get(op_type)
    accepts = ACCEPTS.get(op_type)
    if kernel is None or (args and accepts is not None and args[0].dtype not in accepts):
        dtypes = ", ".join(str(a.dtype) for a in args)
        why = "no kernel" if kernel is None else f"no kernel for input dtype {args[0].dtype}"
        raise MissingKernelError(f"node {node.name!r}: the float reference interpreter has {why} for "
                                 f"{node.kind} (inputs {dtypes}); keep this op out of the float graph "
                                 f"or add a kernel to qcomp/ref")
    return kernel


def call_kernel(graph: Graph, node: Node, args: list[np.ndarray], kernel) -> tuple[np.ndarray, ...]:
    """Run one kernel; check that its results have the shapes and dtypes the graph declares."""
    try:
        result = kernel(node.op, *args)
    except QcompError as e:
        raise type(e)(f"node {node.name!r} ({node.kind}): {e}") from e
    # ufuncs of rank-0 arrays give numpy scalars: every value is an ndarray
    results = tuple(np.asarray(r) for r in (result if isinstance(result, (list, tuple)) else (result,)))
    if len(results) != len(node.outputs):
        raise RuntimeError(f"qcomp bug: the {node.kind} kernel made {len(results)} outputs for node "
                           f"{node.name!r}, which has {len(node.outputs)}")
    for name, value in zip(node.outputs, results):
        want = graph.types[name]
        if value.shape != want.shape or value.dtype != want.dtype.np:
            raise RuntimeError(f"qcomp bug: the {node.kind} kernel made {value.dtype}{list(value.shape)} "
                               f"for {name!r} of node {node.name!r}, which is typed {want}")
    return results
