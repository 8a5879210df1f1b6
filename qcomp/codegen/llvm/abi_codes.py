"""The model's own integer codes at the llvm artifact's ABI (runtime/qcomp.h version 3).

    qcomp_input_model_info(i, info) / qcomp_output_model_info(i, info): a constant table of
      qcomp_model_tensor_info {i32 dtype, i32 has_codes, float scale, i32 zero_point} (16 bytes, no
      padding), from qcomp.ir.io_codes
    under QCOMP_MODEL_CODES (abi.py's qcomp_run_ex): each Quantize reading a codes input becomes
      y[i] = x[i] ^ mask and the Dequantize writing a codes output becomes y[i] = c[i] ^ mask
      (mask 0x80 for uint8, 0 for int8: a plain copy), one byte per element, integer only
"""
from __future__ import annotations

from llvmlite import ir

from ... import abi
from ...ir import DType, Graph
from ...ir.io_codes import ModelTensor, model_inputs, model_outputs
from .irgen import F32, I32, I64, PTR, Module, c32, c64, loop, memcpy

I8 = ir.IntType(8)
MODEL_INFO = ir.LiteralStructType([I32, I32, F32, I32])
MODEL_INFO_BYTES = 16
_DTYPES = {t: abi.DTYPE_OF_NUMPY[t.np].value for t in (DType.FLOAT32, DType.INT8, DType.UINT8, DType.INT32,
                                                       DType.INT64, DType.BOOL, DType.INT16)}


def _row(m: ModelTensor) -> ir.Constant:
    return ir.Constant(MODEL_INFO, [c32(_DTYPES[m.dtype]), c32(int(m.has_codes)), ir.Constant(F32, m.scale),
                                    c32(m.zero_point)])


def _table_fn(mod: Module, name: str, rows: list[ModelTensor], ok: int, err_null: int, err_index: int) -> None:
    table = ir.GlobalVariable(mod.m, ir.ArrayType(MODEL_INFO, max(len(rows), 1)), f"{name}.table")
    table.initializer = ir.Constant(table.value_type, [_row(m) for m in rows] or [ir.Constant(MODEL_INFO, None)])
    table.global_constant, table.linkage = True, "internal"
    f, b = mod.function(name, I32, [I32, PTR], internal=False)
    index, info = f.args
    with b.if_then(b.icmp_unsigned("==", info, ir.Constant(PTR, None)), likely=False):
        b.ret(c32(err_null))
    with b.if_then(b.icmp_unsigned(">=", index, c32(len(rows))), likely=False):
        b.ret(c32(err_index))
    memcpy(mod, b, info, b.gep(table, [c64(0), b.zext(index, I64)], source_etype=table.value_type),
           MODEL_INFO_BYTES)
    b.ret(c32(ok))


def emit_model_info(mod: Module, g: Graph, ok: int, err_null: int, err_index: int) -> None:
    _table_fn(mod, "qcomp_input_model_info", model_inputs(g), ok, err_null, err_index)
    _table_fn(mod, "qcomp_output_model_info", model_outputs(g), ok, err_null, err_index)


def xor_copy(mod: Module, b: ir.IRBuilder, dst, src, n: int, mask: int) -> None:
    """dst[i] = src[i] ^ mask for i < n bytes (a memcpy for mask 0)."""
    if mask == 0:
        memcpy(mod, b, dst, src, n)
        return
    with loop(b, n, "codes") as i:
        byte = b.load(b.gep(src, [i], source_etype=I8), typ=I8)
        b.store(b.xor(byte, ir.Constant(I8, mask)), b.gep(dst, [i], source_etype=I8))
