"""The candidate pre-selection of --accuracy (qcomp/accuracy/proxy.py) and the held-back rule for
large models (qcomp/accuracy/trials.py), on the model with one known bad tensor (bad_tensor.py)."""
import numpy as np
import pytest

import qcomp
from qcomp.accuracy import Trials, choose_precision, measure, proxy
from qcomp.accuracy.kinds import candidates
from qcomp.accuracy.trials import HELD_BACK_MAX, held_back_count
from qcomp.builder import BuildOptions, calibrate_model, quantize_model
from qcomp.errors import QcompError
from qcomp.target import get_target

from bad_tensor import BAD, write_model, write_samples   # tests/accuracy is on sys.path (no __init__.py)


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    d = tmp_path_factory.mktemp("pre")
    model, calib = write_model(d / "bad.onnx"), write_samples(d / "calib.npz", 24, seed=1)
    g = qcomp.load_model(model)
    options = BuildOptions(calib=str(calib))
    calibrated = calibrate_model(g, options)
    q, _ = quantize_model(g, options, calibrated=calibrated)
    x = np.load(calib)["x"]
    samples = [{"x": x[i:i + 1]} for i in range(4)]
    return g, calib, calibrated.graph, q, samples, calibrated


def test_the_proxy_ranks_the_bad_tensor_first_and_is_deterministic(setup):
    _, _, gf, q, samples, _ = setup
    every = candidates(gf, q, {})
    assert BAD in every and len(every) >= 3
    errors = proxy.grid_errors(gf, q, every, samples)
    assert proxy.grid_errors(gf, q, every, samples) == errors
    ranked = proxy.rank(every, errors)
    assert ranked[0] == BAD, errors
    assert all(np.isfinite(e) and e >= 0 for e in errors.values())
    assert errors[BAD] > 2 * max(e for t, e in errors.items() if t != BAD)
    selected, _ = proxy.preselect(gf, q, every, samples, top=2)
    assert len(selected) == 2 and BAD in selected and list(selected) == [t for t in every if t in selected]
    assert proxy.preselect(gf, q, every, samples, top=len(every)) == (every, {})   # no proxy run


def test_fake_quantize_is_the_int8_grid(setup):
    _, _, gf, q, samples, _ = setup
    scale, zp, lo, hi, axis = proxy.grids(gf, q, [BAD])[BAD]
    assert axis is None and (lo, hi) == (-128, 127)
    x = np.array([-1.0, 0.0, 0.3, 1e6], np.float32)
    want = (np.clip(np.rint(x / scale[0]) + zp[0], lo, hi) - zp[0]) * scale[0]
    assert np.array_equal(proxy.fake_quantize(x, (scale, zp, lo, hi, axis)), want.astype(np.float32))


@pytest.mark.parametrize("top", [1, 2])
def test_accuracy_with_few_candidates_makes_the_exhaustive_choice(setup, top):
    """top=1 or 2: only the proxy's first one or two candidates are measured (of 6), and --accuracy
    makes the choice the exhaustive search makes (test_accuracy_build.py): `hot` at int16, which
    with the bias correction --accuracy keeps here (autopilot.with_bias_correction) reaches the
    goal alone (without it, the input at int16 was needed too), so only the first batch is measured."""
    g, calib, *_ = setup
    _, summary = choose_precision(g, BuildOptions(calib=str(calib), accuracy=0.999), get_target("ref"), top=top)
    a = summary["accuracy"]
    assert a["preselected"] == top and a["candidates"] == 6 and a["measured"] == {"int16": top}
    assert a["bias_correction"]["chosen"]
    assert {p["tensor"] for p in a["proxy"][:2]} == {BAD, "x"} and len(a["proxy"]) == 3 * top
    assert a["reached"] and [(r["tensor"], r["kind"]) for r in a["raised"]] == [(BAD, "int16")]


@pytest.mark.parametrize("n, macs, want", [
    (24, 0, 6), (24, 200_000, 6), (200, 0, HELD_BACK_MAX), (200, 100_000_000, HELD_BACK_MAX),
    (200, 385_000_000, 5), (200, 2_900_000_000, 4), (12, 2_900_000_000, 3), (62, 385_000_000, 5),
])
def test_held_back_count_caps_large_models_only(n, macs, want):
    assert held_back_count(n, macs) == want


def test_a_refused_trial_is_no_candidate(setup, monkeypatch):
    """A raise the pipeline refuses (here: `hot` at int16, refused by a stand-in quantize) is left out
    of the sensitivities and counted, instead of stopping the search."""
    g, calib, _, _, samples, calibrated = setup
    trials = Trials(g, BuildOptions(calib=str(calib)), calibrated, samples, get_target("ref"))
    real = trials.quantize

    def quantize(precision):
        if precision.get(BAD) == "int16":
            raise QcompError("stand-in refusal")
        return real(precision)
    monkeypatch.setattr(trials, "quantize", quantize)
    result = measure(trials, ("int16",))
    assert result.rows and BAD not in [r.tensor for r in result.rows]
    assert trials.refused == 1 and trials.cosine({BAD: "int16"}) is None and trials.refused == 1


def test_a_choice_the_backend_cannot_emit_is_refused(setup):
    """On dsp-c a float region of a Conv2D has no emitter (the llvm and cuda backends have one): that
    trial is refused there (the build would be), measured on ref and x86-vnni; an int16 graph input (a
    float -> int16 Quantize) is emitted on dsp-c and measured."""
    g, calib, _, _, samples, calibrated = setup
    choice = {"x": "int16", "conv1": "float"}
    ref = Trials(g, BuildOptions(calib=str(calib)), calibrated, samples[:2], get_target("ref"))
    x86 = Trials(g, BuildOptions(calib=str(calib)), calibrated, samples[:2], get_target("x86-vnni"))
    dsp = Trials(g, BuildOptions(calib=str(calib)), calibrated, samples[:2], get_target("dsp-c"))
    assert ref.cosine(choice) is not None and ref.refused == 0
    assert x86.cosine(choice) is not None and x86.refused == 0
    assert dsp.cosine(choice) is None and dsp.refused == 1
    assert dsp.cosine({"x": "int16"}) is not None and dsp.refused == 1
    assert dsp.cosine({BAD: "int16"}) is not None and ref.cosine({"x": "int16"}) is not None
