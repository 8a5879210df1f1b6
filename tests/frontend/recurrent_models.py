"""Single-node LSTM / GRU / RNN models for the recurrent tests, and onnxruntime's answer for them.

`Spec` describes one node (cell, direction, layout, which optional inputs and outputs, attributes);
`build` writes the model with seeded weights and inputs. onnxruntime runs layout 0 only, so the
expected outputs of a layout-1 node come from the same node at layout 0 on the transposed input
(X [B, T, I] -> [T, B, I]; Y [T, D, B, H] -> [B, T, D, H]; states [D, B, H] -> [B, D, H]).
"""
from __future__ import annotations

import dataclasses

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

GATES = {"RNN": 1, "GRU": 3, "LSTM": 4}
OUTPUTS = ("Y", "Y_h", "Y_c")


@dataclasses.dataclass(frozen=True)
class Spec:
    cell: str
    direction: str = "forward"
    layout: int = 0
    steps: int = 5
    batch: int = 3
    inputs: int = 4
    hidden: int = 6
    bias: bool = True
    initial: str = ""                 # "", "input" (graph inputs) or "const" (initializers)
    lengths: tuple[int, ...] = ()     # sequence_lens, as an initializer
    peephole: bool = False
    outputs: tuple[bool, ...] = (True, True, True)
    attrs: tuple = ()                 # ((name, value), ...)
    opset: int = 14

    @property
    def id(self) -> str:
        parts = [self.cell, self.direction, f"layout{self.layout}", f"op{self.opset}"]
        parts += [self.initial + "_init"] if self.initial else []
        parts += ["lens" + "_".join(map(str, self.lengths))] if self.lengths else []
        parts += ["peephole"] if self.peephole else []
        parts += ["nobias"] if not self.bias else []
        parts += ["out" + "".join("1" if o else "0" for o in self.outputs)] if not all(self.outputs) else []
        parts += [f"{k}={v}" for k, v in self.attrs]
        return "-".join(str(p).replace(" ", "") for p in parts)


def build(s: Spec, layout: int | None = None) -> tuple[onnx.ModelProto, dict[str, np.ndarray]]:
    """The model (at `layout`, default s.layout) and its feeds (X, and the initial states when inputs)."""
    layout = s.layout if layout is None else layout
    rng = np.random.default_rng(7)
    g, d, h = GATES[s.cell], 2 if s.direction == "bidirectional" else 1, s.hidden
    inits = {"W": rng.normal(0, 0.5, (d, g * h, s.inputs)), "R": rng.normal(0, 0.5, (d, g * h, h))}
    ins = ["X", "W", "R", "B" if s.bias else "", "seq" if s.lengths else ""]
    if s.bias:
        inits["B"] = rng.normal(0, 0.5, (d, 2 * g * h))
    x = rng.normal(0, 1, (s.steps, s.batch, s.inputs)).astype(np.float32)
    state = rng.normal(0, 0.5, (d, s.batch, h)).astype(np.float32)
    feeds = {"X": x if layout == 0 else x.transpose(1, 0, 2)}
    state_shape = state.shape if layout == 0 else (s.batch, d, h)
    graph_in = [helper.make_tensor_value_info("X", TensorProto.FLOAT, feeds["X"].shape)]
    for name in (["initial_h", "initial_c"] if s.cell == "LSTM" else ["initial_h"]) if s.initial else []:
        value = state if layout == 0 else state.transpose(1, 0, 2)
        ins.append(name)
        if s.initial == "input":
            feeds[name] = value if name == "initial_h" else value * 2
            graph_in.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, state_shape))
        else:
            inits[name] = value if name == "initial_h" else value * 2
    if s.peephole:
        ins += [""] * (7 - len(ins)) + ["P"]
        inits["P"] = rng.normal(0, 0.5, (d, 3 * h))
    while ins[-1] == "":
        ins.pop()
    outs = [o if want else "" for o, want in zip(OUTPUTS[:3 if s.cell == "LSTM" else 2], s.outputs)]
    while outs and outs[-1] == "":
        outs.pop()
    attrs = {"hidden_size": h, "direction": s.direction, **dict(s.attrs)}
    if s.opset >= 14:
        attrs["layout"] = layout
    node = helper.make_node(s.cell, ins, outs, name="rnn1", **attrs)
    tensors = [numpy_helper.from_array(np.asarray(v, np.float32), k) for k, v in inits.items()]
    if s.lengths:
        tensors.append(numpy_helper.from_array(np.array(s.lengths, np.int32), "seq"))
    graph_out = [helper.make_tensor_value_info(o, TensorProto.FLOAT, None) for o in outs if o]
    m = helper.make_model(helper.make_graph([node], "recurrent", graph_in, graph_out, tensors),
                          opset_imports=[helper.make_opsetid("", s.opset)])
    return m, feeds


def onnxruntime_outputs(s: Spec) -> tuple[onnx.ModelProto, dict[str, np.ndarray], dict[str, np.ndarray]]:
    """(the model at s.layout, its feeds, onnxruntime's outputs) for spec s."""
    import onnxruntime as ort
    m0, feeds0 = build(s, layout=0)
    sess = ort.InferenceSession(m0.SerializeToString(), providers=["CPUExecutionProvider"])
    want = dict(zip([o.name for o in sess.get_outputs()], sess.run(None, feeds0)))
    m, feeds = build(s)
    if s.layout == 1:
        want = {k: v.transpose(2, 0, 1, 3) if k == "Y" else v.transpose(1, 0, 2) for k, v in want.items()}
    return m, feeds, want
