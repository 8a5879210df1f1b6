"""--quant dynamic --dynamic-granularity row: the reference's per-row parameters, the pass that
emits DynamicDenseRows, and the option's refusals. (The kernels: tests/opcases, dynamic_dense_rows_*.)"""
import numpy as np
import pytest

from qcomp import fixedpoint
from qcomp.builder import BuildOptions
from qcomp.errors import QcompError
from qcomp.ir import DType, Graph, TensorType, ops, verify
from qcomp.passes.lower_integer import lower_integer
from qcomp.passes.quantize_weights import quantize_weights
from qcomp.ref import run_float, run_integer


def test_row_params_are_each_rows_tensor_params():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 5, 7)).astype(np.float32) * np.float32(3)
    x[0, 1] = 0.0                    # scale 0, zero point 0
    x[1, 2] = np.abs(x[1, 2])        # lo = 0: zero point -128
    scale, zp = fixedpoint.dynamic_quant_params_rows(x)
    assert scale.dtype == np.float32 and zp.dtype == np.int64 and scale.shape == zp.shape == (10,)
    for r, row in enumerate(x.reshape(10, 7)):
        assert (scale[r], zp[r]) == fixedpoint.dynamic_quant_params(row)
    assert (scale[1], zp[1]) == (0, 0) and zp[7] == -128 and np.unique(zp).size > 3


def _dense_graph() -> Graph:
    rng = np.random.default_rng(1)
    g = Graph(name="rows")
    g.add_input("x", TensorType((3, 4, 16), DType.FLOAT32))
    g.add_constant("w", (rng.standard_normal((8, 16)) * 0.3).astype(np.float32))
    g.add_constant("b", (rng.standard_normal(8) * 0.1).astype(np.float32))
    g.add_node(ops.Dense(), ["x", "w", "b"], "fc")
    g.outputs = ["fc"]
    return verify(g)


def test_per_row_makes_dynamic_dense_rows_and_helps_rows_of_unequal_range():
    g = _dense_graph()
    tensor, rows = (verify(lower_integer(quantize_weights(g, dynamic=True, per_row=p))) for p in (False, True))
    assert [n.kind for n in tensor.nodes] == ["DynamicDense"] and [n.kind for n in rows.nodes] == ["DynamicDenseRows"]
    x = np.random.default_rng(2).standard_normal((3, 4, 16)).astype(np.float32)
    x[0] *= 100                      # one token 100x larger: per tensor, the others get ~1 int8 step
    want = run_float(g, {"x": x})["fc"]
    err = {name: np.abs(run_integer(q, {"x": x})["fc"] - want)[1:].max() for name, q in (("t", tensor), ("r", rows))}
    assert err["r"] < err["t"] / 10, err


@pytest.mark.parametrize("kwargs,needle", [(dict(dynamic_granularity="row"), "applies to --quant dynamic"),
                                           (dict(quant="dynamic", dynamic_granularity="token"), "choose tensor or row")])
def test_granularity_refusals(kwargs, needle):
    with pytest.raises(QcompError, match=needle):
        BuildOptions(**kwargs).check()


def test_cli_flag_and_config_key(tmp_path):
    from qcomp import api, cli
    args = cli.build_parser().parse_args(["build", "m.onnx", "--quant", "dynamic", "--dynamic-granularity", "row"])
    assert cli._build_options(args).dynamic_granularity == "row"
    config = tmp_path / "quant.toml"
    config.write_text('quant = "dynamic"\ndynamic-granularity = "row"\n')
    assert api.load_config(config)["dynamic_granularity"] == "row"
