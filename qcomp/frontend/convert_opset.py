"""Models of opsets 7 to 10, converted to opset 11 on import with onnx's version converter.

qcomp's converters are written for opsets 11 to 21 (load.MIN_OPSET..MAX_OPSET). An older model
(opset 7 to 10: Upsample, Scan-8, the attribute forms of Pad / Slice / Dropout ...) is first
rewritten by `onnx.version_converter.convert_version(model, 11)`, which applies the adapters the
ONNX project maintains for every op change between two opsets; the importer then sees an opset-11
model. One note line on stderr says so, and `graph.meta["converted_from_opset"]` records it.

The converter is C++ code that runs shape inference and asserts on what it cannot handle; on a
malformed model an assertion can abort the whole process (as onnx.shape_inference can), so it runs
in a forked child: a child that dies is reported as a ModelLoadError, never a crash of qcomp. When
the converter refuses the model, each node is converted alone to find the one it cannot convert,
and the error names that node, its op and the converter's reason.
"""
from __future__ import annotations

import multiprocessing
import re
import sys

import onnx
from onnx import helper

from ..errors import ModelLoadError

CONVERTIBLE_FROM = 7      # the oldest opset qcomp converts (onnx's adapters go back further, untested here)
TARGET_OPSET = 11         # load.MIN_OPSET: the smallest step, the fewest adapters
_TIMEOUT_S = 120


def _child(data: bytes, target: int, conn) -> None:
    from onnx import version_converter
    try:
        m = onnx.ModelProto()
        m.ParseFromString(data)
        conn.send(("ok", version_converter.convert_version(m, target).SerializeToString()))
    except Exception as e:  # noqa: BLE001 - the converter's own exception types vary (RuntimeError, ConvertError)
        conn.send(("error", str(e)))
    finally:
        conn.close()


def _convert_isolated(model: onnx.ModelProto, target: int) -> tuple[str, bytes | str]:
    """("ok", converted bytes) or ("error", message); the converter runs in a forked child (in this
    process where the platform cannot fork)."""
    if "fork" not in multiprocessing.get_all_start_methods():
        from onnx import version_converter
        try:
            return "ok", version_converter.convert_version(model, target).SerializeToString()
        except Exception as e:  # noqa: BLE001 - the converter's own exception types vary
            return "error", str(e)
    ctx = multiprocessing.get_context("fork")
    parent, child = ctx.Pipe(duplex=False)
    p = ctx.Process(target=_child, args=(model.SerializeToString(), target, child), daemon=True)
    p.start()
    child.close()
    try:
        if parent.poll(_TIMEOUT_S):
            return parent.recv()
        return "error", f"the converter did not finish within {_TIMEOUT_S} s"
    except EOFError:
        p.join()
        return "error", f"the converter crashed (exit status {p.exitcode}) on this model"
    finally:
        parent.close()
        p.join(5)
        if p.is_alive():
            p.kill()
            p.join()


def _reason(message: str) -> str:
    """The converter's message without its source location and assertion text."""
    text = re.sub(r"^\S+\.(cc|h):\d+: [\w:]+: Assertion `[^`]*` failed: ", "", message.strip())
    text = text.replace("%s", "").replace("%lld", "")
    return text.splitlines()[0][:300] if text else "no reason given"


def _one_node(model: onnx.ModelProto, node: onnx.NodeProto) -> onnx.ModelProto:
    g = model.graph
    known = {v.name: v for v in list(g.input) + list(g.value_info) + list(g.output)}
    inits = [t for t in g.initializer if t.name in node.input]
    names = {t.name for t in inits}
    inputs = [known.get(i) or helper.make_tensor_value_info(i, onnx.TensorProto.FLOAT, None)
              for i in node.input if i and i not in names]
    outputs = [helper.make_tensor_value_info(o, onnx.TensorProto.UNDEFINED, None) for o in node.output if o]
    one = helper.make_graph([node], "one", inputs, outputs, inits)
    return helper.make_model(one, opset_imports=list(model.opset_import), ir_version=model.ir_version)


def _culprit(model: onnx.ModelProto, source: str, opset: int, message: str) -> str:
    for k, node in enumerate(model.graph.node):
        status, result = _convert_isolated(_one_node(model, node), TARGET_OPSET)
        if status == "error":
            name = node.name or f"#{k}"
            return (f"{source}: node {name!r} ({node.op_type}, opset {opset}) cannot be converted to opset "
                    f"{TARGET_OPSET} by onnx.version_converter: {_reason(result)}. Re-export the model at "
                    f"opset {TARGET_OPSET} or later, or replace this node")
    return (f"{source}: onnx.version_converter cannot convert this opset-{opset} model to opset {TARGET_OPSET}: "
            f"{_reason(message)}. Re-export the model at opset {TARGET_OPSET} or later")


def upgrade(model: onnx.ModelProto, source: str, opset: int) -> onnx.ModelProto:
    """The model converted to TARGET_OPSET (a ModelLoadError naming the node the converter refuses).
    Prints the note line on stderr."""
    status, result = _convert_isolated(model, TARGET_OPSET)
    if status == "error":
        raise ModelLoadError(_culprit(model, source, opset, result))
    converted = onnx.ModelProto()
    converted.ParseFromString(result)
    print(f"qcomp: note: {source} uses opset {opset}; converted to opset {TARGET_OPSET} on import with "
          f"onnx.version_converter", file=sys.stderr)
    return converted
