"""Integer Softmax (QSoftmax) in LLVM IR: qcomp/fixedpoint/softmax.py transcribed line for line,
with the same names, as internal always-inline functions (created once per module).

    srdhm(a, b)                  = (a * b + 2^30) >> 31 on i64 products; a = b = INT32_MIN -> INT32_MAX
    rounding_divide_by_pot(x, e) = (x >> e) + ((x & mask) > (mask >> 1) + (x < 0)),  mask = 2^e - 1   (i64)
    exp_on_negative_values(a)    Q5.26 -> Q0.31: the Taylor polynomial on [-1/4, 0), then one select
                                 per barrel-shifter bit (branch-free, as the spec)
    one_over_one_plus_x_for_x_in_0_1, get_reciprocal (llvm.ctlz.i32 for count-leading-zeros)
    per row: max; sum of rounding_divide_by_pot(exp, 12) over diff >= diff_min (Q12.19, < 2^31 for
    at most 4095 elements); out = clamp(rounding_divide_by_pot(srdhm(recip, exp), n + 23) - 128)
Every value is i32 where the spec's is int32 (adds wrap nowhere: the spec checks each range) and
i64 for products and rounding_divide_by_pot. Scalar loops: the rows of a classifier's Softmax are
short, and LLVM vectorizes the exp where it can.
"""
from __future__ import annotations

import math

from llvmlite import ir

from ...ir import Node
from .irgen import I1, I8, I32, I64, PTR, c32, c64, load, loop, store, var

INT32_MIN, INT32_MAX = -(1 << 31), (1 << 31) - 1
_EXP_BARREL = (1672461947, 1302514674, 790015084, 290630308, 39332535, 720401, 242)   # exp(-2^k), k = -2..4


def _srdhm(b: ir.IRBuilder, a, x):
    prod = b.add(b.mul(b.sext(a, I64), b.sext(x, I64)), c64(1 << 30))
    r = b.trunc(b.ashr(prod, c64(31)), I32)
    both_min = b.and_(b.icmp_signed("==", a, c32(INT32_MIN)), b.icmp_signed("==", x, c32(INT32_MIN)))
    return b.select(both_min, c32(INT32_MAX), r)


def _rounding_divide_by_pot(b: ir.IRBuilder, x, exponent):
    """x, exponent i64."""
    mask = b.sub(b.shl(c64(1), exponent), c64(1))
    remainder = b.and_(x, mask)
    threshold = b.add(b.ashr(mask, c64(1)), b.zext(b.icmp_signed("<", x, c64(0)), I64))
    return b.add(b.ashr(x, exponent), b.zext(b.icmp_signed(">", remainder, threshold), I64))


def _saturating_left_shift(b: ir.IRBuilder, x, exponent: int):
    threshold = (1 << (31 - exponent)) - 1
    shifted = b.shl(x, c32(exponent))
    return b.select(b.icmp_signed(">", x, c32(threshold)), c32(INT32_MAX),
                    b.select(b.icmp_signed("<", x, c32(-threshold)), c32(INT32_MIN), shifted))


def _rdbp32(b: ir.IRBuilder, x, exponent: int):
    return b.trunc(_rounding_divide_by_pot(b, b.sext(x, I64), c64(exponent)), I32)


def _define_helpers(mod) -> None:
    """exp_on_negative_values, get_reciprocal (and what they call), created once per module."""
    if mod.has_helper("exp_on_negative_values"):
        return
    f, b = mod.define_helper("exp_on_interval_between_negative_one_quarter_and_0_excl", I32, [I32])
    a, = f.args
    constant_term, constant_1_over_3 = c32(1895147668), c32(715827883)
    x = b.add(a, c32(1 << 28))
    x2 = _srdhm(b, x, x)
    x3 = _srdhm(b, x2, x)
    x4 = _srdhm(b, x2, x2)
    x4_over_4 = _rdbp32(b, x4, 2)
    poly = b.add(_srdhm(b, b.add(x4_over_4, x3), constant_1_over_3), x2)
    x4_over_24_plus_x3_over_6_plus_x2_over_2 = _rdbp32(b, poly, 1)
    b.ret(b.add(constant_term, _srdhm(b, constant_term, b.add(x, x4_over_24_plus_x3_over_6_plus_x2_over_2))))

    f, b = mod.define_helper("exp_on_negative_values", I32, [I32])
    a, = f.args
    frac_bits = 26
    one_quarter = 1 << (frac_bits - 2)
    a_mod_quarter_minus_one_quarter = b.sub(b.and_(a, c32(one_quarter - 1)), c32(one_quarter))
    result = b.call(mod.helper("exp_on_interval_between_negative_one_quarter_and_0_excl"),
                    [_saturating_left_shift(b, a_mod_quarter_minus_one_quarter, 5)])
    remainder = b.sub(a_mod_quarter_minus_one_quarter, a)
    for k, multiplier in enumerate(_EXP_BARREL):
        bit = b.trunc(b.lshr(remainder, c32(frac_bits - 2 + k)), I1)
        result = b.select(bit, _srdhm(b, result, c32(multiplier)), result)
    b.ret(b.select(b.icmp_signed("==", a, c32(0)), c32(INT32_MAX), result))

    f, b = mod.define_helper("one_over_one_plus_x_for_x_in_0_1", I32, [I32])
    a, = f.args
    total = b.add(b.sext(a, I64), c64(INT32_MAX))
    half_denominator = b.trunc(b.ashr(b.add(total, c64(1)), c64(1)), I32)
    x = b.add(c32(1515870810), _srdhm(b, half_denominator, c32(-1010580540)))
    for _ in range(3):
        half_denominator_times_x = _srdhm(b, half_denominator, x)
        one_minus_half_denominator_times_x = b.sub(c32(1 << 29), half_denominator_times_x)
        x = b.add(x, _saturating_left_shift(b, _srdhm(b, x, one_minus_half_denominator_times_x), 2))
    b.ret(_saturating_left_shift(b, x, 1))

    ctlz = mod.intrinsic("llvm.ctlz.i32", I32, [I32, I1])
    f, b = mod.define_helper("get_reciprocal", I32, [I32, I32, PTR])   # (x, x_integer_digits, &n)
    x, x_integer_digits, num_bits_over_unit = f.args
    clz = b.call(ctlz, [x, ir.Constant(I1, 1)])        # x >= 1: never the undefined zero case
    shifted_sum_minus_one = b.and_(b.shl(x, clz), c32(INT32_MAX))   # bit 31 is set: minus 2^31
    b.store(b.sub(x_integer_digits, clz), num_bits_over_unit)
    b.ret(b.call(mod.helper("one_over_one_plus_x_for_x_in_0_1"), [shifted_sum_minus_one]))


def emit_softmax(node: Node, k) -> None:
    """QSoftmax: rows of `depth` elements `inner` apart (NHWC contiguous), three passes per row."""
    b, op = k.b, k.node.op
    _define_helpers(k.mod)
    shape = k.graph.types[node.inputs[0]].shape
    outer, depth, inner = math.prod(shape[:op.axis]), shape[op.axis], math.prod(shape[op.axis + 1:])
    x, y = k.ins[0], k.outs[0]
    row_max, sum_of_exps, n_slot = var(b, I32, c32(-128), "max"), var(b, I32, c32(0), "sum"), var(b, I32, c32(0), "n")

    def element(base, c):
        return b.add(base, b.mul(c, c64(inner)))

    def diff_and_exp(base, c, max_value):
        diff = b.sub(b.sext(load(b, x, element(base, c), I8), I32), max_value)
        kept = b.icmp_signed(">=", diff, c32(op.diff_min))
        safe = b.select(kept, diff, c32(0))            # skipped elements never reach the arithmetic
        a = _srdhm(b, b.shl(safe, c32(op.input_left_shift)), c32(op.input_multiplier))
        return kept, b.call(k.mod.helper("exp_on_negative_values"), [a])

    with loop(b, outer, "o") as o:
        with loop(b, inner, "r") as i:
            base = b.add(b.mul(o, c64(depth * inner)), i)
            b.store(c32(-128), row_max)
            with loop(b, depth, "cmax") as c:
                v = b.sext(load(b, x, element(base, c), I8), I32)
                m = b.load(row_max, typ=I32)
                b.store(b.select(b.icmp_signed(">", v, m), v, m), row_max)
            max_value = b.load(row_max, typ=I32)
            b.store(c32(0), sum_of_exps)
            with loop(b, depth, "csum") as c:
                kept, e = diff_and_exp(base, c, max_value)
                term = b.select(kept, _rdbp32(b, e, 12), c32(0))
                b.store(b.add(b.load(sum_of_exps, typ=I32), term), sum_of_exps)
            recip = b.call(k.mod.helper("get_reciprocal"), [b.load(sum_of_exps, typ=I32), c32(12), n_slot])
            exponent = b.sext(b.add(b.load(n_slot, typ=I32), c32(31 - 8)), I64)
            with loop(b, depth, "cout") as c:
                kept, e = diff_and_exp(base, c, max_value)
                out = b.sub(_rounding_divide_by_pot(b, b.sext(_srdhm(b, recip, e), I64), exponent), c64(128))
                out = b.select(b.icmp_signed("<", out, c64(-128)), c64(-128), out)
                out = b.select(b.icmp_signed(">", out, c64(127)), c64(127), out)
                store(b, b.trunc(b.select(kept, out, c64(-128)), I8), y, element(base, c), I8)
