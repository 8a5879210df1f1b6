"""Text form of a graph, used by `qcomp inspect` and by tests that compare graphs.

    graph "model" FLOAT
      input  %x: f32[1x28x28x1]
      const  %w: f32[8x3x3x1]
      %conv = Conv2D(%x, %w, %b) {strides=(1, 1), pads=(1, 1, 1, 1), ...} : f32[1x28x28x8]   # "conv"
      output %conv
"""
from __future__ import annotations

import numpy as np

from .graph import Graph, Node


def _attr(v) -> str:
    if hasattr(v, "attrs") and hasattr(v, "kind"):
        inner = ", ".join(f"{k}={_attr(x)}" for k, x in v.attrs().items() if x is not None)
        return f"{v.kind}({inner})"
    if isinstance(v, float):
        return f"{v:.6g}"
    if hasattr(v, "value") and not isinstance(v, (int, str)):
        return str(v.value)
    return repr(v)


def format_node(g: Graph, n: Node) -> str:
    attrs = ", ".join(f"{k}={_attr(v)}" for k, v in n.op.attrs().items() if v is not None)
    outs = ", ".join(f"%{o}" for o in n.outputs)
    ins = ", ".join(f"%{i}" for i in n.inputs)
    types = ", ".join(str(g.types[o]) for o in n.outputs)
    body = f"{outs} = {n.kind}({ins})" + (f" {{{attrs}}}" if attrs else "") + f" : {types}"
    if n.outputs != (n.name,):
        body += f"   # {n.name!r}"
    return body


def format_graph(g: Graph, constants: bool = True) -> str:
    lines = [f'graph "{g.name}" {g.stage.name}']
    for i in g.inputs:
        lines.append(f"  input  %{i}: {g.types[i]}")
    if constants:
        for c, arr in g.constants.items():
            lines.append(f"  const  %{c}: {g.types[c]}{_preview(arr)}")
    for n in g.nodes:
        lines.append("  " + format_node(g, n))
    for o in g.outputs:
        lines.append(f"  output %{o}: {g.types[o]}")
    return "\n".join(lines)


def _preview(arr: np.ndarray) -> str:
    if arr.size <= 8:
        return " = " + np.array2string(arr.reshape(-1), precision=4, separator=",")
    return ""
