"""A run's Python side (qcomp.artifact.FeedCheck, qcomp.runtime.llvm.Runner.run): feeds that are exactly
what the model takes are passed to model.so without a copy or a conversion, and give the same outputs as
the general path (strided or Fortran-order feeds, which it copies); every bad feed still gets its InputError;
each run returns new output arrays, never ones a later run writes."""
import importlib.util
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

import qcomp
from qcomp.errors import InputError, QcompError
from qcomp.target import get_target, host_support

VNNI = get_target("x86-vnni")
pytestmark = pytest.mark.skipif(not host_support(VNNI).can_run, reason=f"target x86-vnni: {host_support(VNNI).why}")


@pytest.fixture(scope="module")
def artifact(tmp_path_factory):
    """Two float inputs [1, 16], two outputs: x + y and relu(x)."""
    d = tmp_path_factory.mktemp("fast_path")
    io = [helper.make_tensor_value_info(n, TensorProto.FLOAT, [1, 16]) for n in ("x", "y", "sum", "relu")]
    g = helper.make_graph([helper.make_node("Add", ["x", "y"], ["sum"]), helper.make_node("Relu", ["x"], ["relu"])],
                          "fast_path", io[:2], io[2:])
    onnx.save(helper.make_model(g, opset_imports=[helper.make_opsetid("", 17)]), d / "model.onnx")
    rng = np.random.default_rng(0)
    np.savez(d / "calib.npz", x=rng.standard_normal((8, 1, 16)).astype(np.float32),
             y=rng.standard_normal((8, 1, 16)).astype(np.float32))
    return qcomp.build(d / "model.onnx", target="x86-vnni", calib=d / "calib.npz", out=d / "art")


@pytest.fixture(scope="module")
def art(artifact):
    return qcomp.load(artifact, num_threads=1)


def feeds(seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {n: rng.standard_normal((1, 16)).astype(np.float32) for n in ("x", "y")}


@pytest.mark.parametrize("raw", [False, True])
def test_exact_feeds_take_the_fast_path_and_match_the_general_one(art, monkeypatch, raw):
    f = feeds(1)
    general = art.run({"x": np.asfortranarray(np.repeat(f["x"], 2, axis=0))[:1], "y": np.repeat(f["y"], 2, axis=1)[:, ::2]}, raw=raw)
    assert art._check(f)["x"] is f["x"]                       # no copy of an exact feed
    monkeypatch.setattr(art._runner, "_run_general", lambda *a: pytest.fail("exact feeds took the general path"))
    fast = art.run(f, raw=raw)
    assert fast.keys() == general.keys() == {"sum", "relu"}
    for k in fast:
        assert fast[k].dtype == general[k].dtype == (np.int8 if raw else np.float32)
        np.testing.assert_array_equal(fast[k], general[k])


def test_read_only_feeds_give_the_same_outputs(art):
    f = feeds(6)
    frozen = {k: v.copy() for k, v in f.items()}
    for v in frozen.values():
        v.flags.writeable = False
    got, want = art.run(frozen), art.run(f)
    for k in want:
        np.testing.assert_array_equal(got[k], want[k])


def test_outputs_are_new_arrays_and_feeds_are_left_alone(art):
    a_feeds, b_feeds = feeds(2), feeds(3)
    kept = {k: v.copy() for k, v in a_feeds.items()}
    a = art.run(a_feeds)
    a_values = {k: v.copy() for k, v in a.items()}
    b = art.run(b_feeds)
    for k in a:
        assert not np.shares_memory(a[k], b[k])
        np.testing.assert_array_equal(a[k], a_values[k])      # the second run wrote elsewhere
    assert not np.array_equal(a["sum"], b["sum"])
    for k in kept:
        np.testing.assert_array_equal(a_feeds[k], kept[k])


BAD = [
    ("extra", lambda f: f | {"z": f["x"]}, r"unknown input 'z'"),
    ("missing", lambda f: {"x": f["x"]}, r"missing input 'y'"),
    ("missing_with_extra", lambda f: {"x": f["x"], "z": f["y"]}, r"unknown input 'z'"),
    ("dtype", lambda f: f | {"y": f["y"].astype(np.float64)}, r"input 'y' has dtype float64, expected float32"),
    ("shape", lambda f: f | {"x": f["x"][:, :8]}, r"input 'x' has shape \(1, 8\), expected \(1, 16\)"),
    ("nan", lambda f: f | {"y": np.where(f["y"] > 0, np.nan, f["y"]).astype(np.float32)}, r"'y' contains NaN or Inf"),
    ("inf", lambda f: f | {"x": np.full((1, 16), np.inf, np.float32)}, r"'x' contains NaN or Inf"),
]


@pytest.mark.parametrize("name,make,message", BAD, ids=[b[0] for b in BAD])
def test_bad_feeds_still_raise(art, name, make, message):
    with pytest.raises(InputError, match=message):
        art.run(make(feeds(4)))


def test_runner_checks_what_it_is_given(art):
    f = feeds(5)
    with pytest.raises(QcompError, match=r"missing input 'y'"):
        art._runner.run({"x": f["x"]})
    with pytest.raises(QcompError, match=r"input 'x' has shape \(16,\), expected \(1, 16\)"):
        art._runner.run({"x": f["x"][0], "y": f["y"]})
    out = art._runner.run({"x": f["x"].astype(np.float64), "y": f["y"]})   # the runner converts what it may
    np.testing.assert_array_equal(out["relu"], art.run(f)["relu"])


def test_run_overhead_script_splits_a_run(artifact):
    """benchmarks/run_overhead.py's measure: the Python side is a positive part of the whole run."""
    path = Path(__file__).resolve().parents[3] / "benchmarks" / "run_overhead.py"
    spec = importlib.util.spec_from_file_location("run_overhead", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    t = module.measure(str(artifact), runs=5, threads=1)
    assert t.keys() == {"bare", "run", "outside"}
    assert 0 < t["outside"] < t["run"] and t["bare"] > 0
