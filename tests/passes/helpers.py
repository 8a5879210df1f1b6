"""Small graph builders shared by the pass tests."""
import numpy as np

from qcomp.ir import DType, Graph, TensorType, format_graph, ops

F = DType.FLOAT32


def conv_bn_graph(rng, *, bn_parents_used_twice=False, channels=5) -> Graph:
    g = Graph(name="convbn")
    g.add_input("x", TensorType((1, 9, 7, 3), F))
    w = g.add_constant("w", rng.standard_normal((channels, 3, 3, 3)).astype(np.float32))
    b = g.add_constant("b", rng.standard_normal(channels).astype(np.float32))
    g.add_node(ops.Conv2D(pads=(1, 1, 1, 1)), ["x", w, b], "conv")
    params = [g.add_constant(n, v.astype(np.float32)) for n, v in (
        ("gamma", rng.uniform(0.5, 2, channels)), ("beta", rng.standard_normal(channels)),
        ("mean", rng.standard_normal(channels)), ("var", rng.uniform(0.1, 3, channels)))]
    g.add_node(ops.BatchNorm(epsilon=1e-3), ["conv", *params], "bn")
    g.add_node(ops.Relu(), ["bn"], "relu")
    g.outputs = ["relu"]
    if bn_parents_used_twice:
        g.add_node(ops.Sigmoid(), ["conv"], "side")
        g.outputs.append("side")
    return g


def body(g: Graph) -> list[str]:
    """The node lines of the printed graph (no inputs, constants or outputs)."""
    return [line.strip() for line in format_graph(g, constants=False).splitlines()[1:]
            if not line.strip().startswith(("input", "output"))]
