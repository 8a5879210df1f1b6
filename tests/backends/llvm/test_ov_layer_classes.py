"""benchmarks/ov_layer_classes.py's classes: a qcomp node and an OpenVINO counter of the same ONNX
node land in the same class (stem, dense KxK, 1x1, depthwise by kernel and stride, the rest by
type); nothing is measured here."""
import importlib.util
from pathlib import Path
from types import SimpleNamespace as NS

from qcomp.ir import qops

REPO = Path(__file__).resolve().parents[3]


def _script():
    spec = importlib.util.spec_from_file_location("qcomp_bench_ov_classes", REPO / "benchmarks" / "ov_layer_classes.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _graph():
    """name -> (kind, op, x NHWC shape, w [O, KH, KW, C/g]) as a TARGET graph's nodes and types."""
    layers = {"stem": ("QConv2D", qops.QConv2D(strides=(2, 2)), (1, 224, 224, 3), (32, 3, 3, 3)),
              "c3": ("QConv2D", qops.QConv2D(), (1, 56, 56, 64), (64, 3, 3, 64)),
              "pw": ("QConv2DAdd", qops.QConv2D(), (1, 56, 56, 64), (24, 1, 1, 64)),
              "dw5": ("QConv2D", qops.QConv2D(strides=(2, 2), group=144), (1, 56, 56, 144), (144, 5, 5, 1)),
              "dw3": ("QConv2D", qops.QConv2D(group=32), (1, 112, 112, 32), (32, 3, 3, 1)),
              "grouped": ("QConv2D", qops.QConv2D(group=4), (1, 8, 8, 16), (16, 3, 3, 4)),
              "fc": ("QDense", None, (1, 1280), (1000, 1280)),
              "pool": ("QMaxPool2D", None, (1, 112, 112, 64), None),
              "mean": ("QMean", None, (1, 7, 7, 1280), None),
              "q": ("Quantize", None, (1, 3, 224, 224), None)}
    nodes, types = {}, {}
    for name, (kind, op, x, w) in layers.items():
        types[f"{name}.x"], types[f"{name}.w"] = NS(shape=x), NS(shape=w)
        nodes[name] = NS(name=name, kind=kind, op=op, inputs=[f"{name}.x", f"{name}.w"])
    return nodes, NS(types=types)


def test_each_layer_gets_its_class_in_both_engines():
    s = _script()
    nodes, graph = _graph()
    want = {"stem": "stem conv", "c3": "KxK conv", "pw": "1x1 conv", "dw5": "dw 5x5 s2", "dw3": "dw 3x3 s1",
            "grouped": "KxK conv", "fc": "FC", "pool": "pool", "mean": "mean", "q": "quantize / layout"}
    assert {name: s.qcomp_class(name, nodes, graph) for name in nodes} == want
    assert s.qcomp_class("stem/to_nhwc", nodes, graph) == "quantize / layout"
    assert s.qcomp_class("unknown", nodes, graph) == "other"
    for name, node_type in (("dw5/WithoutBiases", "GroupConvolution"), ("c3/WithoutBiases", "Convolution"),
                            ("stem", "Convolution")):
        assert s.ov_class(name, node_type, nodes, graph) == want[name.split("/")[0]]
    ov = {("input/fq_output_0", "Subgraph"): "quantize / layout",
          ("dw3/WithoutBiases_bf16_u8_pw/WithoutBiases", "Reorder"): "quantize / layout",
          ("maxpool_0", "MaxPool"): "pool", ("node_mean", "ReduceMean"): "mean",
          ("gemm_0/WithoutBiases/DequantizationMultiply", "FullyConnectedQuantizedLegacy"): "FC",
          ("add_3", "Eltwise"): "add", ("x", "Softmax"): "other"}
    assert {key: s.ov_class(*key, nodes, graph) for key in ov} == ov
    assert s.ORDER[-1] == "other" and set(want.values()) <= set(s.ORDER)
