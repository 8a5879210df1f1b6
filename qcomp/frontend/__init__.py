"""The ONNX frontend: `import_onnx(model, input_shapes=None) -> Graph` (FLOAT stage), and the QDQ
export of a QUANTIZED graph, `export_qdq(q) -> onnx.ModelProto`.

The only part of qcomp that imports `onnx`. It loads a model (load.py), folds everything known at
import time (fold.py), converts each remaining ONNX node to IR ops (ops_conv.py, ops_math.py,
ops_math_more.py, ops_shape.py; comparison and logic: ops_logic.py; reductions and index ops:
ops_reduce.py; Instance/GroupNormalization: ops_norm.py; Einsum: ops_einsum.py) while moving activations from ONNX's NCHW to qcomp's NHWC (layout.py, context.py),
and reports every node it cannot import at once, by root cause (importer.py, problems.py).
Malformed files are refused before numpy allocates anything (tensors.py, MAX_TENSOR_BYTES), and
a fold that fails is explained in qcomp's words (fold_errors.py). Pre-quantized models (QDQ, QOperator,
dynamic) import as the float graph they encode plus their own quantization parameters
(ops_quant.py, qlinear_ops.py, dynamic_ops.py; the table is qcomp.ir.prequant). export_qdq.py
writes qcomp's quantization back as QuantizeLinear/DequantizeLinear pairs (`qcomp quantize`).
"""
from .export_qdq import export_qdq, write_qdq
from .importer import SUPPORTED_OPS, import_onnx

__all__ = ["import_onnx", "SUPPORTED_OPS", "export_qdq", "write_qdq"]
