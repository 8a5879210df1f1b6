"""Float <-> integer at the model boundary: quantize, dequantize and --quant dynamic's parameters.

  quantize    = clamp(rint(x / scale) + zero_point, qmin, qmax)     float32, ties to even
  dequantize  = (q - zero_point) * scale                            float32
Each step is one IEEE float32 operation, so every backend reproduces it bit for bit.
"""
from __future__ import annotations

import numpy as np

from .core import INT32_MAX, INT32_MIN, FixedPointError, _check_range, _ints, _scalar_or_array, out_dtype_for

def quantize(x, scale, zero_point, qmin: int = -128, qmax: int = 127, out_dtype=None):
    """clamp(rint(x / scale) + zero_point, qmin, qmax): float -> int8 at the model's inputs.

    x is converted to float32 first; x / scale is one IEEE float32 division (correctly rounded),
    rint rounds half to even (default rounding mode). The addition of zero_point and the clamp
    are exact integer operations: the code clamps rint(x / scale) to [qmin - zp, qmax - zp] and
    adds zp, which equals clamp(rint(x / scale) + zp) without a float rounding of the sum.
    scale: float32, finite, >= 0 (broadcasts against x). scale == 0 (an all-zero tensor) maps every
    x to clamp(zero_point): no division happens. +-inf saturate to qmax / qmin. NaN has no integer
    encoding and raises FixedPointError: callers (the runtime's input check) reject NaN first.
    Hardware: VDIVPS + VCVTPS2DQ (x86, MXCSR round-to-nearest-even) / FDIV + FCVTNS (AArch64) /
    __fdiv_rn + __float2int_rn (CUDA), rintf in C. No reciprocal multiply: x * (1/scale) differs.
    """
    dt = out_dtype_for(qmin, qmax, out_dtype)
    x = np.asarray(x, dtype=np.float32)
    scale = np.asarray(scale, dtype=np.float32)
    if not np.all(np.isfinite(scale)) or np.any(scale < 0):
        raise FixedPointError(f"quantize: scale must be finite and >= 0, got {scale.ravel()[:4]}")
    zero_point = _ints(zero_point, "zero_point")
    _check_range(zero_point, INT32_MIN, INT32_MAX, "zero_point")
    nan = np.isnan(x)
    if nan.any():
        raise FixedPointError(f"quantize: input has {int(nan.sum())} NaN value(s), which have no "
                              "int8 encoding; reject or replace NaN before quantizing")
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        r = np.rint(x / np.where(scale == 0, np.float32(1), scale))
    r = np.where(scale == 0, np.float32(0), r).astype(np.float64)   # float32 -> float64: exact
    r = np.clip(r, qmin - zero_point, qmax - zero_point)            # int32 bounds exact in float64
    return _scalar_or_array((r.astype(np.int64) + zero_point).astype(dt))


def dequantize(q, scale, zero_point):
    """(q - zero_point) * scale in float32: int8 -> float at the model's outputs.

    q - zero_point is exact (int64), converted to float32 (exact for |q - zp| < 2^24, always for
    int8/int16), then one float32 multiply (correctly rounded). Per-channel scales broadcast.
    Hardware: VPSUBD + VCVTDQ2PS + VMULPS (x86) / SCVTF + FMUL (AArch64) / __int2float_rn + __fmul_rn.
    """
    q, zero_point = _ints(q, "q"), _ints(zero_point, "zero_point")
    scale = np.asarray(scale, dtype=np.float32)
    return _scalar_or_array((q - zero_point).astype(np.float32) * scale)


def dynamic_quant_params(x) -> tuple[np.float32, int]:
    """Per-run int8 quant params of a float32 tensor (--quant dynamic): onnxruntime's
    DynamicQuantizeLinear moved to int8 (zero point - 128), every step one float32 rounding:

      lo = min(min(x), 0),  hi = max(max(x), 0)                  exact
      scale = (hi - lo) / 255                                     float32 subtract, float32 divide
      zero_point = clamp(rint(-128 - lo / scale), -128, 127)      float32 divide and subtract, ties to even
    An all-zero x gives scale 0 and zero point 0 (quantize maps everything to 0). NaN raises.
    Hardware: a min/max reduction, then scalar float32 ops (any IEEE float32 unit).
    """
    x = np.asarray(x, dtype=np.float32)
    if np.isnan(x).any():
        raise FixedPointError("dynamic_quant_params: input has NaN values")
    lo = min(np.float32(x.min(initial=0)), np.float32(0))
    hi = max(np.float32(x.max(initial=0)), np.float32(0))
    with np.errstate(over="ignore"):
        scale = np.float32(np.float32(hi - lo) / np.float32(255))
    if not np.isfinite(scale):
        raise FixedPointError("dynamic_quant_params: the input's range overflows float32")
    if scale == 0:
        return np.float32(0), 0
    zero_point = np.rint(np.float32(-128) - np.float32(lo / scale))
    return scale, int(np.clip(zero_point, -128, 127))


def dynamic_quant_params_rows(x) -> tuple[np.ndarray, np.ndarray]:
    """Per-row int8 quant params of a float32 tensor (--quant dynamic --dynamic-granularity row): for
    each row x[r, :] of x viewed as [rows, K] (K its last axis), dynamic_quant_params(x[r, :]), the
    same float32 operations on that row's min and max alone. Returns (scale float32[rows], zero_point
    int64[rows]); each row is then quantized with its own pair (quantize(x[r, :], scale[r], zp[r])).
    onnxruntime's and TFLite's per-row (per-axis) dynamic quantization of an activation. NaN raises.
    Hardware: a min/max reduction per row, then scalar float32 ops per row."""
    x = np.asarray(x, dtype=np.float32)
    rows = x.reshape(-1, x.shape[-1]) if x.ndim else x.reshape(1, 1)
    params = [dynamic_quant_params(row) for row in rows]
    return (np.asarray([s for s, _ in params], np.float32).reshape(-1),
            np.asarray([z for _, z in params], np.int64).reshape(-1))

