"""The ONNX frontend: `import_onnx(model, input_shapes=None) -> Graph` (FLOAT stage).

The only part of qcomp that imports `onnx`. It loads a model (load.py), folds everything known at
import time (fold.py), converts each remaining ONNX node to IR ops (ops_conv.py, ops_math.py,
ops_shape.py) while moving activations from ONNX's NCHW to qcomp's NHWC (layout.py, context.py),
and reports every unsupported node at once (importer.py).
"""
from .importer import SUPPORTED_OPS, import_onnx

__all__ = ["import_onnx", "SUPPORTED_OPS"]
