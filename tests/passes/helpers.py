"""Small graph builders shared by the pass tests."""
import numpy as np

from qcomp.ir import DType, Graph, QuantParams, Stage, TensorType, format_graph, ops

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


def quant_chain_graph() -> Graph:
    """Conv+Relu -> Add (broadcast input r) -> Sigmoid -> Softmax (integer, output scale 1/256) -> output.
    Weight channel maxima 1.27, 0.635, 0.254, 2.54 give symmetric scales 0.01, 0.005, 0.002, 0.02;
    the bias [0.1, -0.2, 0.05, 0.3] at input scale 0.01 is [1000, -4000, 2500, 1500] in int32."""
    rng = np.random.default_rng(0)
    g = Graph(name="chain")
    g.add_input("x", TensorType((1, 5, 5, 3), F))
    g.add_input("r", TensorType((1, 1, 1, 4), F))
    peak = np.array([1.27, 0.635, 0.254, 2.54], np.float32)
    w = (rng.uniform(-0.9, 0.9, (4, 3, 3, 3)) * peak[:, None, None, None]).astype(np.float32)
    w[:, 1, 1, 0] = peak * np.array([1, -1, 1, -1], np.float32)
    g.add_constant("w", w)
    g.add_constant("b", np.array([0.1, -0.2, 0.05, 0.3], np.float32))
    g.add_node(ops.Conv2D(pads=(1, 1, 1, 1)), ["x", "w", "b"], "conv")
    g.add_node(ops.Relu(), ["conv"], "relu")
    g.add_node(ops.Add(), ["relu", "r"], "add")
    g.add_node(ops.Sigmoid(), ["add"], "sigmoid")
    g.add_node(ops.Softmax(axis=3), ["sigmoid"], "softmax")
    g.outputs = ["softmax"]
    return g


# hand-chosen ranges of quant_chain_graph's float values: each gives a round scale (range / 255)
CHAIN_RANGES = {"x": (-1.28, 1.27), "r": (-0.64, 1.91), "relu": (0.0, 2.55), "add": (-1.0, 4.1),
                "sigmoid": (0.0, 1.0)}


def quantized_weighted_graph(op, x_shape, w: np.ndarray, bias: np.ndarray, s_in: float, zp_in: int,
                             s_w, s_out: float, zp_out: int) -> Graph:
    """A QUANTIZED graph of one weighted op (Conv2D, ConvTranspose2D or Dense) written by hand:
    int8 input (s_in, zp_in) -> op(int8 w per channel s_w, int32 bias at s_in * s_w) -> int8 (s_out, zp_out)."""
    g = Graph(name="weighted", stage=Stage.QUANTIZED)
    g.add_input("x", TensorType(tuple(x_shape), DType.INT8, QuantParams(s_in, zp_in)))
    s_w = np.asarray(s_w, np.float32)
    g.add_constant("w", w.astype(np.int8), QuantParams(s_w, 0, axis=0))
    g.add_constant("b", bias.astype(np.int32), QuantParams((s_in * s_w.astype(np.float64)).astype(np.float32), 0,
                                                           axis=0))
    shape = op.infer([g.types["x"], g.types["w"], g.types["b"]])[0].shape
    g.add_node(op, ["x", "w", "b"], "layer", out_types=[TensorType(shape, DType.INT8, QuantParams(s_out, zp_out))])
    g.outputs = ["layer"]
    return g
