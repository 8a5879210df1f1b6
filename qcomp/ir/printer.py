"""Text form of a graph, used by `qcomp inspect` and by tests that compare graphs.

    graph "model" FLOAT
      input  %x: f32[1x28x28x1]
      const  %w: f32[8x3x3x1]
      %conv = Conv2D(%x, %w, %b) {strides=(1, 1), pads=(1, 1, 1, 1), ...} : f32[1x28x28x8]   # "conv"
      output %conv

A TARGET graph with a memory plan (plan_memory) ends with it: the workspace, then each workspace
value's byte range and steps alive, then each view and the value whose bytes it shares:

      memory workspace=1536 activation=3072 align=64
        %conv @0 +1024 steps 0..2
        %flat view of %conv
"""
from __future__ import annotations

import numpy as np

from .graph import Graph, Node
from .memory import ALIGN, lifetimes


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
    if g.memory is not None:
        lines += _memory(g)
    return "\n".join(lines)


def _memory(g: Graph) -> list[str]:
    plan = g.memory
    live = lifetimes(g, plan.aliases)
    lines = [f"  memory workspace={plan.workspace_bytes} activation={plan.activation_bytes} align={ALIGN}"]
    for v in sorted(plan.offsets, key=lambda v: (plan.offsets[v], live.get(v, (0, 0)), v)):
        first, last = live.get(v, ("?", "?"))
        lines.append(f"    %{v} @{plan.offsets[v]} +{plan.sizes[v]} steps {first}..{last}")
    order = {o: i for i, o in enumerate(o for n in g.nodes for o in n.outputs)}
    for v in sorted(plan.aliases, key=lambda v: (order.get(v, -1), v)):   # in execution order
        at = plan.offset_in_storage(v)
        rows = plan.view_rows.get(v)   # a strided Concat slice: rows of w bytes, stride apart
        lines.append(f"    %{v} view of %{plan.aliases[v]}" + (f" @+{at}" if at else "")
                     + (f" rows {rows[0]}/{rows[1]}" if rows else ""))
    return lines


def _preview(arr: np.ndarray) -> str:
    if arr.size <= 8:
        return " = " + np.array2string(arr.reshape(-1), precision=4, separator=",")
    return ""
