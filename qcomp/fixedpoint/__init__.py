"""The numeric specification of qcomp: every integer result of every backend is defined here.

The C, CUDA and LLVM backends transcribe these functions line for line, with the same names. The
scheme is TFLite's int8 scheme with ONE rounding per rescale (ARCHITECTURE.md section 3):

    real multiplier M > 0  ->  (multiplier m, shift e):  M ~= m * 2^(e - 31),  m in [2^30, 2^31)
    multiply_by_quantized_multiplier(acc, m, e) = (acc * m + 2^(total-1)) >> total,  total = 31 - e
    requantize  = clamp(multiply_by_quantized_multiplier(acc, m, e) + zero_point, qmin, qmax)
    quantize    = clamp(rint(x / scale) + zero_point, qmin, qmax)        float32, ties to even
    dequantize  = (q - zero_point) * scale                               float32

Rounding, once and for all:
- `>> total` after adding 2^(total-1) is round half toward +inf ("round half up"): -2.5 -> -2,
  2.5 -> 3. It is the arithmetic right shift of a two's complement int64 (AArch64 SRSHR/SRSHL
  on 64-bit lanes do exactly this; x86 has VPSRAQ since AVX-512F; CUDA shr.s64).
- quantize_multiplier rounds m half away from zero (std::round, as TFLite's QuantizeMultiplier).
- quantize and build_lut round half to even (np.rint; ONNX QuantizeLinear; CVTPS2DQ / FCVTNS).
There is no second rounding in any requantize: gemmlowp's SQRDMULH + rounding-shift pair (two
roundings) is NOT this scheme, and backends must not use it there. The one place gemmlowp's
fixed-point arithmetic is the rule is inside integer Softmax (softmax.py), which is TFLite's
int8 Softmax bit for bit.

Integers are exact: numpy int64 here, int64_t / i64 in the backends. Every function states the
range of its inputs and why no intermediate can overflow int64 (or int32 where a kernel accumulates
in int32). Values outside the documented ranges raise FixedPointError (a ValueError).

The modules, by topic (import everything from `qcomp.fixedpoint`):
  core         multipliers, multiply_by_quantized_multiplier, requantize, saturate, argument checks
  boundary     quantize / dequantize at the model boundary, --quant dynamic's parameters
  kernels8     int8 Add/Sub (left shift 20), Mul, average pooling and mean (TFLite reference
               integer algorithms, single rounding)
  lut          256-entry int8 lookup tables (build time, float64: bit-exact by construction)
  accumulator  the build-time accumulator bounds (int8: int32 always; int16 x int8: int32 or int64)
  int16        A16W8: int16 symmetric activations, the int64 requantize, int8 <-> int16
               conversions, int16 Add/Mul (left shift 15)
  lut16        513-entry int16 tables with linear interpolation (TFLite's 16x8 LUT)
  softmax      integer Softmax, int8 -> int8 (TFLite's fixed-point exp and reciprocal)
  softmax16    integer Softmax, int16 -> int16 (TFLite's 16x8 rule: exp and 1 / (1 + x) tables)
  layernorm    integer LayerNorm, int8 -> int8 (exact row statistics, integer 1/sqrt)
  layernorm16  integer LayerNorm, int16 -> int16 or int8 (int64 statistics, rows up to 32768)
Status: the IR's A16W8 ops (qcomp/ir/qops16.py) and the reference interpreter
(qcomp/ref/integer_kernels16.py) run the int16 functions; backends implement them op by op.
Softmax (QSoftmax) and LayerNorm (QLayerNorm, tested against tests/fixedpoint/bigint_layernorm.py)
are compiled by every backend.
"""
from .accumulator import (ACC64_LIMIT, accumulator16_bits, accumulator_fits_int32, max_abs_accumulator,
                          max_abs_accumulator16)
from .boundary import dequantize, dynamic_quant_params, quantize
from .boundary import dynamic_quant_params_rows
from .core import (ADD_LEFT_SHIFT, INT32_MAX, INT32_MIN, MAX_SHIFT, MAX_WINDOW_COUNT, MIN_SHIFT,
                   FixedPointError, multiply_by_quantized_multiplier, out_dtype_for, quantize_multiplier,
                   quantize_multipliers, requantize, saturate)
from .int16 import (ADD16_LEFT_SHIFT, INT16_MAX, INT16_MIN, MAX_SHIFT_64, MAX_WINDOW_COUNT16, ConvertParams,
                    accumulator16x16_bits, add_int16, add_params16, avg_int16, convert, convert_params,
                    int16_scale, mean_int16, mul_int16, mul_params16, multiply_by_quantized_multiplier_64,
                    requantize64, requantize_acc, sub_int16, window_multipliers16)
from .kernels8 import (AddParams, AvgPoolParams, MeanParams, MulParams, add_int8, add_params, avg_int8,
                       avgpool_params, mean_int8, mean_params, mul_int8, mul_params, sub_int8)
from .lut import apply_lut, build_lut
from .lut16 import LUT16_SIZE, build_lut16, lut16_lookup
from .softmax import OUTPUT_SCALE as SOFTMAX_OUTPUT_SCALE, OUTPUT_ZERO_POINT as SOFTMAX_OUTPUT_ZERO_POINT
from .softmax import (SOFTMAX_MAX_DEPTH, SoftmaxParams, exp_on_negative_values, get_reciprocal,
                      one_over_one_plus_x_for_x_in_0_1, rounding_divide_by_pot,
                      saturating_rounding_doubling_high_mul, softmax_int8, softmax_params, softmax_refusal)
from .softmax16 import (EXP_AT_ZERO, SOFTMAX16_MAX_DEPTH, Softmax16Params, softmax16_exp_lut, softmax16_params,
                        softmax16_recip_lut, softmax16_refusal, softmax_int16)
from .softmax16 import OUTPUT16_SCALE as SOFTMAX16_OUTPUT_SCALE
from .layernorm import (LayerNormParams, isqrt_u62, layer_norm_int8, layernorm_eps_q, layernorm_params,
                        layernorm_refusal, row_inverse_std)
from .layernorm16 import MAX_ROW16 as LAYERNORM_MAX_ROW16
from .layernorm16 import layer_norm_int16, layernorm16_params, layernorm16_refusal

__all__ = [name for name in dir() if not name.startswith("_")
           and name not in ("accumulator", "boundary", "core", "int16", "kernels8", "lut", "lut16", "softmax", "layernorm")
           and name != "softmax16"]
