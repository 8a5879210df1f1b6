"""run_passes: any exception inside a pass is a PassError naming the pass, the passes before it
and the node being processed (each_node); deliberate user-facing errors pass through unchanged.
quantize, quantize_weights and lower_integer run through it (builder, artifact.load)."""
from __future__ import annotations

import numpy as np
import pytest

from qcomp.builder import BuildOptions, quantize_model
from qcomp.errors import QcompError, UnsupportedModelError
from qcomp.ir import Graph, IRError, ops
from qcomp.passes import PassError, run_passes
from qcomp.passes import lower_integer as lower_integer_module
from qcomp.passes import quantize_weights as quantize_weights_module
from qcomp.passes.lower_integer import lower_integer
from qcomp.passes.pipeline import each_node

from .helpers import conv_bn_graph, quantized_weighted_graph


def _identity(g: Graph) -> Graph:
    return g


def _fails_at(kind: str, exc: Exception):
    def broken(g: Graph) -> Graph:
        for n in each_node(g.nodes):
            if n.kind == kind:
                raise exc
        return g
    return broken


def test_an_exception_in_a_node_loop_names_pass_history_and_node(rng):
    g = conv_bn_graph(rng)
    with pytest.raises(PassError) as e:
        run_passes(g, (_identity, _fails_at("BatchNorm", ZeroDivisionError("division by zero"))),
                   before=("fold_constants",))
    assert str(e.value) == ("pass broken (after fold_constants, _identity) failed at node 'bn' (BatchNorm): "
                            "ZeroDivisionError: division by zero")
    assert isinstance(e.value.__cause__, ZeroDivisionError)


@pytest.mark.parametrize("exc", [ValueError("bad shape"), KeyError("w"), FloatingPointError("overflow"),
                                 IRError("dangling value")])
def test_every_kind_of_failure_becomes_a_pass_error(rng, exc):
    with pytest.raises(PassError, match=r"pass broken \(first pass\) failed at node 'conv' \(Conv2D\)"):
        run_passes(conv_bn_graph(rng), (_fails_at("Conv2D", exc),))


def test_a_failure_outside_any_node_loop_names_no_node(rng):
    def after_the_loop(g: Graph) -> Graph:
        for _ in each_node(g.nodes):
            pass
        return {}["missing"]
    with pytest.raises(PassError) as e:
        run_passes(conv_bn_graph(rng), (after_the_loop,))
    assert str(e.value) == "pass after_the_loop (first pass) failed: KeyError: 'missing'"


def test_the_node_of_an_earlier_pass_is_not_blamed(rng):
    """A pass that left its node loop early must not leak its node into the next pass's error."""
    def breaks_early(g: Graph) -> Graph:
        for _ in each_node(g.nodes):
            break
        return g

    def fails(g: Graph) -> Graph:
        raise ValueError("no node involved")
    with pytest.raises(PassError) as e:
        run_passes(conv_bn_graph(rng), (breaks_early, fails))
    assert str(e.value) == "pass fails (after breaks_early) failed: ValueError: no node involved"


def test_user_facing_errors_pass_through_unchanged(rng):
    err = UnsupportedModelError("node 'conv': its accumulator could overflow; use --skip conv")

    def refuses(g: Graph) -> Graph:
        for _ in each_node(g.nodes):
            raise err
        return g
    with pytest.raises(UnsupportedModelError) as e:
        run_passes(conv_bn_graph(rng), (refuses,))
    assert e.value is err


def test_lower_integer_failure_names_the_node(monkeypatch):
    """A bug in one lowering rule: the error names lower_integer and the node, not a numpy traceback."""
    q = quantized_weighted_graph(ops.Conv2D(), (1, 3, 3, 2), np.ones((3, 1, 1, 2)), np.zeros(3), 0.5, 3,
                                 [0.25, 0.0625, 0.1875], 0.125, -10)

    def broken_rule(g, out, n):
        return int(n.name + "x")
    monkeypatch.setitem(lower_integer_module._LOWER, ops.Conv2D, broken_rule)
    with pytest.raises(PassError, match=r"pass lower_integer \(after quantize\) failed at node 'layer' "
                                        r"\(Conv2D\): ValueError: invalid literal"):
        run_passes(q, (lower_integer,), before=("quantize",))


def test_quantize_weights_runs_as_a_pass_of_the_build(monkeypatch, rng):
    """builder.quantize_model (--quant weight): a failure inside quantize_weights names the float
    passes before it and the node."""
    g = conv_bn_graph(rng)

    def broken(*args, **kwargs):
        raise KeyError("scale")
    monkeypatch.setattr(quantize_weights_module, "_int8_weights", broken)
    with pytest.raises(PassError) as e:
        quantize_model(g, BuildOptions(quant="weight"))
    from qcomp.builder import FLOAT_PASS_NAMES
    assert FLOAT_PASS_NAMES[:2] == ("fold_constants", "fuse_layer_norm") and FLOAT_PASS_NAMES[-1] == "eliminate_dead_code"
    assert str(e.value) == (f"pass quantize_weights (after {', '.join(FLOAT_PASS_NAMES)}) "
                            "failed at node 'conv' (Conv2D): KeyError: 'scale'")


def test_quantize_model_output_is_unchanged_by_the_pipeline(rng):
    """The pipeline only wraps the pass: --quant weight gives the same graph as calling it directly."""
    from qcomp.builder import FLOAT_PASSES
    from qcomp.ir import format_graph
    from qcomp.passes.quantize_weights import quantize_weights
    g = conv_bn_graph(rng)
    q, _ = quantize_model(g, BuildOptions(quant="weight"))
    assert format_graph(q) == format_graph(quantize_weights(run_passes(g, FLOAT_PASSES)))
    with pytest.raises(QcompError, match="--skip names no node"):
        quantize_model(g, BuildOptions(quant="weight", skip=("nope",)))
