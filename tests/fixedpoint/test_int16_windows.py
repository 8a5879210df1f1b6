"""The int16 pieces of the A16W8 ops beyond the requantize: accumulator widths of int16 x int16
products, pooling / mean multipliers and their range checks."""
import numpy as np
import pytest

from qcomp import fixedpoint
from qcomp.ir import Graph, Stage, TensorType, DType, QuantParams, qops16
from qcomp.ir.serialize import load_graph, save_graph


def test_int16x16_accumulator_width():
    assert fixedpoint.accumulator16x16_bits(1) == 32
    assert fixedpoint.accumulator16x16_bits(2) == 64          # 2 * 2^30 > 2^31 - 1
    assert fixedpoint.accumulator16x16_bits((1 << 17) - 1) == 64
    with pytest.raises(fixedpoint.FixedPointError, match="2\\^47"):
        fixedpoint.accumulator16x16_bits(1 << 17)


def test_window_multipliers16_match_the_int8_rule():
    m16, s16 = fixedpoint.window_multipliers16(0.001, 0.002, 9)
    p8 = fixedpoint.avgpool_params(0.001, 0, 0.002, 0, 9)
    assert (m16, s16) == (p8.multipliers, p8.shifts)
    assert fixedpoint.window_multipliers16(0.001, 0.0, 3) == ((0, 0, 0), (0, 0, 0))
    with pytest.raises(fixedpoint.FixedPointError, match="65535"):
        fixedpoint.window_multipliers16(0.001, 0.002, 65536)


def test_avg_int16_exact_and_clamped():
    m, s = fixedpoint.window_multipliers16(1.0, 1.0, 4)
    sums = np.array([4 * 32767, -4 * 32768, 6, -6, 2])
    got = fixedpoint.avg_int16(sums, np.array([4, 4, 4, 4, 4]), m, s)
    assert got.tolist() == [32767, -32768, 2, -1, 1]          # 1.5 -> 2, -1.5 -> -1: ties toward +inf
    with pytest.raises(fixedpoint.FixedPointError, match="window_sum"):
        fixedpoint.avg_int16(np.array([4 * 32767 + 1]), np.array([4]), m, s)


def test_int16_ops_serialize_and_refuse_bad_types(tmp_path):
    g = Graph(name="g", stage=Stage.TARGET)
    g.add_input("x", TensorType((2, 8), DType.INT16, QuantParams(0.001, 0)))
    op = qops16.QConvert(0, 1 << 30, 0, -3, -128, 127, "i8")
    g.add_node(op, ["x"], "c", outputs=["y"],
               out_types=[TensorType((2, 8), DType.INT8, QuantParams(0.002, -3))])
    g.outputs = ["y"]
    save_graph(g, tmp_path / "g.qir")
    back = load_graph(tmp_path / "g.qir")
    assert back.nodes[0].op == op
    with pytest.raises(Exception, match="zero point 0"):
        qops16.QConvert(5).infer([TensorType((2,), DType.INT16)])
    with pytest.raises(Exception, match="clamp"):
        qops16.QConvert(0, 1, 0, 0, -200, 127, "i8").infer([TensorType((2,), DType.INT16)])
